/**
 * Which runs the worker takes next. A look (`findDueRuns`, decided by the store's clock) returns
 * more candidates than there are free slots; the rest are kept for a short while, so that when a
 * run finishes under load its slot is refilled with one round trip (the lock) instead of two
 * (look, then lock). Candidates are only hints: the lock's read of the row is what counts, and a
 * run that moved on since the look is simply let go by `advanceRun` without a step.
 * Locks for several free slots are taken in parallel, so a burst of work fills them at once.
 */
import type { FlowStorage, RunLease } from '../storage/types.js';
import type { WorkerCounters } from './types.js';

/** Oldest candidate list worth using: past this, due runs have likely been taken by other workers. */
const MAX_CANDIDATE_AGE_MS = 250;

export interface ClaimPass {
  /** Runs now locked by this worker, to be advanced. */
  leases: RunLease[];
  /** Whether this pass looked in the store (false = it used candidates of an earlier look). */
  looked: boolean;
  /** Due runs the look found that this worker did not hold already (0 when it did not look). */
  due: number;
  /** Candidates are left for the next pass. */
  more: boolean;
  /** A lock attempt that failed (storage error); the leases that succeeded are still returned. */
  error?: unknown;
}

export class DueRunClaimer {
  private candidates: string[] = [];
  private lookedAt = 0;

  constructor(
    private readonly storage: FlowStorage,
    private readonly batchSize: number,
    private readonly counters: WorkerCounters,
    private readonly maxCandidateAgeMs = MAX_CANDIDATE_AGE_MS,
  ) {}

  /**
   * Lock up to `free` due runs of `flowKeys`, skipping those in `holding` (this worker's own).
   * When `stopping()` turns true meanwhile, whatever was locked is let go and nothing returned.
   */
  async claim(free: number, flowKeys: string[], holding: ReadonlyMap<string, unknown>, stopping: () => boolean): Promise<ClaimPass> {
    let looked = false;
    let due = 0;
    if (this.candidates.length === 0 || Date.now() - this.lookedAt > this.maxCandidateAgeMs) {
      // Ask for this worker's own runs on top: a store may list runs it holds as due (PGlite does).
      const ids = await this.storage.findDueRuns({ limit: free + this.batchSize + holding.size, flowKeys });
      this.counters.polls += 1;
      this.candidates = ids.filter((id) => !holding.has(id));
      this.lookedAt = Date.now();
      looked = true;
      due = this.candidates.length;
    }
    const picked = this.candidates.splice(0, free).filter((id) => !holding.has(id));
    const attempts = await Promise.allSettled(picked.map((id) => this.storage.lockRun(id)));
    const leases: RunLease[] = [];
    let error: unknown;
    for (const attempt of attempts) {
      if (attempt.status === 'rejected') error ??= attempt.reason;
      else if (attempt.value) leases.push(attempt.value);
      else this.counters.lockMisses += 1; // another holder has it: not an error
    }
    if (stopping()) {
      await Promise.allSettled(leases.map((lease) => lease.release()));
      return { leases: [], looked, due, more: false, error };
    }
    return { leases, looked, due, more: this.candidates.length > 0, error };
  }

  /** Drop the kept candidates (they are stale hints once the worker stops). */
  forget(): void {
    this.candidates = [];
  }
}
