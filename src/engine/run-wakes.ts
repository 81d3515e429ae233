/**
 * The store's wake-ups, handed to the holders of the runs they name: a holder waiting for its
 * attempts listens, so that an answer for one branch (put in the inbox in this process or, through
 * the store's notifications, another) is applied without waiting for the other branches' attempts.
 * One subscription to the store while any holder listens (a worker's is open anyway; without one,
 * listening may take a connection of its own, so it is dropped with the last holder).
 */
import type { FlowStorage } from '../storage/types.js';

export class RunWakes {
  private readonly listeners = new Map<string, Set<() => void>>();
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly storage: FlowStorage) {}

  /** Calls `listener` on each wake-up for `runId`; returns the function that stops it. */
  listen(runId: string, listener: () => void): () => void {
    let set = this.listeners.get(runId);
    if (!set) this.listeners.set(runId, (set = new Set()));
    set.add(listener);
    this.unsubscribe ??= this.storage.onWake((id) => {
      for (const l of this.listeners.get(id) ?? []) l();
    });
    return () => {
      if (!set.delete(listener)) return;
      if (set.size === 0 && this.listeners.get(runId) === set) this.listeners.delete(runId);
      if (this.listeners.size > 0) return;
      this.unsubscribe?.();
      this.unsubscribe = null;
    };
  }
}
