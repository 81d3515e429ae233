/**
 * A worker's schedule loop: fires the due ticks of every schedule (any process with a worker
 * does, whichever flows it registers; the runs they start are claimed like any other), beside the
 * claim loop and independent of its slots. It sleeps until the next schedule is due (on the
 * engine's clock, so a test's manual clock can fire ticks), at most `pollIntervalMs` of real time
 * (another process may have set a schedule due sooner, a buffered tick may be waiting for its
 * run), woken early when a schedule changes in this process. With no schedule at all a pass is two
 * index probes that find nothing, once per poll.
 */
import type { Clock } from '../core/clock.js';
import type { ScheduleFirer } from '../schedules/fire.js';
import { WakeGate } from './wake-gate.js';

/** Schedules claimed per pass. */
const SCHEDULE_BATCH = 64;
const MAX_ERROR_BACKOFF_MS = 30_000;

export class ScheduleLoop {
  private readonly gate = new WakeGate();
  private stopRequested = false;
  private stopListening: (() => void) | null = null;
  /** Runs the schedules started (a counter of the worker's status). */
  started = 0;

  constructor(
    private readonly firer: ScheduleFirer,
    private readonly clock: Clock,
    private readonly pollIntervalMs: number,
    private readonly onError: (message: string, err: unknown) => void,
  ) {}

  async run(): Promise<void> {
    this.stopListening = this.firer.onChange(() => this.gate.notify());
    let errorBackoffMs = 0;
    while (!this.stopRequested) {
      let sleepMs = this.pollIntervalMs;
      let dueInMs: number | undefined;
      try {
        const pass = await this.firer.fireDue(SCHEDULE_BATCH);
        this.started += pass.started;
        errorBackoffMs = 0;
        if (pass.more) continue;
        const next = await this.firer.msUntilNext();
        if (next !== null && next > 0) dueInMs = next + 1; // rounded up to whole ms by the store; one more never wakes early
      } catch (err) {
        this.onError('firing due schedules failed', err);
        errorBackoffMs = Math.min(Math.max(errorBackoffMs * 2, 100), MAX_ERROR_BACKOFF_MS);
        sleepMs = Math.max(errorBackoffMs, this.pollIntervalMs);
      }
      await this.gate.wait(sleepMs, dueInMs === undefined ? undefined : { ms: dueInMs, clock: this.clock });
    }
  }

  /** Ends the loop after the pass in progress (whose steps are each whole, or not written). */
  stop(): void {
    this.stopRequested = true;
    this.stopListening?.();
    this.gate.close();
  }
}
