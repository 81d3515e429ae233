/**
 * Which runs the worker takes next. A look (`findDueRuns`, decided by the store's clock) returns
 * more candidates than there are free slots; the rest are kept for a short while, so that when a
 * run finishes under load its slot is refilled with one round trip (the lock) instead of two
 * (look, then lock). Candidates are only hints: the lock's read of the row is what counts, and a
 * run that moved on since the look is simply let go by `advanceRun` without a step.
 * Locks for several free slots are taken in parallel, so a burst of work fills them at once.
 *
 * A wake-up names the run that has work (`hint`): the next pass tries those runs first, without a
 * look — one round trip per announced run, taken or not. The wake-ups stand for the look: a pass
 * on announced runs that finds nothing does not look again (polls and due times still do).
 * Every lock of the claimer holds a run only if it is still due (`onlyIfDue`): an announcement or
 * candidate that is stale by then costs one round trip, and never makes the run look busy to a
 * `resumeRun` or `tick` that comes at that moment.
 */
import type { FlowStorage, LockRunOptions, RunLease } from '../storage/types.js';
import type { WorkerCounters } from './types.js';

/** Oldest candidate list worth using: past this, due runs have likely been taken by other workers. */
const MAX_CANDIDATE_AGE_MS = 250;
/** Longest time announced runs may keep the claimer from looking for due runs (timers, retries). */
const MAX_LOOK_GAP_MS = 1000;
/** Announced runs remembered while every slot is busy; past this, the next pass looks instead. */
const MAX_HINTS = 256;

export interface ClaimPass {
  /** Runs now locked by this worker, to be advanced. */
  leases: RunLease[];
  /** Whether this pass asked the store what is due (a look, or locks on announced runs). */
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
  /** When the last look was made (construction counts: the first pass without announcements looks). */
  private lookedAt = Date.now();
  private readonly hints = new Set<string>();
  private hintsOverflowed = false;

  constructor(
    private readonly storage: FlowStorage,
    private readonly batchSize: number,
    private readonly counters: WorkerCounters,
    private readonly maxCandidateAgeMs = MAX_CANDIDATE_AGE_MS,
  ) {}

  /** A wake-up said `runId` has work. */
  hint(runId: string): void {
    if (this.hints.size < MAX_HINTS) this.hints.add(runId);
    else this.hintsOverflowed = true;
  }

  /**
   * Lock up to `free` due runs of `flowKeys`, skipping those in `holding` (this worker's own).
   * When `stopping()` turns true meanwhile, whatever was locked is let go and nothing returned
   * (a lock begins nothing, so nothing is lost).
   */
  async claim(free: number, flowKeys: string[], holding: ReadonlyMap<string, unknown>, stopping: () => boolean): Promise<ClaimPass> {
    const options: LockRunOptions = { onlyIfDue: true };
    // Announced runs go first, but not for ever: under a steady stream of wake-ups, a look still
    // happens at least every MAX_LOOK_GAP_MS, so that due timers and retries are not starved.
    const lookOverdue = Date.now() - this.lookedAt >= MAX_LOOK_GAP_MS;
    const announced = lookOverdue ? [] : this.takeHints(free, holding);
    if (announced.length > 0) {
      const { leases, error } = await this.lock(announced, options, stopping);
      const more = this.hints.size > 0 || this.candidates.length > 0 || this.hintsOverflowed;
      return { leases, looked: true, due: 0, more, error };
    }
    let looked = false;
    let due = 0;
    if (this.candidates.length === 0 || Date.now() - this.lookedAt > this.maxCandidateAgeMs) {
      // Ask for this worker's own runs on top: a store may list runs it holds as due (PGlite does).
      const ids = await this.storage.findDueRuns({ limit: free + this.batchSize + holding.size, flowKeys });
      this.counters.polls += 1;
      this.candidates = ids.filter((id) => !holding.has(id));
      this.lookedAt = Date.now();
      this.hintsOverflowed = false;
      looked = true;
      due = this.candidates.length;
    }
    const picked = this.candidates.splice(0, free).filter((id) => !holding.has(id));
    const { leases, error } = await this.lock(picked, options, stopping);
    return { leases, looked, due, more: this.candidates.length > 0 || this.hints.size > 0, error };
  }

  /** Drop the kept candidates and announcements (stale hints once the worker stops). */
  forget(): void {
    this.candidates = [];
    this.hints.clear();
  }

  private takeHints(free: number, holding: ReadonlyMap<string, unknown>): string[] {
    const ids: string[] = [];
    for (const id of this.hints) {
      if (ids.length >= free) break;
      this.hints.delete(id);
      if (!holding.has(id)) ids.push(id);
    }
    return ids;
  }

  private async lock(ids: string[], options: LockRunOptions, stopping: () => boolean): Promise<{ leases: RunLease[]; error?: unknown }> {
    const attempts = await Promise.allSettled(ids.map((id) => this.storage.lockRun(id, options)));
    const leases: RunLease[] = [];
    let error: unknown;
    for (const attempt of attempts) {
      if (attempt.status === 'rejected') error ??= attempt.reason;
      else if (attempt.value) leases.push(attempt.value);
      else this.counters.lockMisses += 1; // another holder has it, or it is not due any more: not an error
    }
    if (stopping()) {
      // Nothing was begun by a lock: a stopping worker lets go of what it just took.
      await Promise.allSettled(leases.map((lease) => lease.release()));
      return { leases: [], error };
    }
    return { leases, error };
  }
}
