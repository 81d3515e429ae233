/**
 * The memory store's leases and rows: a lease is an entry in the store's lock table; rows keep
 * every JSON value as the text the engine produced, parsed on each read (see `recordOf`).
 */
import { StaleRunError, WaitAnsweredError } from '../errors.js';
import { readBranches } from '../core/states.js';
import type { FlowEventRecord, FlowRunRecord, FlowRunSummary, JsonText, RunLease, Transition } from './types.js';

/** A stored row: like FlowRunRecord but with JSON kept as text. */
export interface RunRow extends Omit<
  FlowRunRecord,
  'inputJson' | 'stateJson' | 'outputsJson' | 'attemptsJson' | 'branches' | 'dueInMs' | 'readAt' | 'compensation'
> {
  input: JsonText;
  /** `CompensationLog`, or null. */
  compensation: JsonText | null;
  state: JsonText;
  attempts: JsonText;
  branches: JsonText;
  /** Node outputs, one text per node (the SQL store's 'output' rows). */
  outputs: Map<string, JsonText>;
  /** Maps' item lists (by node) and item outputs (by node, then index): the 'items' and 'item' rows. */
  mapItems: Map<string, JsonText>;
  itemOutputs: Map<string, Map<number, JsonText>>;
  /** Parsed forms of the JSON above, for the engine's own reads under a lease (see recordOf). */
  parsed: Partial<Record<'input' | 'state' | 'outputs' | 'attempts' | 'branches', unknown>>;
}

export interface EventRow extends Omit<FlowEventRecord, 'payloadJson'> {
  payload: JsonText | null;
}

/**
 * Public reads get freshly parsed values, as from a database. Reads under a lease (`shared`)
 * reuse one parse per JSON text: the engine treats lease rows as read-only and copies what it
 * hands to handlers, so parsing again on every step would only feed the garbage collector.
 */
export function recordOf(row: RunRow, now: number, shared = false): FlowRunRecord {
  const p = row.parsed;
  const json = shared
    ? {
        input: (p.input ??= JSON.parse(row.input)),
        state: (p.state ??= JSON.parse(row.state)),
        outputs: (p.outputs ??= parseOutputs(row.outputs)),
        attempts: (p.attempts ??= JSON.parse(row.attempts)),
        branches: (p.branches ??= readBranches(JSON.parse(row.branches))),
      }
    : {
        input: JSON.parse(row.input),
        state: JSON.parse(row.state),
        outputs: parseOutputs(row.outputs),
        attempts: JSON.parse(row.attempts),
        branches: readBranches(JSON.parse(row.branches)),
      };
  return {
    ...summaryWith(row, now, json.branches as FlowRunRecord['branches']),
    inputJson: json.input,
    stateJson: json.state as Record<string, unknown>,
    outputsJson: json.outputs as Record<string, unknown>,
    attemptsJson: json.attempts as Record<string, number>,
    compensation: row.compensation === null ? null : (JSON.parse(row.compensation) as FlowRunRecord['compensation']),
  };
}

/** A run as a list shows it (`listRuns` with `summary`): no JSON value parsed but the branches. */
export function summaryOf(row: RunRow, now: number): FlowRunSummary {
  return summaryWith(row, now, readBranches(JSON.parse(row.branches)));
}

/** The fields a summary and a full record share, field by field (one object shape; no internal field leaks out). */
function summaryWith(row: RunRow, now: number, branches: FlowRunRecord['branches']): FlowRunSummary {
  const dueAt = row.nextAttemptAt?.getTime();
  return {
    runId: row.runId,
    flowId: row.flowId,
    flowVersion: row.flowVersion,
    tenantId: row.tenantId,
    status: row.status,
    currentNodeId: row.currentNodeId,
    createdAt: new Date(row.createdAt),
    updatedAt: new Date(row.updatedAt),
    branches,
    readAt: new Date(now),
    parentRunId: row.parentRunId,
    parentNodeId: row.parentNodeId,
    failureOf: row.failureOf,
    failureHandlerRunId: row.failureHandlerRunId,
    hasInbox: row.hasInbox,
    idempotencyKey: row.idempotencyKey,
    version: row.version,
    lastSeq: row.lastSeq,
    attempt: row.attempt,
    attemptInFlight: row.attemptInFlight,
    recoveries: row.recoveries,
    nextAttemptAt: row.nextAttemptAt ? new Date(row.nextAttemptAt) : null,
    dueInMs: dueAt === undefined ? 0 : Math.max(0, dueAt - now),
    waitReason: row.waitReason,
    error: row.error ? { ...row.error } : null,
    compensated: row.compensated,
    scheduleId: row.scheduleId,
    scheduledAt: row.scheduledAt,
    outcome: row.outcome,
    forkedFrom: row.forkedFrom ? { ...row.forkedFrom } : null,
    traceparent: row.traceparent,
    priority: row.priority,
    flowControl: row.flowControl === null ? null : (JSON.parse(JSON.stringify(row.flowControl)) as FlowRunRecord['flowControl']),
  };
}

/** `outputsJson` assembled from the per-node texts, as the SQL store aggregates its rows. */
function parseOutputs(outputs: Map<string, JsonText>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [nodeId, text] of outputs) Object.defineProperty(out, nodeId, { value: JSON.parse(text), enumerable: true, writable: true, configurable: true });
  return out;
}

/** What a memory lease needs of its store. */
export interface MemoryLeaseHost {
  commitTransition(runId: string, t: Transition): FlowRunRecord;
  readRun(runId: string): FlowRunRecord | null;
  /** The waits the run's inbox holds answers for. */
  answeredWaits(runId: string): ReadonlyArray<{ branchId: string | null; waitId: number | null }>;
}

export class MemoryLease implements RunLease {
  private current: FlowRunRecord | null;
  private released = false;

  constructor(
    private readonly store: MemoryLeaseHost,
    readonly runId: string,
    run: FlowRunRecord | null,
    private readonly unlock: () => void,
  ) {
    this.current = run;
  }

  get run(): FlowRunRecord | null {
    return this.current;
  }

  async commit(transition: Transition): Promise<FlowRunRecord> {
    if (this.released) throw new StaleRunError(this.runId, transition.expectedVersion);
    // An answer to a wait this transition times out arrived since the holder read the inbox: it
    // must be received, so nothing is written and the lock is kept (see `Transition.timedOutWaits`).
    const answered = (w: { branchId: string; waitId: number }) =>
      this.store.answeredWaits(this.runId).some((a) => a.branchId === w.branchId && a.waitId === w.waitId);
    if (transition.timedOutWaits?.some(answered)) {
      throw new WaitAnsweredError(this.runId, transition.expectedVersion);
    }
    try {
      this.current = this.store.commitTransition(this.runId, transition);
      return this.current;
    } finally {
      if (transition.release) await this.release();
    }
  }

  async reload(): Promise<FlowRunRecord | null> {
    this.current = this.store.readRun(this.runId);
    return this.current;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.unlock();
  }
}
