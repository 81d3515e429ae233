/**
 * The SQL of a lease: take the run's lock and read it (one round trip), commit a transition (one
 * statement, so one round trip and one commit), let go of the lock. Every statement is fixed text
 * per store, so drivers can prepare them once per connection.
 */
import type { Transition } from '../types.js';
import type { SqlParam } from './executor.js';
import type { SqlNames } from './names.js';
import { addWaitsJson, endWaitsJson, inboxIdsJson, receiptsJson } from './inbox-rows.js';
import { eventEntrySql } from './inbox-queries.js';
import { insertEventsSql, notifySql } from './run-queries.js';
import { committedColumnsSql, dueInMsSql, errorJson, eventsJson, hasInboxSql, outputsSql, runColumnsSql, runReadSql, valuesJson } from './rows.js';

export interface LeaseQueries {
  /**
   * session mode, $1 runId: `pg_try_advisory_lock` and the read in one statement. The row is read
   * by `flow_run_fresh`, its outputs by `flow_run_outputs` and `has_inbox` by `flow_run_has_inbox`,
   * volatile functions, so their snapshots are taken AFTER the lock is granted: a plain join would
   * read with the statement's snapshot, taken before the lock, and could miss the commit of the
   * holder that just let go. Without the functions (tables created by someone else's migrations)
   * plain reads are used; the commit fence still catches a stale row (but not stale outputs).
   * Row: `locked` + the run (NULLs when unlocked or absent).
   */
  lockAndReadSession: string;
  /**
   * `lockAndReadSession` for `onlyIfDue`: the lock is only tried on a run that is due by the
   * statement's snapshot; no row when it was not tried (the caller treats that as not locked).
   */
  lockDueSession: string;
  /** transaction mode, $1 runId: the transaction-scoped lock, held until the holding transaction ends. */
  tryTransactionLock: string;
  /** session mode, $1 runId. */
  unlockSession: string;
  /**
   * $1…$27, see `commitParams`. One row: the committed columns (see rows.ts; all NULL when the
   * fence failed) + `due_in_ms`, `read_at`, `woke`, `has_inbox` (as of this commit),
   * `delivered_early` (entries put in the run's inbox for the waits it registered) and
   * `ended_parent` (the parent woken by the end of this child run, else NULL). The caller
   * rebuilds the JSON columns (`toCommittedRecord`). A commit that registers event waits is sent
   * after `lockEvents` in the same transaction (see inbox-queries.ts).
   */
  commit: string;
  /** session mode: `commit` that also lets go of the lock in the same statement (+ `unlocked`). */
  commitAndUnlock: string;
  /**
   * `commit` returning every column, for a holder whose row is not the one at `expectedVersion`.
   * Its `outputs_json` is read with the statement's snapshot, before this commit's own values:
   * the caller writes those over it (`withWrittenOutputs`).
   */
  commitFull: string;
  /** `commitAndUnlock` returning every column. */
  commitFullAndUnlock: string;
}

/**
 * Due by the database clock: RUNNING with nothing to wait for, WAITING with a due timer, or
 * either with entries in its inbox (findDueRuns' rule).
 */
function dueNow(names: SqlNames, a: string): string {
  // The status is compared as text so that only the primary key can serve the row: a prepared
  // statement's generic plan, made while the table was small, must not pick a status index and scan it.
  return `((${a}.status::text = 'RUNNING' AND (${a}.next_attempt_at IS NULL OR ${a}.next_attempt_at <= clock_timestamp()))
        OR (${a}.status::text = 'WAITING' AND ${a}.next_attempt_at <= clock_timestamp())
        OR (${a}.status::text IN ('RUNNING', 'WAITING') AND ${hasInboxSql(names, a)}))`;
}

export function buildLeaseQueries(names: SqlNames, opts: { notify: boolean; freshReadFn: boolean }): LeaseQueries {
  const key = names.lockKey('$1');
  const readAfterLock = (cond: string) =>
    opts.freshReadFn ? `LEFT JOIN LATERAL ${names.freshRunFn}($1, ${cond}) r ON true` : `LEFT JOIN ${names.runs} r ON ${cond} AND r.run_id = $1`;
  const readColumns = runReadSql(names, 'r', { outputs: outputsSql(names, 'r', opts.freshReadFn), inbox: hasInboxSql(names, 'r', opts.freshReadFn) });

  // The run row first: every other part writes only when it matched (the fence), through `upd`.
  // `prev` is the row as the statement's snapshot has it: when the fence holds, the row the
  // UPDATE changed (any later write would have moved the version), so `prev_status` says whether
  // this commit ends the run.
  // Node values: the maps of $23 are cleared of the rows this commit does not write again, and
  // the rows it writes ($22) are upserted, so no row is touched twice by the one statement.
  // Inbox: the entries applied ($24) are deleted; the waits that ended ($26) are unregistered,
  // every wait once the run is over; the events received ($27) are recorded; each wait
  // registered ($25) gets the earliest stored event for it, sent at or after the run's creation
  // and not yet received by the run. The terminal-run rule: a commit that ends a child run puts
  // `{childRunId, status}` in its parent's inbox and wakes the parent.
  const commitCtes = (returning: string) => `WITH upd AS (
      UPDATE ${names.runs} SET
        status = $3::text::${names.statusType},
        current_node_id = $4,
        state_json = COALESCE($5::jsonb, state_json),
        branches_json = COALESCE($6::jsonb, branches_json),
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
      FROM (SELECT p.status AS prev_status FROM ${names.runs} p WHERE p.run_id = $1) prev
      WHERE run_id = $1 AND version = $2::int
      RETURNING ${returning}, prev.prev_status, created_at AS run_created_at, parent_run_id AS run_parent_id
    ), w AS MATERIALIZED (
      -- '->', not jsonb_to_recordset: a value that is JSON null must stay JSON null, not SQL NULL.
      SELECT e ->> 'node_id' AS node_id, e ->> 'kind' AS kind, (e ->> 'item_index')::int AS item_index, e -> 'value' AS value
      FROM jsonb_array_elements($22::jsonb) e
    ), cleared AS (
      -- The first condition stands alone (a one-time filter): a commit that clears no map, as
      -- nearly all do, must not even scan the run's item rows, which grow with the map.
      DELETE FROM ${names.nodeValues} v USING upd
      WHERE jsonb_array_length($23::jsonb) > 0
        AND v.run_id = upd.run_id AND v.kind IN ('items', 'item')
        AND v.node_id IN (SELECT jsonb_array_elements_text($23::jsonb))
        AND NOT EXISTS (SELECT 1 FROM w WHERE w.node_id = v.node_id AND w.kind = v.kind AND w.item_index = v.item_index)
    ), vals AS (
      INSERT INTO ${names.nodeValues} (run_id, node_id, kind, item_index, value_json, created_at)
      SELECT upd.run_id, w.node_id, w.kind, w.item_index, w.value, statement_timestamp() FROM upd, w
      ON CONFLICT (run_id, node_id, kind, item_index) DO UPDATE SET value_json = EXCLUDED.value_json
    ), ev AS (
      ${insertEventsSql(names, 'upd', 'upd.last_seq - $15::int', '$16')}
    ), idem AS (
      INSERT INTO ${names.idempotency} (key, run_id, node_id, result_json, created_at)
      SELECT $17, $18, $19, $20::jsonb, statement_timestamp() FROM upd WHERE $17::text IS NOT NULL
      ON CONFLICT (key) DO NOTHING
    ), consumed AS (
      DELETE FROM ${names.inbox} i USING upd
      WHERE i.run_id = upd.run_id AND i.id IN (SELECT jsonb_array_elements_text($24::jsonb)::bigint)
      RETURNING i.id
    ), waits_ended AS (
      DELETE FROM ${names.eventWaits} x USING upd
      WHERE x.run_id = upd.run_id
        AND (upd.status::text IN ('COMPLETED', 'FAILED', 'CANCELLED')
          OR (x.branch_id, x.wait_id) IN (SELECT e ->> 'branch_id', (e ->> 'wait_id')::int FROM jsonb_array_elements($26::jsonb) e))
    ), received AS (
      INSERT INTO ${names.eventReceipts} (run_id, event_id)
      SELECT upd.run_id, r.event_id FROM upd, jsonb_array_elements_text($27::jsonb) AS r(event_id)
      ON CONFLICT DO NOTHING
    ), aw AS MATERIALIZED (
      SELECT upd.run_id, upd.run_created_at, e ->> 'branch_id' AS branch_id, (e ->> 'wait_id')::int AS wait_id,
             e ->> 'name' AS name, e ->> 'key' AS key
      FROM upd, jsonb_array_elements($25::jsonb) e
      WHERE upd.status::text IN ('RUNNING', 'WAITING')
    ), waits_added AS (
      INSERT INTO ${names.eventWaits} (run_id, branch_id, wait_id, name, key, created_at)
      SELECT aw.run_id, aw.branch_id, aw.wait_id, aw.name, aw.key, statement_timestamp() FROM aw
      ON CONFLICT DO NOTHING
    ), early AS (
      INSERT INTO ${names.inbox} (run_id, kind, wait_id, branch_id, payload_json, created_at)
      SELECT aw.run_id, 'event', aw.wait_id, aw.branch_id, ${eventEntrySql('s')}, statement_timestamp()
      FROM aw CROSS JOIN LATERAL (
        SELECT s.event_id, s.name, s.key, s.payload_json FROM ${names.sentEvents} s
        WHERE s.name = aw.name AND (aw.key IS NULL OR s.key = aw.key) AND s.sent_at >= aw.run_created_at
          AND NOT EXISTS (SELECT 1 FROM ${names.eventReceipts} x WHERE x.run_id = aw.run_id AND x.event_id = s.event_id)
          AND s.event_id NOT IN (SELECT jsonb_array_elements_text($27::jsonb))
        ORDER BY s.sent_at, s.event_id
        LIMIT 1
      ) s
      ON CONFLICT (run_id, wait_id) DO NOTHING
      RETURNING run_id
    ), child_ended AS (
      INSERT INTO ${names.inbox} (run_id, kind, wait_id, branch_id, payload_json, created_at)
      SELECT upd.run_parent_id, 'child', NULL, NULL, jsonb_build_object('childRunId', upd.run_id, 'status', upd.status::text), statement_timestamp()
      FROM upd
      WHERE upd.run_parent_id IS NOT NULL
        AND upd.status::text IN ('COMPLETED', 'FAILED', 'CANCELLED') AND upd.prev_status::text IN ('RUNNING', 'WAITING')
        AND EXISTS (SELECT 1 FROM ${names.runs} p WHERE p.run_id = upd.run_parent_id) -- a pruned parent hears nothing
      RETURNING run_id
    ), wake AS (
      SELECT upd.run_id FROM upd WHERE $21::boolean OR EXISTS (SELECT 1 FROM early)
      UNION ALL
      SELECT child_ended.run_id FROM child_ended
    ), woke AS (
      ${notifySql(names, opts.notify, 'wake')}
    )`;
  // The inbox as of this commit: the statement's snapshot, less what it consumed, plus what it delivered.
  const hasInboxAfter = `(EXISTS (SELECT 1 FROM ${names.inbox} i WHERE i.run_id = upd.run_id AND i.id NOT IN (SELECT id FROM consumed))
      OR EXISTS (SELECT 1 FROM early))`;
  const commitSelect = (columns: string) =>
    `SELECT ${columns}, ${dueInMsSql('upd')} AS due_in_ms, clock_timestamp() AS read_at, (SELECT count(*) FROM woke)::int AS woke,
      upd.run_id IS NOT NULL AND ${hasInboxAfter} AS has_inbox,
      (SELECT count(*) FROM early)::int AS delivered_early, (SELECT min(run_id) FROM child_ended) AS ended_parent`;
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
  const full = [runColumnsSql(), `${runColumnsSql('upd')}, ${outputsSql(names, 'upd')} AS outputs_json`] as const;

  return {
    lockAndReadSession: `SELECT l.locked, ${readColumns}
      FROM (SELECT pg_try_advisory_lock(${key}) AS locked OFFSET 0) l
      ${readAfterLock('l.locked')}`,
    // The lock is only tried on a run that is due (by the statement's snapshot): a run that is not
    // is never held, not even for the statement, so a resumeRun or tick on it never finds it busy.
    lockDueSession: `SELECT l.locked, ${readColumns}
      FROM (SELECT pg_try_advisory_lock(${key}) AS locked FROM ${names.runs} q WHERE q.run_id = $1 AND ${dueNow(names, 'q')} OFFSET 0) l
      ${readAfterLock('l.locked')}`,
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
    u.branches ?? null,
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
    valuesJson(t.values),
    JSON.stringify(t.clearMaps ?? []),
    inboxIdsJson(t.consumeInbox),
    addWaitsJson(t.addWaits),
    endWaitsJson(t.endWaits),
    receiptsJson(t.receipts),
  ];
}

/** Index of the error JSON text in `commitParams`. */
export const COMMIT_ERROR_PARAM = 13;

/** True when a commit row says the fence held (the UPDATE matched). */
export function commitApplied(row: Record<string, unknown> | undefined): row is Record<string, unknown> {
  return row !== undefined && row.run_id !== null && row.run_id !== undefined;
}
