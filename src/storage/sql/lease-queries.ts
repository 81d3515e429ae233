/**
 * The SQL of a lease: take the run's lock and read it (one round trip), commit a transition (one
 * statement, so one round trip and one commit), let go of the lock.
 */
import type { Transition } from '../types.js';
import type { SqlParam } from './executor.js';
import type { SqlNames } from './names.js';
import { insertEventsSql, notifySql } from './run-queries.js';
import { dueInMsSql, errorJson, eventsJson } from './rows.js';

export interface LeaseQueries {
  /**
   * session mode, $1 runId: `pg_try_advisory_lock` and the read in one statement. The row is read
   * by `flow_run_fresh`, a volatile function, so its snapshot is taken AFTER the lock is granted:
   * a plain join would read with the statement's snapshot, taken before the lock, and could miss
   * the commit of the holder that just let go. Without the function (tables created by someone
   * else's migrations) the plain join is used; the commit fence still catches a stale read.
   */
  lockAndReadSession: string;
  /** transaction mode, $1 runId: the transaction-scoped lock, held until the holding transaction ends. */
  tryTransactionLock: string;
  /** session mode, $1 runId. */
  unlockSession: string;
  /** $1…$21, see `commitParams`. Row: the new run (all NULL when the fence failed) + `woke`. */
  commit: string;
  /** session mode: `commit` that also lets go of the lock in the same statement (+ `unlocked`). */
  commitAndUnlock: string;
}

export function buildLeaseQueries(names: SqlNames, opts: { notify: boolean; freshReadFn: boolean }): LeaseQueries {
  const key = names.lockKey('$1');
  const readAfterLock = opts.freshReadFn
    ? `LEFT JOIN LATERAL ${names.freshRunFn}($1, l.locked) r ON true`
    : `LEFT JOIN ${names.runs} r ON l.locked AND r.run_id = $1`;

  const commitCtes = `WITH upd AS (
      UPDATE ${names.runs} SET
        status = $3::text::${names.statusType},
        current_node_id = $4,
        state_json = COALESCE($5::jsonb, state_json),
        outputs_json = COALESCE($6::jsonb, outputs_json),
        attempt = $7::int,
        attempts_json = COALESCE($8::jsonb, attempts_json),
        attempt_in_flight = $9::boolean,
        recoveries = $10::int,
        -- Relative delays are added to the database clock, never the worker's. Truncated (the
        -- column would round) to whole ms, so a delay never reads back as longer than asked.
        next_attempt_at = CASE WHEN $11::float8 IS NOT NULL
                               THEN date_trunc('milliseconds', clock_timestamp() + make_interval(secs => $11::float8 / 1000))
                               ELSE $12::timestamptz END,
        wait_reason = $13,
        error_json = $14::jsonb,
        version = version + 1,
        last_seq = last_seq + $15::int,
        updated_at = statement_timestamp()
      WHERE run_id = $1 AND version = $2::int
      RETURNING *
    ), ev AS (
      ${insertEventsSql(names, 'upd', 'upd.last_seq - $15::int', '$16')}
    ), idem AS (
      INSERT INTO ${names.idempotency} (key, run_id, node_id, result_json, created_at)
      SELECT $17, $18, $19, $20::jsonb, statement_timestamp() FROM upd WHERE $17::text IS NOT NULL
      ON CONFLICT (key) DO NOTHING
    ), woke AS (
      ${notifySql(names, opts.notify, 'upd', '$21::boolean')}
    )`;
  const commitSelect = `SELECT upd.*, ${dueInMsSql('upd')} AS due_in_ms, (SELECT count(*) FROM woke)::int AS woke`;
  // LEFT JOIN from one constant row: exactly one result row, whose run_id is NULL when the fence failed.
  const commitFrom = `FROM (VALUES (1)) AS one(x) LEFT JOIN upd ON true`;

  return {
    lockAndReadSession: `SELECT l.locked, r.*, ${dueInMsSql('r')} AS due_in_ms
      FROM (SELECT pg_try_advisory_lock(${key}) AS locked OFFSET 0) l
      ${readAfterLock}`,
    tryTransactionLock: `SELECT pg_try_advisory_xact_lock(${key}) AS locked`,
    unlockSession: `SELECT pg_advisory_unlock(${key}) AS unlocked`,
    commit: `${commitCtes}\n${commitSelect}\n${commitFrom}`,
    // Releasing inside the statement would free the lock before the commit is visible: the next
    // holder could read the old row. So first take the same key at transaction level (granted at
    // once: this session holds it), then drop the session hold; the lock ends with the commit.
    commitAndUnlock: `${commitCtes}, held AS MATERIALIZED (
      SELECT pg_advisory_xact_lock(${key}) AS x
    ), unlocked AS (
      SELECT pg_advisory_unlock(${key}) AS ok FROM held
    )
    ${commitSelect}, (SELECT bool_and(ok) FROM unlocked) AS unlocked
    ${commitFrom}`,
  };
}

/** Parameters of `commit` / `commitAndUnlock`, in order. */
export function commitParams(runId: string, t: Transition): SqlParam[] {
  const u = t.update;
  const due = u.nextAttemptAt;
  const delayMs = due && 'delayMs' in due ? Math.max(0, Number(due.delayMs)) : null;
  const at = due && 'at' in due ? due.at.toISOString() : null;
  const idem = t.idempotency;
  return [
    runId,
    t.expectedVersion,
    u.status,
    u.currentNodeId,
    u.state ?? null,
    u.outputs ?? null,
    u.attempt,
    u.attempts ?? null,
    u.attemptInFlight,
    u.recoveries,
    delayMs,
    at,
    u.waitReason,
    u.error ? JSON.stringify(errorJson(u.error)) : null,
    t.events.length,
    eventsJson(t.events),
    idem?.key ?? null,
    idem?.runId ?? null,
    idem?.nodeId ?? null,
    idem?.result ?? null,
    t.wake === true,
  ];
}

/** True when a commit row says the fence held (the UPDATE matched). */
export function commitApplied(row: Record<string, unknown> | undefined): row is Record<string, unknown> {
  return row !== undefined && row.run_id !== null && row.run_id !== undefined;
}

