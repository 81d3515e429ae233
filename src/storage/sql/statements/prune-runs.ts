/**
 * `pruneRuns`: one batch of finished runs deleted in one short statement (its own transaction),
 * with what belongs to them. Events, node values, inbox entries, event waits and receipts go by
 * their foreign keys (ON DELETE CASCADE); idempotency records have none (a key is global), so they
 * are deleted by `run_id` (index from the retention migration).
 *
 * What a batch never touches: a run that is not finished; a run with a child still live (the
 * child's end is written to its parent's inbox); a child whose parent is still live (the parent's
 * holder reads the child when it applies the child's end, and a parent that re-runs the attempt
 * finds the same child by its key); a run someone holds. Parent and child keep each other while
 * the other is live; a finished parent never becomes live again, so a parent read finished by the
 * statement's snapshot stays finished.
 *
 * "Holds", on a shared database (`pruneShared`): a row lock (`FOR UPDATE SKIP LOCKED`: a commit in
 * progress) or the run's advisory lock (a lease, in session or transaction mode:
 * `pg_try_advisory_xact_lock` fails, and once taken keeps a new lease out until the batch
 * commits). Nothing is waited for. On PGlite (one session) the store's in-process lock table
 * decides instead: `selectPrunable` names candidates, the store claims the free ones there, and
 * `deleteClaimed` deletes them.
 *
 * The query's parameters (`pruneShared`, `selectPrunable`): $1 statuses (a JSON array), $2 cutoff
 * time (ISO) or null, $3 cutoff age in ms (by the database clock) when $2 is null, $4 flowId or
 * null, $5 flowVersion or null, $6 flow keys to leave alone (a JSON array) or null, $7 limit.
 */
import { FINISHED_STATUSES, LIVE_STATUSES, sqlStatusList } from '../../../core/states.js';
import type { SqlNames } from '../names.js';

/** Deletes one batch. One row: `deleted`. */
export function pruneSharedSql(n: SqlNames): string {
  return `WITH picked AS (
      ${candidatesSql(n)}
      FOR UPDATE OF r SKIP LOCKED
    ), free AS MATERIALIZED (
      -- The lock filter runs on the picked rows only, once each.
      SELECT p.run_id FROM picked p WHERE pg_try_advisory_xact_lock(${n.lockKey('p.run_id')})
    ), ${deleteRunsSql(n, 'free')}`;
}

/** Rows: `run_id` of up to $7 runs that may be deleted (it locks none). */
export function selectPrunableSql(n: SqlNames): string {
  return candidatesSql(n);
}

/** $1 the run ids (a JSON array) the caller claimed: deletes those still prunable, checked again. One row: `deleted`. */
export function deleteClaimedSql(n: SqlNames): string {
  const live = sqlStatusList(LIVE_STATUSES);
  return `WITH claimed AS MATERIALIZED (
      SELECT r.run_id FROM ${n.runs} r
      WHERE r.run_id IN (SELECT jsonb_array_elements_text($1::jsonb))
        AND r.status IN (${sqlStatusList(FINISHED_STATUSES)})
        AND NOT EXISTS (SELECT 1 FROM ${n.runs} c WHERE c.parent_run_id = r.run_id AND c.status IN (${live}))
        AND NOT EXISTS (SELECT 1 FROM ${n.runs} p WHERE p.run_id = r.parent_run_id AND p.status IN (${live}))
    ), ${deleteRunsSql(n, 'claimed')}`;
}

/** The runs a batch may take, by the query's parameters: the cutoff is a time given, or an age reckoned by the database's clock. */
function candidatesSql(n: SqlNames): string {
  const live = sqlStatusList(LIVE_STATUSES);
  return `SELECT r.run_id FROM ${n.runs} r
      WHERE r.status IN (SELECT jsonb_array_elements_text($1::jsonb)::${n.statusType})
        AND r.updated_at < COALESCE($2::timestamptz, statement_timestamp() - $3::float8 * interval '1 millisecond')
        AND ($4::text IS NULL OR r.flow_id = $4)
        AND ($5::text IS NULL OR r.flow_version = $5)
        AND ($6::jsonb IS NULL OR (r.flow_id || '@' || r.flow_version) NOT IN (SELECT jsonb_array_elements_text($6::jsonb)))
        AND NOT EXISTS (SELECT 1 FROM ${n.runs} c WHERE c.parent_run_id = r.run_id AND c.status IN (${live}))
        AND NOT EXISTS (SELECT 1 FROM ${n.runs} p WHERE p.run_id = r.parent_run_id AND p.status IN (${live}))
      LIMIT $7::int`;
}

/** The end of both deleting statements: the runs in CTE `from` go, with their idempotency records (the rest by foreign key). */
function deleteRunsSql(n: SqlNames, from: string): string {
  return `idem AS (
      DELETE FROM ${n.idempotency} i USING ${from} WHERE i.run_id = ${from}.run_id
    ), gone AS (
      DELETE FROM ${n.runs} r USING ${from} WHERE r.run_id = ${from}.run_id
      RETURNING r.run_id
    )
    SELECT count(*)::int AS deleted FROM gone`;
}
