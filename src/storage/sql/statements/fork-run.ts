/**
 * `forkRun`: a new run forked from another (`FlowEngine.forkRun`), inserted with its first events
 * and the source's stored outputs it starts with, in one statement: a worker never finds the fork
 * without the outputs it was given. The outputs are copied row to row in the database (never
 * shipped through the process); a node whose output the source no longer has is skipped.
 *
 * $1 the new run (`newRunJson`, create-runs.ts), $2 the source run id, $3 the node it runs on from,
 * $4 the nodes whose outputs it keeps (a JSON array), $5 its business outcome (or NULL).
 * Rows: the run as read (`RunReadRow`, rows.ts) and `woke`.
 */
import type { SqlNames } from '../names.js';
import { quoteLiteral } from '../names.js';
import { runReadSql } from '../rows.js';

export function forkRunSql(n: SqlNames, mode: { notify: boolean }): string {
  return `WITH x AS (SELECT $1::jsonb AS x), ins AS (
      INSERT INTO ${n.runs} (run_id, flow_id, flow_version, tenant_id, status, current_node_id, input_json, state_json, branches_json,
                             idempotency_key, version, last_seq, created_at, updated_at, outcome, forked_from_run_id, forked_from_node_id, traceparent,
                             priority, flow_control_json)
      SELECT x ->> 'run_id', x ->> 'flow_id', x ->> 'flow_version', x ->> 'tenant_id', 'RUNNING', x ->> 'current_node_id', x -> 'input',
             x -> 'state', x -> 'branches', x ->> 'idempotency_key', 1, jsonb_array_length(x -> 'events'), statement_timestamp(),
             statement_timestamp(), $5, $2, $3, x ->> 'traceparent',
             COALESCE((x ->> 'priority')::int, 0), NULLIF(x -> 'flow_control', 'null'::jsonb)
      FROM x
      RETURNING *
    ), vals AS (
      INSERT INTO ${n.nodeValues} (run_id, node_id, kind, item_index, value_json, created_at)
      SELECT ins.run_id, v.node_id, v.kind, v.item_index, v.value_json, statement_timestamp()
      FROM ins JOIN ${n.nodeValues} v ON v.run_id = $2 AND v.kind = 'output' AND v.node_id IN (SELECT jsonb_array_elements_text($4::jsonb))
      RETURNING node_id, value_json
    ), ev AS (
      INSERT INTO ${n.events} (run_id, seq, at, type, node_id, branch_id, item_index, attempt, duration_ms, error_json, payload_json)
      SELECT ins.run_id, e.ord::int, statement_timestamp(), e.type, e.node_id, e.branch_id, e.item_index, e.attempt, e.duration_ms, e.error, e.payload
      FROM ins, x, ROWS FROM (jsonb_to_recordset(x -> 'events')
        AS (type text, node_id text, branch_id text, item_index int, attempt int, duration_ms int, error jsonb, payload jsonb))
        WITH ORDINALITY AS e(type, node_id, branch_id, item_index, attempt, duration_ms, error, payload, ord)
    ), woke AS (
      SELECT pg_notify(${quoteLiteral(n.wakeChannel)}, ins.run_id) FROM ins WHERE ${mode.notify}
    )
    SELECT ${runReadSql(n, 'ins', { outputs: `(SELECT COALESCE(jsonb_object_agg(vals.node_id, vals.value_json), '{}'::jsonb) FROM vals)`, inbox: 'false' })},
           (SELECT count(*) FROM woke)::int AS woke FROM ins`;
}
