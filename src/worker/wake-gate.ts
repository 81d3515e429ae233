/**
 * Where the claim loop sleeps. A sleep ends at its deadline or as soon as something is worth a
 * look: a wake-up from the store (new or resumed run), a slot freed by a finished run, a stop.
 * A notification that arrives while the loop is busy is remembered, so the next sleep returns at
 * once — a wake-up is never lost between "found nothing" and "went to sleep".
 */
import type { Clock } from '../core/clock.js';

export type WakeReason = 'deadline' | 'notified' | 'closed';

export class WakeGate {
  private pending = false;
  private closed = false;
  private waiter: ((reason: WakeReason) => void) | null = null;

  /** Ends the current sleep, or the next one if the loop is not asleep. */
  notify(): void {
    if (this.waiter) this.settle('notified');
    else this.pending = true;
  }

  /** Ends the current sleep and makes every later one return at once. */
  close(): void {
    this.closed = true;
    this.settle('closed');
  }

  /**
   * Sleep up to `ms` of real time (Infinity = until notified), or until `due.ms` has passed on
   * `due.clock` if that comes first. Due times are measured on the engine's clock so that a test's
   * manual clock can fire timers; the poll interval is real time so that polling never stops.
   */
  wait(ms: number, due?: { ms: number; clock: Clock }): Promise<WakeReason> {
    if (this.closed) return Promise.resolve('closed');
    if (this.pending) {
      this.pending = false;
      return Promise.resolve('notified');
    }
    return new Promise<WakeReason>((resolve) => {
      const cancelDue = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const waiter = (reason: WakeReason) => {
        if (timer) clearTimeout(timer);
        cancelDue.abort();
        resolve(reason);
      };
      // A deadline only ends the sleep it was set for, never a later one.
      const onDeadline = () => {
        if (this.waiter === waiter) this.settle('deadline');
      };
      this.waiter = waiter;
      if (Number.isFinite(ms)) timer = setTimeout(onDeadline, Math.max(0, ms));
      if (due) due.clock.sleep(Math.max(0, due.ms), cancelDue.signal).then(onDeadline, () => {});
    });
  }

  private settle(reason: WakeReason): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.(reason);
  }
}
