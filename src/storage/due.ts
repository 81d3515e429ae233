/**
 * Whether a run has work now, decided on a run record as read: `LockRunOptions.onlyIfDue` (the
 * memory store, and the SQL store outside session mode, where the lock statement cannot check it
 * itself), and the engine's tick / resume / runToCompletion deciding whether to drive a run.
 */
import type { FlowRunRecord } from './types.js';

/**
 * Due by the store's clock (as read): RUNNING with nothing to wait for, WAITING with a due timer,
 * or RUNNING/WAITING with inbox entries to apply.
 */
export function isDueNow(run: FlowRunRecord | null): boolean {
  if (!run || (run.status !== 'RUNNING' && run.status !== 'WAITING')) return false;
  if (run.hasInbox) return true;
  if (run.dueInMs > 0) return false;
  return run.status === 'RUNNING' || run.nextAttemptAt !== null;
}
