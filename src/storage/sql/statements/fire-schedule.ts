/**
 * `fireSchedule`: one step of a claimed schedule, in one statement — so in one transaction: the
 * schedule row moves on (next tick, buffered ticks, what it did last, its claim kept or let go),
 * fenced by its revision, and the tick's run (if the step starts one) is inserted with its first
 * events, only if the fence held. Nothing can come between the two: a crash leaves either both or
 * neither, so a tick is never fired twice by a worker that died after starting its run, nor lost
 * by one that died after advancing the schedule.
 *
 * The run insert is `ON CONFLICT DO NOTHING`: the unique (schedule_id, scheduled_at) index is the
 * last word on "one run per tick" — a schedule replaced (or deleted and set again) back onto a
 * tick that already has its run advances without a second one. A run inserted here is announced
 * (NOTIFY) like any new run.
 *
 * $1 schedule id, $2 the revision read, $3 next fire (ISO or null), $4 due (ISO or null), $5 last
 * fire (ISO; null = unchanged), $6 last skip (JSON; null = unchanged), $7 buffered ticks (JSON
 * array), $8 keep the claim this many ms (null = let go), $9 the run: a JSON array of zero or one
 * new runs (create-runs.ts `newRunJson`). Rows: none when the fence failed; else the schedule
 * columns (schedule-rows.ts), `run` (the inserted run as read, `RunReadRow` as JSON, or null) and
 * `woke`.
 */
import type { SqlNames } from '../names.js';
import { quoteLiteral } from '../names.js';
import { runReadSql } from '../rows.js';
import { scheduleColumnsSql } from '../schedule-rows.js';

export function fireScheduleSql(n: SqlNames, mode: { notify: boolean }): string {
  return `WITH s AS (
      UPDATE ${n.schedules} s SET next_fire_at = $3::timestamptz, due_at = $4::timestamptz,
             last_fire_at = COALESCE($5::timestamptz, s.last_fire_at), last_skip_json = COALESCE($6::jsonb, s.last_skip_json),
             buffered_json = $7::jsonb,
             claimed_until = CASE WHEN $8::float8 IS NULL THEN NULL ELSE clock_timestamp() + $8::float8 * interval '1 millisecond' END,
             revision = s.revision + 1, updated_at = statement_timestamp()
      WHERE s.schedule_id = $1 AND s.revision = $2::int
      RETURNING ${scheduleColumnsSql('s')}
    ), n AS MATERIALIZED (
      SELECT x ->> 'run_id' AS run_id, x ->> 'flow_id' AS flow_id, x ->> 'flow_version' AS flow_version,
             x ->> 'tenant_id' AS tenant_id, x ->> 'current_node_id' AS current_node_id, x -> 'input' AS input,
             x -> 'state' AS state, x -> 'branches' AS branches, x ->> 'idempotency_key' AS idempotency_key, x -> 'events' AS events,
             x ->> 'schedule_id' AS schedule_id, (x ->> 'scheduled_at')::timestamptz AS scheduled_at, x ->> 'traceparent' AS traceparent,
             COALESCE((x ->> 'priority')::int, 0) AS priority, NULLIF(x -> 'flow_control', 'null'::jsonb) AS flow_control
      FROM jsonb_array_elements($9::jsonb) AS x
      WHERE EXISTS (SELECT 1 FROM s)
    ), ins AS (
      INSERT INTO ${n.runs} (run_id, flow_id, flow_version, tenant_id, status, current_node_id, input_json, state_json,
                             branches_json, idempotency_key, version, last_seq, created_at, updated_at, schedule_id, scheduled_at,
                             traceparent, priority, flow_control_json)
      SELECT run_id, flow_id, flow_version, tenant_id, 'RUNNING', current_node_id, input, state, branches, idempotency_key, 1,
             jsonb_array_length(events), statement_timestamp(), statement_timestamp(), schedule_id, scheduled_at,
             traceparent, priority, flow_control
      FROM n
      ON CONFLICT DO NOTHING
      RETURNING *
    ), ev AS (
      -- The run's first events, numbered 1, 2, …
      INSERT INTO ${n.events} (run_id, seq, at, type, node_id, branch_id, item_index, attempt, duration_ms, error_json, payload_json)
      SELECT ins.run_id, e.ord::int, statement_timestamp(), e.type, e.node_id, e.branch_id, e.item_index, e.attempt, e.duration_ms, e.error, e.payload
      FROM ins JOIN n ON n.run_id = ins.run_id,
        ROWS FROM (jsonb_to_recordset(n.events)
          AS (type text, node_id text, branch_id text, item_index int, attempt int, duration_ms int, error jsonb, payload jsonb))
          WITH ORDINALITY AS e(type, node_id, branch_id, item_index, attempt, duration_ms, error, payload, ord)
    ), woke AS (
      SELECT pg_notify(${quoteLiteral(n.wakeChannel)}, ins.run_id) FROM ins WHERE ${mode.notify}
    )
    SELECT ${scheduleColumnsSql('s')},
      (SELECT to_jsonb(r) FROM (SELECT ${runReadSql(n, 'ins', { outputs: `'{}'::jsonb`, inbox: 'false' })} FROM ins) r) AS run,
      (SELECT count(*) FROM woke)::int AS woke
    FROM s`;
}
