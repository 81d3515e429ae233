/**
 * Paging a run's timeline, the same on every store: a keyset cursor on the event's `seq` (1, 2, 3 …
 * per run, without gaps, only ever appended). A page is the events after the cursor, in order;
 * events appended between two pages have higher seqs and come on a later page, so reading page
 * after page returns every event exactly once, however long the run keeps going.
 */
import { InvalidArgumentError, RunNotFoundError } from '../errors.js';
import type { FlowStorage, TimelinePage, TimelinePageOptions } from './types.js';

export const DEFAULT_TIMELINE_PAGE_SIZE = 1000;
export const MAX_TIMELINE_PAGE_SIZE = 1000;

/** The options checked, with their defaults: INVALID_ARGUMENT for a cursor or limit the engine could not have meant. */
export function normalizeTimelinePage(options: TimelinePageOptions): { after: number; limit: number } {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('getTimeline: options must be an object like { after, limit }');
  const { after = 0, limit = DEFAULT_TIMELINE_PAGE_SIZE } = options;
  if (!Number.isSafeInteger(after) || after < 0) {
    throw new InvalidArgumentError(`getTimeline: after must be the seq of an event (an integer >= 0), got ${JSON.stringify(after)}`);
  }
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_TIMELINE_PAGE_SIZE) {
    throw new InvalidArgumentError(`getTimeline: limit must be an integer from 1 to ${MAX_TIMELINE_PAGE_SIZE}, got ${JSON.stringify(limit)}`);
  }
  return { after, limit };
}

/**
 * One page: one more event than asked is read to know whether the page is the last. An empty page
 * is checked against the run: RUN_NOT_FOUND for no run, INVALID_ARGUMENT for a cursor past the
 * run's last event (no page ever ended there: a cursor of another run, or made up).
 */
export async function readTimelinePage(storage: FlowStorage, runId: string, options: TimelinePageOptions): Promise<TimelinePage> {
  const { after, limit } = normalizeTimelinePage(options);
  const events = await storage.getEvents(runId, { afterSeq: after, limit: limit + 1 });
  if (events.length === 0) {
    const run = await storage.getRun(runId);
    if (!run) throw new RunNotFoundError(runId);
    if (after > run.lastSeq) {
      throw new InvalidArgumentError(
        `getTimeline: after ${after} is past the last event of run ${runId} (seq ${run.lastSeq}); pass a nextCursor or an event's seq`,
      );
    }
  }
  const page = events.slice(0, limit);
  return { events: page, nextCursor: events.length > limit ? page[page.length - 1]!.seq : null };
}
