/**
 * The SQL of a lease: take the run's lock and read it, optionally beginning its attempt (one
 * round trip), commit a transition (one statement, so one round trip and one commit), let go of
 * the lock. Every statement is fixed text per store, so drivers can prepare them once per connection.
 */
import type { Transition } from '../types.js';
import type { SqlParam } from './executor.js';
import type { SqlNames } from './names.js';
import { insertEventsSql, notifySql } from './run-queries.js';
import { committedColumnsSql, dueInMsSql, errorJson, eventsJson, runColumnsSql } from './rows.js';

export interface LeaseQueries {
  /**
   * session mode, $1 runId: `pg_try_advisory_lock` and the read in one statement. The row is read
   * by `flow_run_fresh`, a volatile function, so its snapshot is taken AFTER the lock is granted:
   * a plain join would read with the statement's snapshot, taken before the lock, and could miss
   * the commit of the holder that just let go. Without the function (tables created by someone
   * else's migrations) the plain join is used; the commit fence still catches a stale read.
   */
  lockAndReadSession: string;
  /**
   * session mode, $1 runId, $2 nodes JSON ({flowKey: [nodeId]}), $3 max attempts bytes: the lock,
   * then the begin of the current attempt if the row qualifies (see `LockRunOptions.beginAttempt`),
   * else the read of `lockAndReadSession`. Row: `locked`, `begun`, the run (NULLs when unlocked or absent).
   */
  lockBeginSession: string;
  /**
   * `lockBeginSession` for `onlyIfDue`: the lock is only tried on a run that is due by the
   * statement's snapshot; no row when it was not tried (the caller treats that as not locked).
   */
  lockDueSession: string;
  /** transaction/process mode, under a lock already held; $1…$3 as `lockBeginSession`. Rows: `begun` + the run; none if absent. */
  beginOrRead: string;
  /** transaction mode, $1 runId: the transaction-scoped lock, held until the holding transaction ends. */
  tryTransactionLock: string;
  /** session mode, $1 runId. */
  unlockSession: string;
  /**
   * $1…$21, see `commitParams`. One row: the committed columns (see rows.ts; all NULL when the
   * fence failed) + `woke`. The caller rebuilds the JSON columns (`toCommittedRecord`).
   */
  commit: string;
  /** session mode: `commit` that also lets go of the lock in the same statement (+ `unlocked`). */
  commitAndUnlock: string;
  /** `commit` returning every column, for a holder whose row is not the one at `expectedVersion`. */
  commitFull: string;
  /** `commitAndUnlock` returning every column. */
  commitFullAndUnlock: string;
}

/** Attempts per node of run row `a` with one more at its current node. */
const attemptsPlusOne = (a: string) =>
  `${a}.attempts_json || jsonb_build_object(${a}.current_node_id, COALESCE((${a}.attempts_json ->> ${a}.current_node_id)::int, 0) + 1)`;

/**
 * Whether run row `a` qualifies for `LockRunOptions.beginAttempt` ($2 nodes JSON, $3 max bytes).
 * The status is compared as text so that only the primary key can serve the row: a prepared
 * statement's generic plan, made while the table was small, must not pick a status index and scan it.
 */
function beginnable(a: string): string {
  return `${a}.status::text = 'RUNNING' AND NOT ${a}.attempt_in_flight
        AND (${a}.next_attempt_at IS NULL OR ${a}.next_attempt_at <= clock_timestamp())
        AND COALESCE(($2::jsonb -> (${a}.flow_id || '@' || ${a}.flow_version)) ? ${a}.current_node_id, false)
        -- jsonb's text is never shorter than the engine's JSON of the same object: a conservative bound.
        AND octet_length((${attemptsPlusOne(a)})::text) <= $3::int`;
}

/** Due by the database clock: RUNNING with its attempt due, or WAITING with a due timer (findDueRuns' rule). */
function dueNow(a: string): string {
  return `((${a}.status::text = 'RUNNING' AND (${a}.next_attempt_at IS NULL OR ${a}.next_attempt_at <= clock_timestamp()))
        OR (${a}.status::text = 'WAITING' AND ${a}.next_attempt_at <= clock_timestamp()))`;
}

/** The begin of the current attempt, as the engine's own begin commit would write it (see begin.ts). */
function beginCtes(names: SqlNames, lockedFrom: string): string {
  return `b AS (
      UPDATE ${names.runs} r SET
        attempt = r.attempt + 1,
        attempt_in_flight = true,
        attempts_json = ${attemptsPlusOne('r')},
        version = r.version + 1,
        last_seq = r.last_seq + 1,
        updated_at = statement_timestamp()
      ${lockedFrom ? `FROM ${lockedFrom}` : ''}
      WHERE ${lockedFrom ? `${lockedFrom}.locked AND ` : ''}r.run_id = $1 AND ${beginnable('r')}
      RETURNING ${runColumnsSql('r')}
    ), ev AS (
      INSERT INTO ${names.events} (run_id, seq, at, type, node_id, attempt, duration_ms, error_json, payload_json)
      SELECT b.run_id, b.last_seq, statement_timestamp(), 'NODE_STARTED', b.current_node_id, b.attempt, NULL, NULL, NULL FROM b
    )`;
}

export function buildLeaseQueries(names: SqlNames, opts: { notify: boolean; freshReadFn: boolean }): LeaseQueries {
  const key = names.lockKey('$1');
  const readAfterLock = (cond: string) =>
    opts.freshReadFn
      ? `LEFT JOIN LATERAL ${names.freshRunFn}($1, ${cond}) r ON true`
      : `LEFT JOIN ${names.runs} r ON ${cond} AND r.run_id = $1`;

  const commitCtes = (returning: string) => `WITH upd AS (
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
      RETURNING ${returning}
    ), ev AS (
      ${insertEventsSql(names, 'upd', 'upd.last_seq - $15::int', '$16')}
    ), idem AS (
      INSERT INTO ${names.idempotency} (key, run_id, node_id, result_json, created_at)
      SELECT $17, $18, $19, $20::jsonb, statement_timestamp() FROM upd WHERE $17::text IS NOT NULL
      ON CONFLICT (key) DO NOTHING
    ), woke AS (
      ${notifySql(names, opts.notify, 'upd', '$21::boolean')}
    )`;
  const commitSelect = (columns: string) => `SELECT ${columns}, ${dueInMsSql('upd')} AS due_in_ms, (SELECT count(*) FROM woke)::int AS woke`;
  // LEFT JOIN from one constant row: exactly one result row, whose run_id is NULL when the fence failed.
  const commitFrom = `FROM (VALUES (1)) AS one(x) LEFT JOIN upd ON true`;
  const commit = (returning: string, selected: string) => `${commitCtes(returning)}\n${commitSelect(selected)}\n${commitFrom}`;
  // Releasing inside the statement would free the lock before the commit is visible: the next
  // holder could read the old row. So first take the same key at transaction level (granted at
  // once: this session holds it), then drop the session hold; the lock ends with the commit.
  const commitAndUnlock = (returning: string, selected: string) => `${commitCtes(returning)}, held AS MATERIALIZED (
      SELECT pg_advisory_xact_lock(${key}) AS x
    ), unlocked AS (
      SELECT pg_advisory_unlock(${key}) AS ok FROM held
    )
    ${commitSelect(selected)}, (SELECT bool_and(ok) FROM unlocked) AS unlocked
    ${commitFrom}`;
  const slim = [committedColumnsSql(), committedColumnsSql('upd')] as const;
  const full = [runColumnsSql(), runColumnsSql('upd')] as const;
  // After the lock (CTE l) and the begin (CTE b): the begun row, or else the row read after the
  // lock — only then (a one-time filter), so that the fresh read is not even run when b wrote.
  // No row at all when l has none (the lock was not tried).
  const lockBeginSelect = `SELECT l.locked, true AS begun, ${runColumnsSql('b')}, ${dueInMsSql('b')} AS due_in_ms FROM l, b
      UNION ALL
      SELECT l.locked, false, ${runColumnsSql('r')}, ${dueInMsSql('r')}
      FROM (SELECT locked FROM l WHERE NOT EXISTS (SELECT 1 FROM b) OFFSET 0) l
      ${readAfterLock('l.locked')}`;

  return {
    lockAndReadSession: `SELECT l.locked, ${runColumnsSql('r')}, ${dueInMsSql('r')} AS due_in_ms
      FROM (SELECT pg_try_advisory_lock(${key}) AS locked OFFSET 0) l
      ${readAfterLock('l.locked')}`,
    // The UPDATE finds the row with the statement's snapshot (taken before the lock) but, as any
    // UPDATE, re-checks its conditions on the newest committed version before writing it. When it
    // writes nothing, the read after the lock gives the row as it is.
    lockBeginSession: `WITH l AS MATERIALIZED (SELECT pg_try_advisory_lock(${key}) AS locked), ${beginCtes(names, 'l')}
      ${lockBeginSelect}`,
    // The lock is only tried on a run that is due (by the statement's snapshot): a run that is not
    // is never held, not even for the statement, so a resumeRun or tick on it never finds it busy.
    lockDueSession: `WITH l AS MATERIALIZED (
        SELECT pg_try_advisory_lock(${key}) AS locked FROM ${names.runs} q WHERE q.run_id = $1 AND ${dueNow('q')}
      ), ${beginCtes(names, 'l')}
      ${lockBeginSelect}`,
    beginOrRead: `WITH ${beginCtes(names, '')}
      SELECT true AS begun, ${runColumnsSql('b')}, ${dueInMsSql('b')} AS due_in_ms FROM b
      UNION ALL
      SELECT false, ${runColumnsSql('r')}, ${dueInMsSql('r')} FROM ${names.runs} r
      WHERE r.run_id = $1 AND NOT EXISTS (SELECT 1 FROM b)`,
    tryTransactionLock: `SELECT pg_try_advisory_xact_lock(${key}) AS locked`,
    unlockSession: `SELECT pg_advisory_unlock(${key}) AS unlocked`,
    commit: commit(...slim),
    commitAndUnlock: commitAndUnlock(...slim),
    commitFull: commit(...full),
    commitFullAndUnlock: commitAndUnlock(...full),
  };
}

/** Parameters of the commit statements, in order. */
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

/** Index of the error JSON text in `commitParams`. */
export const COMMIT_ERROR_PARAM = 13;

/** True when a commit row says the fence held (the UPDATE matched). */
export function commitApplied(row: Record<string, unknown> | undefined): row is Record<string, unknown> {
  return row !== undefined && row.run_id !== null && row.run_id !== undefined;
}
