/**
 * `cancelRun`: a live run to CANCELLED without its lock, with every unfinished run below it, in
 * one statement — no crash can leave a child waiting under a cancelled parent.
 *
 * Fenced by status; version + 1 makes any in-flight holder's commit fail. The run keeps no live
 * branch (no due time, no attempt in flight). Its children and theirs are cancelled by
 * `flow_cancel_runs` (the cancel_cascade migration), which writes only their rows. The rule of
 * every run's end, as in the commit: its event waits are unregistered and, for a child run, its
 * end goes to its parent's inbox (a pruned parent hears nothing) and wakes the parent.
 *
 * $1 run id, $2 error JSON, $3 events count, $4 events JSON (numbered after the run's last).
 * Rows: the run as read (`RunReadRow`, rows.ts) + `changed` (this statement cancelled it; else the
 * run as it is), `ended_parent` (the parent woken, else NULL), `woke`, `cancelled` (a JSON array of
 * the runs cancelled below it, else NULL).
 */
import { LIVE_STATUSES, sqlStatusList } from '../../../core/states.js';
import type { SqlNames } from '../names.js';
import { quoteLiteral } from '../names.js';
import { runReadSql } from '../rows.js';

export function cancelRunSql(n: SqlNames, mode: { notify: boolean }): string {
  return `WITH upd AS (
      UPDATE ${n.runs}
      SET status = 'CANCELLED', error_json = $2::jsonb, branches_json = '[]', attempt_in_flight = false, next_attempt_at = NULL,
          wait_reason = NULL, version = version + 1, last_seq = last_seq + $3::int, updated_at = statement_timestamp()
      WHERE run_id = $1 AND status::text IN (${sqlStatusList(LIVE_STATUSES)}) -- as text: by primary key only
      RETURNING *
    ), cancelled AS MATERIALIZED (
      SELECT c.run_id FROM upd CROSS JOIN LATERAL ${n.cancelRunsFn}(
        ARRAY(SELECT k.run_id FROM ${n.runs} k WHERE k.parent_run_id = upd.run_id),
        'parent run ' || upd.run_id || ' was cancelled: ' || ($2::jsonb ->> 'message')) AS c(run_id)
    ), ev AS (
      INSERT INTO ${n.events} (run_id, seq, at, type, node_id, branch_id, item_index, attempt, duration_ms, error_json, payload_json)
      SELECT upd.run_id, upd.last_seq - $3::int + e.ord::int, statement_timestamp(), e.type, e.node_id, e.branch_id, e.item_index,
             e.attempt, e.duration_ms, e.error, e.payload
      FROM upd, ROWS FROM (jsonb_to_recordset($4::jsonb)
        AS (type text, node_id text, branch_id text, item_index int, attempt int, duration_ms int, error jsonb, payload jsonb))
        WITH ORDINALITY AS e(type, node_id, branch_id, item_index, attempt, duration_ms, error, payload, ord)
    ), waits_ended AS (
      DELETE FROM ${n.eventWaits} x USING upd WHERE x.run_id = upd.run_id
    ), child_ended AS (
      INSERT INTO ${n.inbox} (run_id, kind, wait_id, branch_id, payload_json, created_at)
      SELECT upd.parent_run_id, 'child', NULL, NULL, jsonb_build_object('childRunId', upd.run_id, 'status', 'CANCELLED'), statement_timestamp()
      FROM upd WHERE upd.parent_run_id IS NOT NULL
        AND EXISTS (SELECT 1 FROM ${n.runs} p WHERE p.run_id = upd.parent_run_id)
      RETURNING run_id
    ), woke AS (
      SELECT pg_notify(${quoteLiteral(n.wakeChannel)}, child_ended.run_id) FROM child_ended WHERE ${mode.notify}
    )
    SELECT ${runReadSql(n, 'upd')}, true AS changed, (SELECT min(run_id) FROM child_ended) AS ended_parent,
      (SELECT count(*) FROM woke)::int AS woke, (SELECT jsonb_agg(run_id) FROM cancelled) AS cancelled FROM upd
    UNION ALL
    SELECT ${runReadSql(n, 'r')}, false, NULL, 0, NULL FROM ${n.runs} r WHERE r.run_id = $1 AND NOT EXISTS (SELECT 1 FROM upd)`;
}
