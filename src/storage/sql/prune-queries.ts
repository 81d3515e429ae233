/**
 * The SQL of `pruneRuns`: one batch of finished runs deleted in one short statement (its own
 * transaction), with what belongs to them. Events, node values, inbox entries, event waits and
 * receipts go by their foreign keys (ON DELETE CASCADE); idempotency records have none (a key is
 * global), so they are deleted by `run_id` (index from the retention migration).
 *
 * What a batch never touches: a run that is not finished; a run with a child still RUNNING or
 * WAITING (the child's end is written to its parent's inbox); a child run whose parent is still
 * RUNNING or WAITING (the parent's holder reads the child when it applies the child's end, and a
 * parent that re-runs the attempt finds the same child by its key); a run someone holds. On a shared
 * database "holds" means a row lock (`FOR UPDATE SKIP LOCKED`: a commit in progress) or the run's
 * advisory lock (a lease, in session or transaction mode: `pg_try_advisory_xact_lock` fails, and
 * once taken keeps a new lease out until the batch commits). Nothing is waited for. On PGlite
 * (one session) the store's in-process lock table decides instead: `selectPrunable` names
 * candidates, the store claims the free ones there, and `deleteClaimed` deletes them.
 */
import type { SqlNames } from './names.js';

export interface PruneQueries {
  /**
   * $1 statuses (JSON array), $2 cutoff time (ISO) or null, $3 cutoff age in ms (by the database
   * clock) when $2 is null, $4 flowId or null, $5 flowVersion or null, $6 flow keys to leave alone
   * (JSON array) or null, $7 limit. Deletes; one row: `deleted`.
   */
  pruneShared: string;
  /** The same parameters; rows: `run_id` of up to $7 runs that may be deleted (none is locked by it). */
  selectPrunable: string;
  /** $1 run ids (JSON array) claimed by the caller. Deletes those still prunable; one row: `deleted`. */
  deleteClaimed: string;
}

export function buildPruneQueries(names: SqlNames): PruneQueries {
  // Parent and child keep each other while the other is live. A finished parent never becomes
  // live again, so a parent read finished by the statement's snapshot stays finished.
  const noLiveKin = (alias: string) =>
    `NOT EXISTS (SELECT 1 FROM ${names.runs} c WHERE c.parent_run_id = ${alias}.run_id AND c.status IN ('RUNNING', 'WAITING'))
        AND NOT EXISTS (SELECT 1 FROM ${names.runs} p WHERE p.run_id = ${alias}.parent_run_id AND p.status IN ('RUNNING', 'WAITING'))`;
  // The cutoff is a time given, or an age reckoned by the database's clock.
  const candidates = `SELECT r.run_id FROM ${names.runs} r
      WHERE r.status IN (SELECT jsonb_array_elements_text($1::jsonb)::${names.statusType})
        AND r.updated_at < COALESCE($2::timestamptz, statement_timestamp() - $3::float8 * interval '1 millisecond')
        AND ($4::text IS NULL OR r.flow_id = $4)
        AND ($5::text IS NULL OR r.flow_version = $5)
        AND ($6::jsonb IS NULL OR (r.flow_id || '@' || r.flow_version) NOT IN (SELECT jsonb_array_elements_text($6::jsonb)))
        AND ${noLiveKin('r')}
      LIMIT $7::int`;
  const deleteRuns = (from: string) => `idem AS (
        DELETE FROM ${names.idempotency} i USING ${from} WHERE i.run_id = ${from}.run_id
      ), gone AS (
        DELETE FROM ${names.runs} r USING ${from} WHERE r.run_id = ${from}.run_id
        RETURNING r.run_id
      )
      SELECT count(*)::int AS deleted FROM gone`;

  return {
    // The lock filter runs on the picked rows only, once each (MATERIALIZED).
    pruneShared: `WITH picked AS (
        ${candidates}
        FOR UPDATE OF r SKIP LOCKED
      ), free AS MATERIALIZED (
        SELECT p.run_id FROM picked p WHERE pg_try_advisory_xact_lock(${names.lockKey('p.run_id')})
      ), ${deleteRuns('free')}`,

    selectPrunable: candidates,

    // Checked again: finished (it cannot be otherwise), and no child started since.
    deleteClaimed: `WITH claimed AS MATERIALIZED (
        SELECT r.run_id FROM ${names.runs} r
        WHERE r.run_id IN (SELECT jsonb_array_elements_text($1::jsonb))
          AND r.status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND ${noLiveKin('r')}
      ), ${deleteRuns('claimed')}`,
  };
}
