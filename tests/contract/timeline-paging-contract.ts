/**
 * Contract of timeline paging (`getTimeline(runId, { after, limit })`, storage/timeline-page.ts
 * over each store's `getEvents(runId, { afterSeq, limit })`): pages of N cover every event in
 * order, exactly once; events appended between two pages come on a later page; a cursor no page
 * could have ended at is INVALID_ARGUMENT, an unknown run RUN_NOT_FOUND.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { InvalidArgumentError, RunNotFoundError } from '../../src/errors.js';
import { MAX_TIMELINE_PAGE_SIZE, readTimelinePage } from '../../src/storage/timeline-page.js';
import type { FlowEventRecord, FlowStorage, NewEvent } from '../../src/storage/types.js';
import { j, newRun, step } from './contract-helpers.js';
import type { StoreHandle } from './storage-contract.js';

/** Appends `count` NODE_FINISHED events (item i at itemIndex i, from `from`) to the run in one commit. */
async function appendEvents(s: FlowStorage, runId: string, from: number, count: number): Promise<void> {
  const lease = (await s.lockRun(runId))!;
  const events: NewEvent[] = Array.from({ length: count }, (_, i) => ({
    type: 'NODE_FINISHED',
    nodeId: 'a',
    itemIndex: from + i,
    attempt: 1,
    payload: j({ i: from + i }),
  }));
  await lease.commit(step(lease.run!, {}, { events, release: true }));
}

/** Every page from the start, `limit` events a page; `between` runs after each page but the last. */
async function readAll(s: FlowStorage, runId: string, limit: number, between?: (page: number) => Promise<void>) {
  const pages: FlowEventRecord[][] = [];
  let after = 0;
  for (;;) {
    const page = await readTimelinePage(s, runId, { after, limit });
    pages.push(page.events);
    expect(page.events.length).toBeLessThanOrEqual(limit);
    if (page.nextCursor === null) return pages;
    expect(page.nextCursor).toBe(page.events[page.events.length - 1]!.seq);
    after = page.nextCursor;
    await between?.(pages.length);
  }
}

export function timelinePagingContract(handle: () => StoreHandle): void {
  const store = () => handle().storage;

  it('pages a timeline: pages of N cover every event in seq order exactly once, the last page says so', async () => {
    const s = store();
    const { run } = await s.createRun(newRun({ flowId: `paging-${randomUUID()}` }));
    await appendEvents(s, run.runId, 0, 24); // RUN_STARTED + 24 = 25 events
    const whole = await s.getEvents(run.runId);
    expect(whole.map((e) => e.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    for (const limit of [1, 7, 25, 100]) {
      const pages = await readAll(s, run.runId, limit);
      expect(pages.flat()).toEqual(whole);
      expect(pages.length).toBe(Math.max(1, Math.ceil(25 / limit)));
    }
    // Exactly a page's worth left: that page is the last one (no empty page after it).
    const tail = await readTimelinePage(s, run.runId, { after: 20, limit: 5 });
    expect(tail.events.map((e) => e.seq)).toEqual([21, 22, 23, 24, 25]);
    expect(tail.nextCursor).toBeNull();
    // At the end: an empty page, not an error (a live run's next events come after it).
    expect(await readTimelinePage(s, run.runId, { after: 25 })).toEqual({ events: [], nextCursor: null });
    // The payload and item of each event come through a page as they do whole.
    const middle = await readTimelinePage(s, run.runId, { after: 10, limit: 2 });
    expect(middle.events.map((e) => [e.seq, e.itemIndex, e.payloadJson])).toEqual([
      [11, 9, { i: 9 }],
      [12, 10, { i: 10 }],
    ]);
  });

  it('keeps its cursor when events are appended between pages: each event once, the new ones on later pages', async () => {
    const s = store();
    const { run } = await s.createRun(newRun({ flowId: `paging-${randomUUID()}` }));
    await appendEvents(s, run.runId, 0, 9); // 10 events
    let next = 9;
    const pages = await readAll(s, run.runId, 4, async (page) => {
      // After the first two pages, the run goes on: 3 more events each time.
      if (page <= 2) {
        await appendEvents(s, run.runId, next, 3);
        next += 3;
      }
    });
    const seqs = pages.flat().map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(pages.flat()).toEqual(await s.getEvents(run.runId));
  });

  it('refuses a cursor or a limit no page could have: INVALID_ARGUMENT; an unknown run: RUN_NOT_FOUND', async () => {
    const s = store();
    const { run } = await s.createRun(newRun({ flowId: `paging-${randomUUID()}` }));
    await appendEvents(s, run.runId, 0, 2); // 3 events
    for (const after of [-1, 1.5, Number.NaN, 2 ** 53, '2' as unknown as number, null as unknown as number]) {
      await expect(readTimelinePage(s, run.runId, { after })).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    for (const limit of [0, -3, 2.5, MAX_TIMELINE_PAGE_SIZE + 1]) {
      await expect(readTimelinePage(s, run.runId, { limit })).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    // Past the run's last event: a cursor of another, longer run, or made up.
    await expect(readTimelinePage(s, run.runId, { after: 4 })).rejects.toThrow(/past the last event/);
    await expect(readTimelinePage(s, run.runId, { after: 4 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(readTimelinePage(s, randomUUID(), {})).rejects.toBeInstanceOf(RunNotFoundError);
    // The store's own range read: nothing for an unknown run, a slice for a known one.
    expect(await s.getEvents(randomUUID(), { afterSeq: 0, limit: 5 })).toEqual([]);
    expect((await s.getEvents(run.runId, { afterSeq: 1, limit: 1 })).map((e) => e.seq)).toEqual([2]);
  });
}
