/**
 * A bound on heavy requests (a page of up to 1,000 runs, a whole timeline). An embedded store
 * (PGlite) runs its queries on the process's own event loop, and a request's query, the reading
 * of its rows and the writing of its answer follow each other without a break: two hundred such
 * requests that arrive together would be served back to back, in one turn of the event loop,
 * while everything else — /health, a small GET, the worker's steps — waits for seconds. So:
 * - at most `concurrency` of them run at once and `queue` more wait their turn, in arrival order;
 *   any further one is refused at once with 503 BUSY and a Retry-After, which costs nothing;
 * - each one starts in a turn of the event loop of its own (`setImmediate`), after the I/O
 *   waiting then: whatever arrived meanwhile is read and answered between two heavy requests.
 */
import { FlowError } from '../../errors.js';
import { HttpError } from './errors.js';

export interface HeavyRequestLimits {
  /** Heavy requests served at once (default 1: on one event loop, more would not go faster). */
  concurrency: number;
  /** Heavy requests waiting for a turn (default 16); beyond that, 503 BUSY. */
  queue: number;
}

export const DEFAULT_HEAVY_REQUEST_LIMITS: HeavyRequestLimits = { concurrency: 1, queue: 16 };

/** Seconds a refused client is told to wait (Retry-After). */
const RETRY_AFTER_SECONDS = 1;

export class RequestGate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limits: HeavyRequestLimits) {}

  /** Runs `fn` when a turn is free; throws 503 BUSY when every turn and every place in the queue is taken. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limits.concurrency) {
      if (this.waiting.length >= this.limits.queue) {
        throw new HttpError(503, 'BUSY', 'The server is busy with other large reads; retry shortly', { 'retry-after': String(RETRY_AFTER_SECONDS) });
      }
      // The turn is handed over by the request that ends (see `finally`): `active` stays counted.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  /** Requests being served and waiting (for tests and /health). */
  get load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }
}

/** The limits asked for, checked: by default on an embedded store only; `false`: none. */
export function heavyRequestLimits(value: Partial<HeavyRequestLimits> | false | undefined, embedded: boolean): HeavyRequestLimits | null {
  if (value === false || (value === undefined && !embedded)) return null;
  const limits = { ...DEFAULT_HEAVY_REQUEST_LIMITS, ...(value ?? {}) };
  for (const key of ['concurrency', 'queue'] as const) {
    const n = limits[key];
    if (!Number.isInteger(n) || n < (key === 'concurrency' ? 1 : 0)) {
      throw new FlowError('INVALID_ARGUMENT', `heavyRequests.${key} must be an integer >= ${key === 'concurrency' ? 1 : 0}, got ${String(n)}`);
    }
  }
  return limits;
}
