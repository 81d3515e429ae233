/**
 * Time as the engine sees it. Production uses the system clock; tests inject a `ManualClock`
 * so that backoff and timers need no real sleeping. Due-time decisions that several processes
 * must agree on are made by the store (the database's clock), not here.
 */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/**
 * A clock that only moves when told to. `sleep` resolves once `advance` (or the automatic
 * advance, when `autoAdvance` is on) has moved time past its deadline.
 */
export class ManualClock implements Clock {
  private current: number;
  private sleepers: Array<{ until: number; resolve: () => void }> = [];

  /** With `autoAdvance`, a sleep jumps time forward to its own deadline at once (for tests that just need time to pass). */
  constructor(
    start: number | Date = Date.UTC(2030, 0, 1),
    private readonly autoAdvance = true,
  ) {
    this.current = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const until = this.current + Math.max(0, ms);
    if (this.autoAdvance) {
      this.advanceTo(until);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const sleeper = { until, resolve };
      this.sleepers.push(sleeper);
      signal?.addEventListener(
        'abort',
        () => {
          this.sleepers = this.sleepers.filter((s) => s !== sleeper);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  advance(ms: number): void {
    this.advanceTo(this.current + ms);
  }

  advanceTo(time: number): void {
    this.current = Math.max(this.current, time);
    const due = this.sleepers.filter((s) => s.until <= this.current);
    this.sleepers = this.sleepers.filter((s) => s.until > this.current);
    for (const s of due) s.resolve();
  }
}
