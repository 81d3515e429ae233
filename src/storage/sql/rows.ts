/**
 * Row <-> record conversion for the SQL store. Rows arrive with jsonb already parsed and
 * timestamptz as Date (every executor guarantees it); the events and the node values of a write
 * leave as one JSON array text each, so a whole batch binds as a single parameter on any driver.
 */
import { readBranches, type CompensationLog } from '../../core/states.js';
import type { ErrorRecord } from '../../errors.js';
import type { FlowControlRecord, FlowRunStatus } from '../../definitions/types.js';
import type {
  DefinitionRecord,
  FlowEventRecord,
  FlowEventType,
  FlowRunRecord,
  FlowRunSummary,
  IdempotencyRecord,
  JsonText,
  MapValues,
  NewEvent,
  NodeValueWrite,
  Transition,
} from '../types.js';
import type { SqlNames } from './names.js';

/**
 * The columns of a run row, named one by one: a prepared statement's result type must not change
 * when a later migration adds a column (Postgres refuses to run it then), which `*` would do.
 */
export const RUN_COLUMNS = [
  'run_id',
  'flow_id',
  'flow_version',
  'tenant_id',
  'status',
  'current_node_id',
  'input_json',
  'state_json',
  'branches_json',
  'created_at',
  'updated_at',
  'idempotency_key',
  'version',
  'last_seq',
  'attempt',
  'attempts_json',
  'attempt_in_flight',
  'recoveries',
  'next_attempt_at',
  'wait_reason',
  'error_json',
  'parent_run_id',
  'parent_node_id',
  'compensation_json',
  'compensated',
  'schedule_id',
  'scheduled_at',
  'failure_of',
  'failure_handler_run_id',
  'outcome',
  'forked_from_run_id',
  'forked_from_node_id',
  'traceparent',
  'priority',
  'flow_control_json',
] as const;

/** The JSON columns a summary leaves out (see `FlowRunSummary`); `outputs_json` is not a column. */
const SUMMARY_SKIPPED = new Set<string>(['input_json', 'state_json', 'attempts_json', 'compensation_json']);

/** `a.run_id, a.flow_id, …` — every run column of `alias` (bare names without one); `nulled` ones as NULL jsonb. */
export function runColumnsSql(alias?: string, nulled: readonly string[] = []): string {
  return RUN_COLUMNS.map((c) => (nulled.includes(c) ? `NULL::jsonb AS ${c}` : alias ? `${alias}.${c}` : c)).join(', ');
}

/** Everything a summary read returns of run row `alias`: `runReadSql` without the JSON values, the branches excepted. */
export function runSummaryReadSql(names: SqlNames, alias: string): string {
  const columns = RUN_COLUMNS.filter((c) => !SUMMARY_SKIPPED.has(c))
    .map((c) => `${alias}.${c}`)
    .join(', ');
  return `${columns}, ${hasInboxSql(names, alias)} AS has_inbox, ${dueInMsSql(alias)} AS due_in_ms, clock_timestamp() AS read_at`;
}

/** SQL for `dueInMs`: whole milliseconds until `next_attempt_at` by the database clock, 0 when due or unset. */
export function dueInMsSql(alias: string): string {
  return `GREATEST(0, CEIL(EXTRACT(EPOCH FROM (${alias}.next_attempt_at - clock_timestamp())) * 1000))::float8`;
}

/**
 * SQL for `outputsJson` of run row `alias`: its 'output' rows as one object, read with the
 * statement's snapshot (`fresh`: by the volatile `flow_run_outputs`, with a snapshot of its own,
 * for the read after a lock — see statements/lock-runs.ts).
 */
export function outputsSql(names: SqlNames, alias: string, fresh = false): string {
  if (fresh) return `${names.freshOutputsFn}(${alias}.run_id)`;
  return `(SELECT COALESCE(jsonb_object_agg(v.node_id, v.value_json), '{}'::jsonb) FROM ${names.nodeValues} v
      WHERE v.run_id = ${alias}.run_id AND v.kind = 'output')`;
}

/**
 * SQL for `hasInbox` of run row `alias`: whether its inbox holds entries, read with the
 * statement's snapshot (`fresh`: by the volatile `flow_run_has_inbox`, as `outputsSql`).
 */
export function hasInboxSql(names: SqlNames, alias: string, fresh = false): string {
  if (fresh) return `COALESCE(${names.freshInboxFn}(${alias}.run_id), false)`;
  return `EXISTS (SELECT 1 FROM ${names.inbox} i WHERE i.run_id = ${alias}.run_id)`;
}

/**
 * Everything a read returns of run row `alias`: its columns, `outputs_json` and `has_inbox` (the
 * SQL given, by default `outputsSql` and `hasInboxSql`), `due_in_ms`, and `read_at` (the
 * database clock at the read).
 */
export function runReadSql(names: SqlNames, alias: string, opts: { outputs?: string; inbox?: string; nulled?: readonly string[] } = {}): string {
  return `${runColumnsSql(alias, opts.nulled)}, ${opts.outputs ?? outputsSql(names, alias)} AS outputs_json, ${opts.inbox ?? hasInboxSql(names, alias)} AS has_inbox, ${dueInMsSql(alias)} AS due_in_ms, clock_timestamp() AS read_at`;
}

/**
 * A run as every read returns it (`runReadSql`): its columns, its outputs, whether its inbox holds
 * entries, the milliseconds until it is due and the database clock at the read. Times are Dates
 * (every executor makes them so), except in a summary page, which arrives as JSON text (ISO
 * strings: see list-runs-query.ts). Integers may arrive as strings or bigints from some drivers.
 */
export type RunReadRow = {
  run_id: string;
  flow_id: string;
  flow_version: string;
  tenant_id: string | null;
  status: FlowRunStatus;
  current_node_id: string | null;
  input_json: unknown;
  state_json: Record<string, unknown>;
  branches_json: unknown;
  created_at: Date | string;
  updated_at: Date | string;
  idempotency_key: string | null;
  version: number;
  last_seq: number;
  attempt: number;
  attempts_json: Record<string, number>;
  attempt_in_flight: boolean;
  recoveries: number;
  next_attempt_at: Date | string | null;
  wait_reason: string | null;
  error_json: ErrorRecord | null;
  parent_run_id: string | null;
  parent_node_id: string | null;
  compensation_json: CompensationLog | null;
  compensated: boolean | null;
  schedule_id: string | null;
  scheduled_at: Date | string | null;
  failure_of: string | null;
  failure_handler_run_id: string | null;
  outcome: string | null;
  forked_from_run_id: string | null;
  forked_from_node_id: string | null;
  traceparent: string | null;
  priority?: number | string | null;
  flow_control_json?: unknown;
  outputs_json: Record<string, unknown>;
  has_inbox: boolean;
  due_in_ms: number | null;
  read_at: Date | string;
};

/** A run as a summary read returns it (`runSummaryReadSql`): without the JSON values, the branches excepted. */
export type RunSummaryRow = Omit<RunReadRow, 'input_json' | 'state_json' | 'attempts_json' | 'outputs_json' | 'compensation_json'>;

/** What the commit statement returns of each run whose fence held (statements/commit.ts); the rest is the holder's. */
export type CommittedRow = Pick<
  RunReadRow,
  | 'run_id'
  | 'status'
  | 'current_node_id'
  | 'updated_at'
  | 'version'
  | 'last_seq'
  | 'attempt'
  | 'attempt_in_flight'
  | 'recoveries'
  | 'next_attempt_at'
  | 'wait_reason'
  | 'failure_handler_run_id'
  | 'outcome'
  | 'traceparent'
> & {
  due_in_ms: number | null;
  read_at: Date;
  has_inbox: boolean;
};

/** A timeline event (statements/get-events.ts). */
export type EventRow = {
  run_id: string;
  seq: number;
  at: Date;
  type: FlowEventType;
  node_id: string | null;
  branch_id: string | null;
  item_index: number | null;
  attempt: number | null;
  duration_ms: number | null;
  error_json: ErrorRecord | null;
  payload_json: unknown;
};

/** A map's stored value (statements/get-map-values.ts). */
export type MapValueRow = { kind: 'items' | 'item'; item_index: number; value_json: unknown };

/** A stored definition (statements/definitions.ts). */
export type DefinitionRow = { flow_id: string; version: string; fingerprint: string; graph_json: unknown; created_at: Date };

/** A committed idempotent result (statements/get-idempotency.ts). */
export type IdempotencyRow = { key: string; run_id: string; node_id: string; result_json: IdempotencyRecord['result']; created_at: Date };

function toDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(String(value));
}

function toDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

function toIntOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

export function toRunRecord(row: RunReadRow): FlowRunRecord {
  return {
    ...toRunSummary(row),
    inputJson: row.input_json,
    stateJson: row.state_json,
    outputsJson: row.outputs_json,
    attemptsJson: row.attempts_json,
    compensation: row.compensation_json ?? null,
  };
}

/** A row of `runSummaryReadSql` as a summary (of the JSON values, only the branches were read). */
export function toRunSummary(row: RunSummaryRow): FlowRunSummary {
  return {
    runId: row.run_id,
    flowId: row.flow_id,
    flowVersion: row.flow_version,
    tenantId: row.tenant_id ?? null,
    status: row.status,
    currentNodeId: row.current_node_id ?? null,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
    branches: readBranches(row.branches_json),
    readAt: toDate(row.read_at),
    parentRunId: row.parent_run_id ?? null,
    parentNodeId: row.parent_node_id ?? null,
    failureOf: row.failure_of ?? null,
    failureHandlerRunId: row.failure_handler_run_id ?? null,
    hasInbox: row.has_inbox === true,
    idempotencyKey: row.idempotency_key ?? null,
    version: Number(row.version),
    lastSeq: Number(row.last_seq),
    attempt: Number(row.attempt),
    attemptInFlight: row.attempt_in_flight === true,
    recoveries: Number(row.recoveries),
    nextAttemptAt: toDateOrNull(row.next_attempt_at),
    dueInMs: row.due_in_ms === null || row.due_in_ms === undefined ? 0 : Number(row.due_in_ms),
    waitReason: row.wait_reason ?? null,
    error: row.error_json ?? null,
    compensated: row.compensated ?? null,
    scheduleId: row.schedule_id ?? null,
    scheduledAt: row.scheduled_at === null || row.scheduled_at === undefined ? null : toDate(row.scheduled_at).toISOString(),
    outcome: row.outcome ?? null,
    forkedFrom: row.forked_from_run_id ? { runId: row.forked_from_run_id, nodeId: row.forked_from_node_id ?? '' } : null,
    traceparent: row.traceparent ?? null,
    priority: Number(row.priority ?? 0),
    flowControl: (row.flow_control_json as FlowControlRecord | null | undefined) ?? null,
  };
}

/**
 * `outputs` with the 'output' values of a commit written over it, as the commit stored them
 * (parsed from the very texts): a new object when there are any, else `outputs` itself.
 */
export function withWrittenOutputs(outputs: Record<string, unknown>, values: readonly NodeValueWrite[] | undefined): Record<string, unknown> {
  if (!values || !values.some((v) => v.kind === 'output')) return outputs;
  const merged = { ...outputs };
  for (const v of values) {
    // defineProperty: a node id like `__proto__` is an own key, as JSON.parse makes it.
    if (v.kind === 'output') Object.defineProperty(merged, v.nodeId, { value: JSON.parse(v.value), enumerable: true, writable: true, configurable: true });
  }
  return merged;
}

/**
 * The run after a commit, from the commit's row (`COMMITTED_COLUMNS` + `due_in_ms`, `read_at`, `has_inbox`)
 * and the row the holder had at `expectedVersion`: what a read would give. Columns the update
 * left out keep the holder's values (JSON values shared, as lease rows may be); the new JSON
 * values are parsed from the very texts the statement stored.
 */
export function toCommittedRecord(row: CommittedRow, before: FlowRunRecord, t: Transition, errorText: string | null): FlowRunRecord {
  const update = t.update;
  const parse = <T>(text: JsonText | undefined, kept: T): T => (text === undefined ? kept : (JSON.parse(text) as T));
  return {
    runId: before.runId,
    flowId: before.flowId,
    flowVersion: before.flowVersion,
    tenantId: before.tenantId,
    status: row.status,
    currentNodeId: row.current_node_id ?? null,
    inputJson: before.inputJson,
    stateJson: parse(update.state, before.stateJson),
    outputsJson: withWrittenOutputs(before.outputsJson, t.values),
    createdAt: new Date(before.createdAt.getTime()),
    updatedAt: toDate(row.updated_at),
    branches: update.branches === undefined ? before.branches : readBranches(JSON.parse(update.branches)),
    readAt: toDate(row.read_at),
    parentRunId: before.parentRunId,
    parentNodeId: before.parentNodeId,
    failureOf: before.failureOf,
    failureHandlerRunId: row.failure_handler_run_id ?? null,
    hasInbox: row.has_inbox === true,
    idempotencyKey: before.idempotencyKey,
    version: Number(row.version),
    lastSeq: Number(row.last_seq),
    attempt: Number(row.attempt),
    attemptsJson: parse(update.attempts, before.attemptsJson),
    attemptInFlight: row.attempt_in_flight === true,
    recoveries: Number(row.recoveries),
    nextAttemptAt: toDateOrNull(row.next_attempt_at),
    dueInMs: row.due_in_ms === null || row.due_in_ms === undefined ? 0 : Number(row.due_in_ms),
    waitReason: row.wait_reason ?? null,
    error: errorText === null ? null : (JSON.parse(errorText) as ErrorRecord),
    compensation: parse(update.compensation, before.compensation),
    compensated: update.compensated ?? before.compensated,
    scheduleId: before.scheduleId,
    scheduledAt: before.scheduledAt,
    outcome: row.outcome ?? null,
    forkedFrom: before.forkedFrom,
    traceparent: before.traceparent,
    priority: before.priority,
    flowControl: before.flowControl,
  };
}

export function toEventRecord(row: EventRow): FlowEventRecord {
  return {
    runId: row.run_id,
    seq: Number(row.seq),
    at: toDate(row.at),
    type: row.type,
    nodeId: row.node_id ?? null,
    branchId: row.branch_id ?? null,
    itemIndex: toIntOrNull(row.item_index),
    attempt: toIntOrNull(row.attempt),
    durationMs: toIntOrNull(row.duration_ms),
    error: row.error_json ?? null,
    payloadJson: row.payload_json ?? null,
  };
}

/** A map's rows (`kind`, `item_index`, `value_json`: its 'items' row and 'item' rows) as `MapValues`. */
export function toMapValues(rows: readonly MapValueRow[]): MapValues {
  const values: MapValues = { items: null, outputs: new Map() };
  for (const row of rows) {
    if (row.kind === 'items') values.items = row.value_json as unknown[];
    else if (row.kind === 'item') values.outputs.set(Number(row.item_index), row.value_json);
  }
  return values;
}

export function toDefinitionRecord(row: DefinitionRow): DefinitionRecord {
  return {
    flowId: row.flow_id,
    version: row.version,
    fingerprint: row.fingerprint,
    graph: row.graph_json,
    createdAt: toDate(row.created_at),
  };
}

export function toIdempotencyRecord(row: IdempotencyRow): IdempotencyRecord {
  return {
    key: row.key,
    runId: row.run_id,
    nodeId: row.node_id,
    result: row.result_json,
    createdAt: toDate(row.created_at),
  };
}

/**
 * The events of one write as a JSON array text (read by `jsonb_to_recordset` in SQL). Payloads
 * are already-serialized JsonText and are spliced in as they are: no parse, no second stringify.
 */
export function eventsJson(events: readonly NewEvent[]): string {
  const parts = events.map((e) => {
    const fields = [
      `"type":${JSON.stringify(e.type)}`,
      `"node_id":${e.nodeId == null ? 'null' : JSON.stringify(e.nodeId)}`,
      `"branch_id":${e.branchId == null ? 'null' : JSON.stringify(e.branchId)}`,
      `"item_index":${e.itemIndex == null ? 'null' : Math.trunc(e.itemIndex)}`,
      `"attempt":${e.attempt == null ? 'null' : Math.trunc(e.attempt)}`,
      `"duration_ms":${e.durationMs == null ? 'null' : Math.round(e.durationMs)}`,
      `"error":${e.error == null ? 'null' : JSON.stringify(errorJson(e.error))}`,
      `"payload":${e.payload == null ? 'null' : e.payload}`,
    ];
    return `{${fields.join(',')}}`;
  });
  return `[${parts.join(',')}]`;
}

/** `item_index` of a value row: the item's index for 'item', -1 for the others (see the branches migration). */
function itemIndexOf(v: NodeValueWrite): number {
  return v.kind === 'item' && Number.isInteger(v.itemIndex) ? v.itemIndex! : -1; // a bad index fails the row's CHECK
}

/**
 * The node values of one commit as a JSON array text, like `eventsJson` (values spliced in as
 * they are). Writes of the same row (node, kind, index) collapse to the last one, as if applied
 * in order: one statement may not write a row twice.
 */
export function valuesJson(values: readonly NodeValueWrite[] | undefined): string {
  if (!values || values.length === 0) return '[]';
  const last = new Map<string, NodeValueWrite>();
  for (const v of values) {
    const key = JSON.stringify([v.nodeId, v.kind, itemIndexOf(v)]);
    last.delete(key);
    last.set(key, v);
  }
  const parts = [...last.values()].map(
    (v) => `{"node_id":${JSON.stringify(v.nodeId)},"kind":${JSON.stringify(v.kind)},"item_index":${itemIndexOf(v)},"value":${v.value}}`,
  );
  return `[${parts.join(',')}]`;
}

/** Only the ErrorRecord fields: an Error instance or extra properties must not leak into the row. */
export function errorJson(error: ErrorRecord): ErrorRecord {
  const out: ErrorRecord = { code: String(error.code), message: String(error.message) };
  if (error.retryable !== undefined) out.retryable = Boolean(error.retryable);
  return out;
}
