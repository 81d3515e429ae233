/**
 * The worker's counters: created zeroed, and updated from each claim's result. A claim that
 * finds its run already moved on (another worker got there between the look and the lock)
 * counts as claimed and nothing else.
 */
import type { AdvanceResult } from '../engine/advance.js';
import type { WorkerCounters } from './types.js';

export function zeroCounters(): WorkerCounters {
  return { polls: 0, wakes: 0, claimed: 0, lockMisses: 0, steps: 0, completed: 0, failed: 0, waiting: 0, stale: 0, abandoned: 0, errors: 0 };
}

export function countClaimResult(counters: WorkerCounters, result: AdvanceResult): void {
  counters.steps += result.steps;
  if (result.stale) counters.stale += 1;
  else if (result.steps === 0) return;
  else if (result.run.status === 'COMPLETED') counters.completed += 1;
  else if (result.run.status === 'FAILED') counters.failed += 1;
  else if (result.run.status === 'WAITING') counters.waiting += 1;
}
