/**
 * `rewriteRun`: a held run's position and version written anew — a migration to another version
 * of its flow, or a FAILED/CANCELLED run back to RUNNING (a retry) — with its events, in one
 * statement. The caller holds the run's lock; the write is fenced by the version it read, like
 * every commit, so a holder that lost its lock meanwhile writes nothing. The run is announced to
 * sleeping workers (a migrated run is claimable by the new version's workers at once).
 *
 * $1 run id, $2 the version read, $3 flow version, $4 status, $5 current node, $6 branches JSON,
 * $7 state JSON, $8 attempts JSON, $9 attempt, $10 attempt in flight, $11 recoveries,
 * $12 next attempt at (timestamptz or NULL), $13 wait reason, $14 error JSON (or NULL),
 * $15 compensation JSON (or NULL), $16 compensated (or NULL), $17 events JSON (numbered after the
 * run's last). Rows: the run as read (`RunReadRow`, rows.ts) and `woke`; none when the fence failed.
 */
import type { SqlNames } from '../names.js';
import { quoteLiteral } from '../names.js';
import { runReadSql } from '../rows.js';

export function rewriteRunSql(n: SqlNames, mode: { notify: boolean }): string {
  return `WITH upd AS (
      UPDATE ${n.runs} r
      SET flow_version = $3, status = $4::text::${n.statusType}, current_node_id = $5, branches_json = $6::jsonb, state_json = $7::jsonb,
          attempts_json = $8::jsonb, attempt = $9::int, attempt_in_flight = $10::boolean, recoveries = $11::int,
          next_attempt_at = $12::timestamptz, wait_reason = $13, error_json = $14::jsonb, compensation_json = $15::jsonb,
          compensated = $16::boolean, version = r.version + 1, last_seq = r.last_seq + jsonb_array_length($17::jsonb),
          updated_at = statement_timestamp()
      WHERE r.run_id = $1 AND r.version = $2::int
      RETURNING r.*
    ), ev AS (
      INSERT INTO ${n.events} (run_id, seq, at, type, node_id, branch_id, item_index, attempt, duration_ms, error_json, payload_json)
      SELECT upd.run_id, upd.last_seq - jsonb_array_length($17::jsonb) + e.ord::int, statement_timestamp(), e.type, e.node_id, e.branch_id,
             e.item_index, e.attempt, e.duration_ms, e.error, e.payload
      FROM upd, ROWS FROM (jsonb_to_recordset($17::jsonb)
        AS (type text, node_id text, branch_id text, item_index int, attempt int, duration_ms int, error jsonb, payload jsonb))
        WITH ORDINALITY AS e(type, node_id, branch_id, item_index, attempt, duration_ms, error, payload, ord)
    ), woke AS (
      SELECT pg_notify(${quoteLiteral(n.wakeChannel)}, upd.run_id) FROM upd WHERE ${mode.notify}
    )
    SELECT ${runReadSql(n, 'upd')}, (SELECT count(*) FROM woke)::int AS woke FROM upd`;
}
