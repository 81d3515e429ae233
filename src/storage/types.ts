/**
 * The storage contract. Every store (memory, PGlite, Postgres through `pg` or Prisma) implements
 * exactly this, and the shared contract suite (tests/contract) holds them all to it.
 *
 * Shape of a step, as the engine drives it:
 *   lockRun(runId)            -> one round trip: take the run's lock and read its row (with
 *                                `beginAttempt`, also begin the current attempt in that round trip)
 *   lease.commit(transition)  -> one round trip, one commit: run row + events + idempotency record,
 *                                fenced by the row version; with `release` the lock is let go too
 * Values arrive already serialized (`JsonText`, produced and checked by the engine's serializer)
 * and come back parsed, so every store shows callers exactly what a JSON round trip gives.
 */
import type { ErrorRecord } from '../errors.js';
import type { FlowRunStatus } from '../definitions/types.js';

/** A JSON document produced by the engine's serializer (`src/engine/json.ts`). */
export type JsonText = string & { readonly __json: true };

export type FlowEventType =
  | 'RUN_STARTED'
  | 'NODE_STARTED'
  | 'NODE_FINISHED'
  | 'NODE_FAILED'
  /** An attempt was begun by a holder that disappeared (crash, lost lock) before committing. */
  | 'NODE_INTERRUPTED'
  | 'NODE_RETRY_SCHEDULED'
  | 'RUN_WAITING'
  | 'RUN_RESUMED'
  | 'RUN_COMPLETED'
  | 'RUN_ABORTED'
  | 'RUN_CANCELLED';

/** The run row. Field names up to `updatedAt` are the seed's. */
export interface FlowRunRecord {
  runId: string;
  flowId: string;
  flowVersion: string;
  tenantId: string | null;
  status: FlowRunStatus;
  currentNodeId: string | null;
  inputJson: unknown;
  stateJson: Record<string, unknown>;
  outputsJson: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;

  idempotencyKey: string | null;
  /** Fence: +1 on every write. A commit names the version it read and fails if it moved. */
  version: number;
  /** Sequence number of the newest event of this run (0 before any). */
  lastSeq: number;
  /** Attempts begun at the current node (0 before the first). */
  attempt: number;
  /** Attempts begun per node over the whole run (`ctx.meta.attempts`). */
  attemptsJson: Record<string, number>;
  /** True between "attempt begun" and its result being committed: if a new holder finds it set, the old one died mid-attempt. */
  attemptInFlight: boolean;
  /** Attempts in a row that were interrupted (crash, lost lock). Bounded by the engine (poison-pill guard). */
  recoveries: number;
  /** RUNNING: the current attempt may not start before this (retry backoff). WAITING: the timer (null = manual wait). */
  nextAttemptAt: Date | null;
  /** Milliseconds until `nextAttemptAt` by the store's clock (the database's `now()`); 0 when due or unset. */
  dueInMs: number;
  waitReason: string | null;
  /** Why the run FAILED or was CANCELLED. */
  error: ErrorRecord | null;
}

export interface FlowEventRecord {
  runId: string;
  /** 1, 2, 3 … per run, without gaps: the timeline's order. */
  seq: number;
  at: Date;
  type: FlowEventType;
  nodeId: string | null;
  attempt: number | null;
  durationMs: number | null;
  error: ErrorRecord | null;
  payloadJson: unknown;
}

export interface NewEvent {
  type: FlowEventType;
  nodeId?: string | null;
  attempt?: number | null;
  durationMs?: number | null;
  error?: ErrorRecord | null;
  payload?: JsonText | null;
}

export interface NewRun {
  runId: string;
  flowId: string;
  flowVersion: string;
  tenantId: string | null;
  idempotencyKey: string | null;
  currentNodeId: string;
  input: JsonText;
  state: JsonText;
  /** RUN_STARTED and whatever else the engine records at creation; seq 1.. */
  events: NewEvent[];
}

/** When the current attempt / timer is due. Relative delays are added to the store's clock. */
export type DueAt = { delayMs: number } | { at: Date } | null;

/** The full new values of the run's mutable columns. `state`/`outputs` omitted = unchanged. */
export interface RunUpdate {
  status: FlowRunStatus;
  currentNodeId: string | null;
  state?: JsonText;
  outputs?: JsonText;
  attempt: number;
  attempts?: JsonText;
  attemptInFlight: boolean;
  recoveries: number;
  nextAttemptAt: DueAt;
  waitReason: string | null;
  error: ErrorRecord | null;
}

export interface IdempotencyRecordInput {
  key: string;
  runId: string;
  nodeId: string;
  /** `{output?, patch?}` of the committed ok result. */
  result: JsonText;
}

export interface IdempotencyRecord {
  key: string;
  runId: string;
  nodeId: string;
  result: { output?: unknown; patch?: Record<string, unknown> };
  createdAt: Date;
}

export interface Transition {
  /** The `version` the holder read; the commit fails with `StaleRunError` if the row moved since. */
  expectedVersion: number;
  update: RunUpdate;
  /** Appended with seq lastSeq+1, lastSeq+2 … in this order, in the same transaction. */
  events: NewEvent[];
  /** Recorded in the same transaction; an existing record under the key is kept (first commit wins). */
  idempotency?: IdempotencyRecordInput;
  /** Let go of the run's lock after the commit (a SQL store may do both in one round trip). */
  release?: boolean;
  /** Tell sleeping workers that this run has work (a SQL store NOTIFYs in the same transaction). */
  wake?: boolean;
}

/** Exclusive hold on one run, across processes. Obtain with `FlowStorage.lockRun`. */
export interface RunLease {
  readonly runId: string;
  /**
   * The row as read when the lock was taken, then as returned by each commit. Null if the run does
   * not exist. Its JSON values may be shared with the store: holders treat them as read-only.
   */
  readonly run: FlowRunRecord | null;
  /** Commit a transition; returns the new row (and updates `run`). Throws `StaleRunError` on a fence failure. */
  commit(transition: Transition): Promise<FlowRunRecord>;
  /** Re-read the row under the lock. */
  reload(): Promise<FlowRunRecord | null>;
  /** Let go of the lock. Safe to call more than once. */
  release(): Promise<void>;
  /**
   * True when `lockRun` began the current attempt (see `LockRunOptions.beginAttempt`): `run` is
   * the row after that commit. Absent or false: nothing was written by `lockRun`.
   */
  readonly attemptBegun?: boolean;
}

/**
 * What `lockRun` may do besides locking. Optional for callers and for stores: a store that does
 * not implement an option leaves `attemptBegun` unset, and the caller does the work itself.
 */
export interface LockRunOptions {
  /**
   * Begin the current attempt before returning, if the row read under the lock qualifies: status
   * RUNNING, due (`nextAttemptAt` unset or past by the store's clock), no attempt in flight, its
   * `currentNodeId` listed under its `flowId@version` in `nodes`, and the new attempts JSON at
   * most `maxAttemptsBytes` bytes (a SQL store may measure conservatively and skip the begin).
   * The begin is the commit the engine would make itself, fenced and durable before `lockRun`
   * returns: `attempt` + 1, `attemptInFlight` true, `attemptsJson[node]` + 1, version + 1, and a
   * NODE_STARTED event (that node, the new attempt); nothing else changes.
   */
  beginAttempt?: BeginAttemptRequest;
  /**
   * Lock the run only if it is due by the store's clock (RUNNING with its attempt due, or WAITING
   * with a timer that is due); otherwise return null and hold nothing, not even for an instant,
   * as when another holder has the lock. For a worker claiming runs it was told have work: a run
   * that moved on meanwhile is never held, so a `resumeRun` or `tick` on it never finds it busy.
   */
  onlyIfDue?: boolean;
}

export interface BeginAttemptRequest {
  /** Node ids of each flow (`flowId@version`) the caller can execute. Treated as read-only; stores may cache by identity. */
  nodes: Readonly<Record<string, readonly string[]>>;
  maxAttemptsBytes: number;
}

export interface DefinitionRecord {
  flowId: string;
  version: string;
  /** Hash of the graph's shape (nodes, options, edges); equal graphs have equal fingerprints. */
  fingerprint: string;
  /** The graph as JSON (no functions): nodes with options, edges with whether they are conditional. */
  graph: unknown;
  createdAt: Date;
}

export interface RunFilter {
  status?: FlowRunStatus | FlowRunStatus[];
  flowId?: string;
  flowVersion?: string;
  tenantId?: string;
  /** Page size (default 50, at most 1000). */
  limit?: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string;
}

export interface RunPage {
  runs: FlowRunRecord[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
}

export interface DueRunQuery {
  /** At most this many run ids. */
  limit: number;
  /** Only runs of these flows (`flowId@version`); undefined = any. */
  flowKeys?: string[];
}

export interface FlowStorage {
  /** 'memory' | 'postgres' | 'pglite' | 'prisma' — for logs and the health endpoint. */
  readonly kind: string;
  /** True when data outlives the process. */
  readonly durable: boolean;

  /** Prepare for use (connect, apply pending migrations). Idempotent; other methods call it on first use. */
  init(): Promise<void>;
  /** Release every connection and lock. */
  close(): Promise<void>;

  /** Store a definition unless one with the same flowId@version exists; returns the stored one (new or existing). */
  saveDefinition(def: Omit<DefinitionRecord, 'createdAt'> & { graph: JsonText }): Promise<DefinitionRecord>;
  listDefinitions(): Promise<DefinitionRecord[]>;

  /** Insert a run with its first events. With an idempotency key already used, returns that run and `created: false`. */
  createRun(run: NewRun): Promise<{ run: FlowRunRecord; created: boolean }>;
  getRun(runId: string): Promise<FlowRunRecord | null>;
  listRuns(filter: RunFilter): Promise<RunPage>;
  getEvents(runId: string): Promise<FlowEventRecord[]>;
  getIdempotencyRecord(key: string): Promise<IdempotencyRecord | null>;

  /**
   * Take the run's exclusive lock (Postgres: advisory lock held on one connection until release).
   * Returns null when another holder has it (or, with `onlyIfDue`, when the run is not due).
   * The lease's `run` is read under the lock.
   */
  lockRun(runId: string, options?: LockRunOptions): Promise<RunLease | null>;

  /**
   * Without the lock: move a RUNNING/WAITING run to CANCELLED (fenced by status, bumps version so that an
   * in-flight holder's commit fails). Returns the row (unchanged when already terminal) or null if unknown.
   */
  cancelRun(runId: string, events: NewEvent[], error: ErrorRecord): Promise<FlowRunRecord | null>;

  /** Runs a worker should pick up now: RUNNING and due, or WAITING with a due timer. Decided by the store's clock. */
  findDueRuns(query: DueRunQuery): Promise<string[]>;
  /** Milliseconds until the earliest due time still in the future among RUNNING/WAITING runs; null if none (due times already past do not count). */
  msUntilNextDue(flowKeys?: string[]): Promise<number | null>;
  /** Wake-ups for sleeping workers (a run was started, resumed, or scheduled). Returns an unsubscribe function. */
  onWake(listener: (runId: string) => void): () => void;
}
