/**
 * What "due" means, and in which order due runs are claimed: the rule, once, for every store.
 *
 * A run is due — a worker should take it now — when it is live (RUNNING or WAITING) and
 *   - answers wait in its inbox (resumes, events, child ends), or
 *   - it is RUNNING and its next due time is unset (something can begin now) or past, or
 *   - it is WAITING and its earliest timer is past.
 * Claim order: priority, higher first; then how long the run has been due — its due since
 * (`dueSinceOf`): its oldest inbox entry, else its due time, else its last write (its creation,
 * or the last commit of a holder that let go of it or died: a run recovered from a killed process
 * is not queued behind work that became due after it); then the oldest run, then the run id.
 *
 * The memory store and the engine use the functions below; the SQL statements spell the same
 * rule with the same status sets (`dueSql`, and findDueRuns' index-shaped form of it), and the
 * contract suite checks that every store finds the same runs due, in the same order.
 */
import { LIVE_STATUSES, sqlStatusList, type FlowRunStatus } from '../core/states.js';
import type { FlowRunRecord } from './types.js';

/** What the rule reads of a run. */
export interface DueFacts {
  status: FlowRunStatus;
  hasInbox: boolean;
  /** Null: no due time. */
  nextAttemptAt: Date | null;
}

/** Due at `nowMs` (the store's clock). */
export function isDueAt(run: DueFacts, nowMs: number): boolean {
  if (!LIVE_STATUSES.includes(run.status)) return false;
  if (run.hasInbox) return true;
  if (run.nextAttemptAt === null) return run.status === 'RUNNING';
  return run.nextAttemptAt.getTime() <= nowMs;
}

/**
 * Due by the store's clock as the record was read (`dueInMs`: its time left then): the engine's
 * tick / resume / runToCompletion deciding whether to drive a run, and `onlyIfDue` on the stores
 * that decide it after reading.
 */
export function isDueNow(run: FlowRunRecord | null): boolean {
  if (!run) return false;
  return isDueAt(run, run.nextAttemptAt === null ? 0 : run.nextAttemptAt.getTime() - run.dueInMs);
}

/** What the claim order reads of a run. */
export interface ClaimFacts {
  runId: string;
  priority: number;
  /** Since when the run has been due (`dueSinceOf`). */
  dueSince: Date;
  createdAt: Date;
}

/**
 * Since when a due run has been due: the arrival of its oldest inbox entry (null: none), else its
 * due time, else its last write. What find-due-runs.ts calls `due_since`; a run's claim lag is
 * the time from it to the run's next begin.
 */
export function dueSinceOf(run: { nextAttemptAt: Date | null; updatedAt: Date }, oldestInboxAt: Date | null): Date {
  return oldestInboxAt ?? run.nextAttemptAt ?? run.updatedAt;
}

/** The claim order, as a comparator (the SQL: `ORDER BY priority DESC, due_since, created_at, run_id`). */
export function compareClaimOrder(a: ClaimFacts, b: ClaimFacts): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.dueSince.getTime() !== b.dueSince.getTime()) return a.dueSince.getTime() - b.dueSince.getTime();
  if (a.createdAt.getTime() !== b.createdAt.getTime()) return a.createdAt.getTime() - b.createdAt.getTime();
  return a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0;
}

/**
 * The rule in SQL, over run row `r`: `now` is the time to judge by (an SQL expression) and
 * `hasInbox` an SQL boolean saying whether the run's inbox holds entries. The status is compared
 * as text so that only the primary key can serve the row: a prepared statement's generic plan,
 * made while the table was small, must not pick a status index and scan it.
 */
export function dueSql(r: string, now: string, hasInbox: string): string {
  return `(${r}.status::text IN (${sqlStatusList(LIVE_STATUSES)})
        AND (${hasInbox}
          OR (${r}.status::text = 'RUNNING' AND (${r}.next_attempt_at IS NULL OR ${r}.next_attempt_at <= ${now}))
          OR (${r}.status::text = 'WAITING' AND ${r}.next_attempt_at <= ${now})))`;
}
