/**
 * The attempts in flight in this process, by run: `cancelRun` aborts them (the handler sees
 * `ctx.signal` fire), whichever driver — a worker, `tick`, `runToCompletion` — runs them.
 *
 * A transactional node's attempt holds a transaction open; on PGlite (one session) the cancel's
 * own statements would wait for it, and its handler may be waiting for the cancel. So a cancel
 * stops those attempts first (`beginCancel`: their writes roll back), and their holder waits for
 * the cancel to land (`cancelling`) instead of committing the aborted attempt's failure.
 */
import { CancelledAttempt } from './attempt.js';

export class AttemptsInFlight {
  private readonly byRun = new Map<string, Set<AbortController>>();
  /** The controllers of transactional attempts, among those of `byRun`. */
  private readonly transactional = new WeakSet<AbortController>();
  /** Cancels under way in this process, by run: settled once the cancel's write is done (or failed). */
  private readonly cancels = new Map<string, Promise<void>>();

  /** Registers an attempt's controller; returns the function that forgets it. */
  track(runId: string, controller: AbortController, options: { transactional?: boolean } = {}): () => void {
    let set = this.byRun.get(runId);
    if (!set) this.byRun.set(runId, (set = new Set()));
    set.add(controller);
    if (options.transactional) this.transactional.add(controller);
    return () => {
      set.delete(controller);
      if (set.size === 0) this.byRun.delete(runId);
    };
  }

  /** Aborts every attempt of `runId` in flight here. */
  abort(runId: string, reason: Error): void {
    for (const controller of this.byRun.get(runId) ?? []) controller.abort(reason);
  }

  /**
   * A cancel of `runId` begins here: its transactional attempts are aborted now, before the
   * cancel's write. Returns the function to call once that write is done (or failed).
   */
  beginCancel(runId: string): () => void {
    let landed!: () => void;
    const cancel = new Promise<void>((resolve) => (landed = resolve));
    this.cancels.set(runId, cancel);
    for (const controller of this.byRun.get(runId) ?? []) if (this.transactional.has(controller)) controller.abort(new CancelledAttempt());
    return () => {
      if (this.cancels.get(runId) === cancel) this.cancels.delete(runId);
      landed();
    };
  }

  /** The cancel of `runId` under way in this process, if any (see `beginCancel`). */
  cancelling(runId: string): Promise<void> | undefined {
    return this.cancels.get(runId);
  }
}
