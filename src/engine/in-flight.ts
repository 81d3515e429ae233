/**
 * The attempts in flight in this process, by run: `cancelRun` aborts them (the handler sees
 * `ctx.signal` fire), whichever driver — a worker, `tick`, `runToCompletion` — runs them.
 */
export class AttemptsInFlight {
  private readonly byRun = new Map<string, Set<AbortController>>();

  /** Registers an attempt's controller; returns the function that forgets it. */
  track(runId: string, controller: AbortController): () => void {
    let set = this.byRun.get(runId);
    if (!set) this.byRun.set(runId, (set = new Set()));
    set.add(controller);
    return () => {
      set.delete(controller);
      if (set.size === 0) this.byRun.delete(runId);
    };
  }

  /** Aborts every attempt of `runId` in flight here. */
  abort(runId: string, reason: Error): void {
    for (const controller of this.byRun.get(runId) ?? []) controller.abort(reason);
  }
}
