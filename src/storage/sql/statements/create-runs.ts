/**
 * `createRuns`: the runs started at one moment in this process, inserted in one statement with
 * their first events (startRun calls are grouped like commits: see statement-group.ts).
 *
 * A delayed start (`start_at`, or `start_delay_ms` from the statement's clock) is the run's first
 * due time: RUNNING, not due before then.
 *
 * $1 a JSON array of new runs (`newRunJson`). Rows, per run: `asked` (its run id), the run as
 * read (`RunReadRow`, rows.ts) and `created`. A created run's `input_json`, `state_json` and
 * `branches_json` come back NULL: the caller has them. A run whose idempotency key is taken gets
 * the run holding the key instead (`created` false) when this statement's snapshot has it; a key
 * taken by a transaction that committed after it, or by another run of this very statement, gives
 * no row: the caller re-reads by the key.
 */
import type { NewRun } from '../../types.js';
import type { SqlNames } from '../names.js';
import { quoteLiteral } from '../names.js';
import { eventsJson, runReadSql } from '../rows.js';

export function createRunsSql(n: SqlNames, mode: { notify: boolean }): string {
  return `WITH n AS MATERIALIZED (
      SELECT x ->> 'run_id' AS run_id, x ->> 'flow_id' AS flow_id, x ->> 'flow_version' AS flow_version,
             x ->> 'tenant_id' AS tenant_id, x ->> 'current_node_id' AS current_node_id, x -> 'input' AS input,
             x -> 'state' AS state, x -> 'branches' AS branches, x ->> 'idempotency_key' AS idempotency_key,
             x -> 'events' AS events, x ->> 'parent_run_id' AS parent_run_id, x ->> 'parent_node_id' AS parent_node_id,
             x ->> 'schedule_id' AS schedule_id, (x ->> 'scheduled_at')::timestamptz AS scheduled_at, x ->> 'failure_of' AS failure_of,
             x ->> 'traceparent' AS traceparent, a.ord,
             COALESCE((x ->> 'priority')::int, 0) AS priority, NULLIF(x -> 'flow_control', 'null'::jsonb) AS flow_control,
             COALESCE((x ->> 'start_at')::timestamptz, statement_timestamp() + (x ->> 'start_delay_ms')::float8 * interval '1 millisecond') AS start_at
      FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS a(x, ord)
    ), ins AS (
      INSERT INTO ${n.runs} (run_id, flow_id, flow_version, tenant_id, status, current_node_id, input_json, state_json,
                             branches_json, idempotency_key, version, last_seq, created_at, updated_at, parent_run_id, parent_node_id,
                             schedule_id, scheduled_at, failure_of, traceparent, priority, flow_control_json, next_attempt_at)
      SELECT run_id, flow_id, flow_version, tenant_id, 'RUNNING', current_node_id, input, state, branches, idempotency_key, 1,
             jsonb_array_length(events), statement_timestamp(), statement_timestamp(), parent_run_id, parent_node_id,
             schedule_id, scheduled_at, failure_of, traceparent, priority, flow_control, start_at
      FROM n ORDER BY ord
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING *
    ), ev AS (
      -- The first events, numbered 1, 2, … per run.
      INSERT INTO ${n.events} (run_id, seq, at, type, node_id, branch_id, item_index, attempt, duration_ms, error_json, payload_json)
      SELECT ins.run_id, e.ord::int, statement_timestamp(), e.type, e.node_id, e.branch_id, e.item_index, e.attempt, e.duration_ms, e.error, e.payload
      FROM ins JOIN n ON n.run_id = ins.run_id,
        ROWS FROM (jsonb_to_recordset(n.events)
          AS (type text, node_id text, branch_id text, item_index int, attempt int, duration_ms int, error jsonb, payload jsonb))
          WITH ORDINALITY AS e(type, node_id, branch_id, item_index, attempt, duration_ms, error, payload, ord)
    ), woke AS (
      SELECT pg_notify(${quoteLiteral(n.wakeChannel)}, ins.run_id) FROM ins WHERE ${mode.notify}
    )
    -- A new run has no outputs yet, and an empty inbox.
    SELECT ins.run_id AS asked, ${runReadSql(n, 'ins', { outputs: `'{}'::jsonb`, inbox: 'false', nulled: ['input_json', 'state_json', 'branches_json'] })},
           true AS created, (SELECT count(*) FROM woke)::int AS woke FROM ins
    UNION ALL
    SELECT n.run_id, ${runReadSql(n, 'r')}, false, 0 FROM n JOIN ${n.runs} r ON r.idempotency_key = n.idempotency_key
    WHERE n.idempotency_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ins WHERE ins.run_id = n.run_id)`;
}

/**
 * One new run of `createRuns`' $1 (and a commit's `failure_handler`, statements/commit.ts), as JSON
 * text: input, state, branches and events embedded as they are.
 */
export function newRunJson(run: NewRun): string {
  const text = (v: string | null | undefined) => (v === null || v === undefined ? 'null' : JSON.stringify(v));
  return (
    `{"run_id":${text(run.runId)},"flow_id":${text(run.flowId)},"flow_version":${text(run.flowVersion)},"tenant_id":${text(run.tenantId)},` +
    `"current_node_id":${text(run.currentNodeId)},"input":${run.input},"state":${run.state},"branches":${run.branches},` +
    `"idempotency_key":${text(run.idempotencyKey)},"events":${eventsJson(run.events)},` +
    `"parent_run_id":${text(run.parentRunId)},"parent_node_id":${text(run.parentNodeId)},"failure_of":${text(run.failureOf)},` +
    `"traceparent":${text(run.traceparent)},` +
    `"schedule_id":${text(run.scheduleId)},"scheduled_at":${text(run.scheduledAt?.toISOString())}` +
    `,"priority":${run.priority ?? 0},"flow_control":${JSON.stringify(run.flowControl ?? null)}` +
    `,"start_at":${text(run.startAt && 'at' in run.startAt ? run.startAt.at.toISOString() : null)}` +
    `,"start_delay_ms":${run.startAt && 'delayMs' in run.startAt ? run.startAt.delayMs : 'null'}}`
  );
}
