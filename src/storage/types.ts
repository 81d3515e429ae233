/**
 * The storage contract. Every store (memory, PGlite, Postgres through `pg` or Prisma) implements
 * exactly this, and the shared contract suite (tests/contract) holds them all to it.
 *
 * A run is one row (status, state, the set of live branches, fence version) plus rows written
 * once each: events (the timeline) and node values (node outputs, a map's items and item
 * outputs). Shape of a step, as the engine drives it:
 *   lockRun(runId)            -> one round trip: take the run's lock and read its row
 *   lease.commit(transition)  -> one round trip, one commit: run row + node values + events +
 *                                idempotency record, fenced by the row version; with `release`
 *                                the lock is let go once it is done
 * (A SQL store shares each of these round trips with other runs' of the same moment: see
 * storage/sql/statement-group.ts and lock-session.ts.)
 * Values arrive already serialized (`JsonText`, produced and checked by the serializer in core/json.ts)
 * and come back parsed, so every store shows callers exactly what a JSON round trip gives.
 */
import type { ErrorRecord } from '../errors.js';
import type { FlowControlRecord, FlowRunStatus, TransactionIsolation } from '../definitions/types.js';
import type { JsonText } from '../core/json.js';
import type { BranchRecord, CompensationLog } from '../core/states.js';
import type { ScheduleClaim, ScheduleRecord, ScheduleStep, ScheduleStepResult, ScheduleWrite } from './schedule-types.js';

export type { JsonText };

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
  | 'RUN_CANCELLED'
  /** A `split: 'all'` node started this branch (the event's branchId); payload `{ from, splitNodeId }`. */
  | 'BRANCH_STARTED'
  /** The branch's path ended (no outgoing edge matched). */
  | 'BRANCH_ENDED'
  /** The branch was stopped: a `join: 'any'` fired without it, or a sibling failed the run. Payload `{ reason, by? }`. */
  | 'BRANCH_ABORTED'
  /** The branch arrived at a `join` node; payload `{ joinNodeId, waitingFor }` (branches that can still arrive). */
  | 'JOIN_ARRIVED'
  /** A join's branches were gathered into the event's branch, which goes on at the join node; payload `{ joined }`. */
  | 'JOIN_COMPLETED'
  /** A `forEach` node started its map; payload `{ items, concurrency }`. Item attempts carry `itemIndex`. */
  | 'MAP_STARTED'
  /** An event answered the branch's event wait; payload `{ eventId, name, key }` (the event's payload is shown to the node). */
  | 'EVENT_RECEIVED'
  /** A node (or item) started a child run and waits for it; payload `{ childRunId, flowId, version }`. */
  | 'CHILD_STARTED'
  /** The child run the node (or item) waited for ended; payload `{ childRunId, status }`. */
  | 'CHILD_FINISHED'
  /** The node failed for good and its `catch` took the failure: the branch goes on at `to`; payload `{ to }`, `error` the failure. */
  | 'NODE_CAUGHT'
  /** The run begins undoing what it did; payload `{ cause: 'failed' | 'cancelled', steps }` (compensations to run). */
  | 'RUN_COMPENSATING'
  /** An attempt of a node's compensation began (`runId` in the payload when the node is a child run's). */
  | 'COMPENSATION_STARTED'
  /** A node's (or item's) compensation succeeded. */
  | 'NODE_COMPENSATED'
  /** An attempt of a compensation failed; payload `{ final, retryInMs? }` (final: it will not be tried again). */
  | 'COMPENSATION_FAILED'
  /** The run ended FAILED and started its flow's `onFailure` flow, in the same write; payload `{ handlerRunId, flowId, version }`. */
  | 'FAILURE_HANDLER_STARTED'
  /** The run ended FAILED and its flow's `onFailure` flow was not started; payload `{ flowId, version, reason }`. */
  | 'FAILURE_HANDLER_SKIPPED'
  /** The run moved to another version of its flow (`migrateRuns`); payload `{ fromVersion, toVersion, nodeMap }`. */
  | 'RUN_MIGRATED'
  /** A FAILED or CANCELLED run went back to RUNNING (`retryRun`); payload `{ fromNodeIds, status, statePatch }` (the status it left). */
  | 'RUN_RETRIED'
  /** The run's first event when it is a fork (`forkRun`); payload `{ runId, nodeId, version, outputs }` (the source, and the outputs it kept). */
  | 'RUN_FORKED';

export type { ClaimedSchedule, ScheduleClaim, ScheduleRecord, ScheduleSkip, ScheduleSkipReason } from './schedule-types.js';
export type { ScheduleStep, ScheduleStepResult, ScheduleWrite } from './schedule-types.js';
export type { BranchRecord, BranchStatus, BranchWait, CompensationLog, MapItemRecord, MapProgress, WaitingBranch } from '../core/states.js';

/** The run row. Field names up to `updatedAt` are the seed's. */
export interface FlowRunRecord {
  runId: string;
  flowId: string;
  flowVersion: string;
  tenantId: string | null;
  status: FlowRunStatus;
  /** The first live branch's node (the only one for a run without splits); null when none is live. */
  currentNodeId: string | null;
  inputJson: unknown;
  stateJson: Record<string, unknown>;
  /** Each node's last output, assembled from its own rows (never rewritten as a whole). */
  outputsJson: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;

  /** The live branches (RUNNING/WAITING runs); a FAILED run keeps the branch that failed it. */
  branches: BranchRecord[];
  /** The store's clock when this record was read or committed: due times are reckoned from it. */
  readAt: Date;
  /** The run that started this one as a child (null for a top-level run), and the node that did. */
  parentRunId: string | null;
  parentNodeId: string | null;
  /**
   * A run of an `onFailure` flow: the failed run it handles (null for any other run). Not a
   * parent: the two runs end, are cancelled and are pruned independently of each other.
   */
  failureOf: string | null;
  /** A run that ended FAILED: the `onFailure` run it started, in the same write (null when none). */
  failureHandlerRunId: string | null;
  /** Entries wait in the run's inbox (resumes, events, child ends) for its holder to apply. */
  hasInbox: boolean;

  idempotencyKey: string | null;
  /** Fence: +1 on every write. A commit names the version it read and fails if it moved. */
  version: number;
  /** Sequence number of the newest event of this run (0 before any). */
  lastSeq: number;
  /** The first branch's attempts at its node (0 before the first). */
  attempt: number;
  /** Attempts begun per node over the whole run (`ctx.meta.attempts`; a map counts each item's attempts). */
  attemptsJson: Record<string, number>;
  /** True while any branch or item has an attempt in flight: if a new holder finds it set, the old one died mid-attempt. */
  attemptInFlight: boolean;
  /** The first branch's interrupted attempts in a row. */
  recoveries: number;
  /**
   * The earliest time anything in the run becomes due. RUNNING: null = something can run now.
   * WAITING: the earliest timer (null = every branch waits for a resume).
   */
  nextAttemptAt: Date | null;
  /** Milliseconds until `nextAttemptAt` by the store's clock (the database's `now()`); 0 when due or unset. */
  dueInMs: number;
  waitReason: string | null;
  /** Why the run FAILED or was CANCELLED. */
  error: ErrorRecord | null;
  /**
   * What the run finished that could be undone, and its compensation once it undoes it (see
   * `CompensationLog`); null when it never finished a node with a `compensate` handler.
   */
  compensation: CompensationLog | null;
  /**
   * Set when the run ended by undoing what it did (failed, or cancelled with `{ compensate: true }`):
   * true when every compensation succeeded, false when one failed for good. Null otherwise.
   */
  compensated: boolean | null;
  /** The schedule that started this run (null for any other run). */
  scheduleId: string | null;
  /** The schedule's tick that started it (ISO); null for any other run. */
  scheduledAt: string | null;
  /**
   * The run's business outcome (`'refunded'`, `'declined'`…): the `outcome` of the last ok node
   * result that carried one (null until one does). Kept whatever status the run ends with.
   */
  outcome: string | null;
  /** A run made by `forkRun`: the run it was forked from and the node it runs on from (null for any other run). */
  forkedFrom: { runId: string; nodeId: string } | null;
  /**
   * The run's W3C trace context (`00-<trace id>-<span id>-<flags>`), taken at `startRun` (given, or
   * the active OpenTelemetry span's); every step's span is a child of it, in any process. A child
   * run carries its parent's. Null for runs made before it was recorded.
   */
  traceparent: string | null;
  /** Claim order: higher first (`startRun({ priority })`, default 0). */
  priority: number;
  /** The run's flow control limits with its keys, as computed at `startRun` (null: none); see docs/flow-control.md. */
  flowControl: FlowControlRecord | null;
}

export interface FlowEventRecord {
  runId: string;
  /** 1, 2, 3 … per run, without gaps: the timeline's order. */
  seq: number;
  at: Date;
  type: FlowEventType;
  nodeId: string | null;
  /** The branch the event belongs to (null for run-wide events). */
  branchId: string | null;
  /** The map item the event belongs to (null outside a map's items). */
  itemIndex: number | null;
  attempt: number | null;
  durationMs: number | null;
  error: ErrorRecord | null;
  payloadJson: unknown;
}

/** A stretch of a run's timeline: the events after `afterSeq`, at most `limit` (a keyset page on `seq`). */
export interface EventRange {
  afterSeq?: number;
  limit?: number;
}

export interface NewEvent {
  type: FlowEventType;
  nodeId?: string | null;
  branchId?: string | null;
  itemIndex?: number | null;
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
  /** The first branch (`BranchRecord[]`). */
  branches: JsonText;
  /** A child run: its parent and the parent's node (both null for a top-level run). */
  parentRunId?: string | null;
  parentNodeId?: string | null;
  /** A run started by a schedule: the schedule, and its tick (at most one run per pair). */
  scheduleId?: string | null;
  scheduledAt?: Date | null;
  /** A run of an `onFailure` flow: the failed run it handles (`Transition.failureHandler`). */
  failureOf?: string | null;
  /** The W3C trace context the run's steps continue (see `FlowRunRecord.traceparent`). */
  traceparent?: string | null;
  /** Claim order, higher first (default 0). */
  priority?: number;
  /** A delayed start (`startRun({ delayMs | startAt })`, a debounce): the run is due from then, not before. */
  startAt?: DueAt;
  /** Flow control limits and keys (`flowControlOf`). */
  flowControl?: FlowControlRecord | null;
  /** RUN_STARTED and whatever else the engine records at creation; seq 1.. */
  events: NewEvent[];
}

/** What `joinDebouncedRun` asks for. */
export interface DebounceJoin {
  flowId: string;
  flowVersion: string;
  key: string;
  input: JsonText;
  delayMs: number;
  maxWaitMs: number | null;
}

/** When the current attempt / timer is due. Relative delays are added to the store's clock. */
export type DueAt = { delayMs: number } | { at: Date } | null;

/** The full new values of the run's mutable columns. `state`/`branches`/`attempts` omitted = unchanged. */
export interface RunUpdate {
  status: FlowRunStatus;
  currentNodeId: string | null;
  state?: JsonText;
  /** `BranchRecord[]`. */
  branches?: JsonText;
  attempt: number;
  attempts?: JsonText;
  attemptInFlight: boolean;
  recoveries: number;
  nextAttemptAt: DueAt;
  waitReason: string | null;
  error: ErrorRecord | null;
  /** `CompensationLog` (omitted = unchanged). */
  compensation?: JsonText;
  /**
   * Omitted = unchanged. Written once, when the run's compensation ends: never back to null (the
   * SQL stores could not tell a null from an omission, the memory store could).
   */
  compensated?: boolean;
  /** The run's new business outcome; omitted = unchanged (an outcome is replaced, never cleared). */
  outcome?: string;
}

export interface IdempotencyRecordInput {
  key: string;
  runId: string;
  nodeId: string;
  /** `{output?, patch?, outcome?}` of the committed ok result. */
  result: JsonText;
}

export interface IdempotencyRecord {
  key: string;
  runId: string;
  nodeId: string;
  /** `outcome`: only in records written since outcomes exist. */
  result: { output?: unknown; patch?: Record<string, unknown>; outcome?: string };
  createdAt: Date;
}

/**
 * A value written once in its own row: a node's output (`kind: 'output'`, replacing that node's
 * previous output), a map's item list (`'items'`), or one item's output (`'item'`, `itemIndex`).
 */
export interface NodeValueWrite {
  nodeId: string;
  kind: 'output' | 'items' | 'item';
  /** `'item'` only: the item's index. */
  itemIndex?: number;
  value: JsonText;
}

/** A branch parked until an event named `name` (and `key`, when not null) is sent. */
export interface EventWait {
  branchId: string;
  waitId: number;
  name: string;
  key: string | null;
}

/**
 * An answer to one of the run's waits, written without the run's lock and applied by its holder
 * in the transition that consumes it. `resume` and `event` entries name the wait (`waitId`): one
 * entry per wait at most. A `child` entry says the child run ended.
 */
export interface InboxEntry {
  /** Arrival order. */
  id: number;
  runId: string;
  kind: InboxKind;
  waitId: number | null;
  branchId: string | null;
  /**
   * resume: the payload; event: `{ eventId, name, key, payload }` (read from the stored event the
   * entry names: a payload is stored once, however many runs it reached); child: `{ childRunId, status }`;
   * cancel: `{ reason }` (a cancel that undoes what the run did, applied by its holder).
   */
  payload: unknown;
  createdAt: Date;
}

/** What an inbox entry is: an answer to a wait (`resume`, `event`), a child's end, or a cancel with compensation. */
export type InboxKind = 'resume' | 'event' | 'child' | 'cancel';

export interface NewInboxEntry {
  runId: string;
  kind: InboxKind;
  waitId: number | null;
  branchId: string | null;
  payload: JsonText;
}

export interface NewFlowEvent {
  eventId: string;
  name: string;
  key: string | null;
  payload: JsonText;
}

export interface SentEvent {
  eventId: string;
  /** Runs whose waiting branches got the event (one inbox entry per wait). */
  delivered: Array<{ runId: string; branchId: string; waitId: number }>;
  sentAt: Date;
}

/** A map's stored values, read by the holder that drives it. */
export interface MapValues {
  /** The item list, as stored when the map started (null if none is stored). */
  items: unknown[] | null;
  /** Outputs of the finished items, by index. */
  outputs: Map<number, unknown>;
}

export interface Transition {
  /** The `version` the holder read; the commit fails with `StaleRunError` if the row moved since. */
  expectedVersion: number;
  update: RunUpdate;
  /** Applied first: the item list and item outputs of these nodes are deleted (a map that ended or restarts). */
  clearMaps?: string[];
  /** Written (inserted, or replacing the row of the same node/kind/index) in this transaction. */
  values?: NodeValueWrite[];
  /** Inbox entries this transition applied: deleted in the same transaction. */
  consumeInbox?: number[];
  /**
   * Event waits this transition parks, registered for `sendEvent`. In the same transaction, the
   * earliest stored event matching a wait — sent at or after the run's creation, not yet received
   * by this run — is put in the run's inbox for it (an event sent before the wait is not lost).
   */
  addWaits?: EventWait[];
  /** Event waits that ended (answered, timed out): unregistered. A run that ends loses all of its. */
  endWaits?: Array<{ branchId: string; waitId: number }>;
  /** Events this run received in this transition (a later wait of the run never matches them again). */
  receipts?: string[];
  /**
   * Waits this transition ends by their timer (an event's `timeoutMs`, a wait's `until`). The
   * commit is refused with `WaitAnsweredError`, writing nothing and keeping the lock, while the
   * inbox holds an answer to one of them (same branch and wait): an answer that was taken
   * (`resumeRun`) or counted as delivered (`sendEvent`) must be received, not dropped.
   */
  timedOutWaits?: Array<{ branchId: string; waitId: number }>;
  /**
   * Child runs of this run whose wait this transition abandons (the branch or map item that
   * waited for them was aborted or dropped; other ids are ignored): in the same transaction they
   * are cancelled, with all their unfinished descendants — and so are all unfinished descendants
   * of a run this transition ends FAILED or CANCELLED, listed here or not. No end of a run
   * cancelled so is put in its parent's inbox: its parent no longer waits for it, or is cancelled
   * in the same write.
   */
  cancelChildren?: string[];
  /**
   * Only on a commit that ends the run FAILED (ignored on any other): the run of the flow's
   * `onFailure` handler, created in the same transaction — never by a write of its own, so a
   * crash can leave neither a failed run without its handler nor a handler without its failure.
   * The failed run's `failureHandlerRunId` names it; its `failureOf` names the failed run. Its
   * idempotency key (the engine's `onFailure:<runId>`) keeps it to one: if a run already holds the
   * key, nothing is created and `failureHandlerRunId` names that run.
   */
  failureHandler?: NewRun;
  /** Appended with seq lastSeq+1, lastSeq+2 … in this order, in the same transaction. */
  events: NewEvent[];
  /** Recorded in the same transaction; an existing record under the key is kept (first commit wins). */
  idempotency?: IdempotencyRecordInput;
  /** Let go of the run's lock once the commit is done. */
  release?: boolean;
  /**
   * Tell sleeping workers that this run has work (a SQL store NOTIFYs). With `release`, only once
   * the lock is let go: a worker woken while the lock is still held would find the run busy and
   * give up on it until its next poll.
   */
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
  /**
   * Commit a transition; returns the new row (and updates `run`). Throws `StaleRunError` on a fence
   * failure, `WaitAnsweredError` when a wait it times out has an answer (see `Transition.timedOutWaits`).
   */
  commit(transition: Transition): Promise<FlowRunRecord>;
  /** Re-read the row under the lock. */
  reload(): Promise<FlowRunRecord | null>;
  /** Let go of the lock. Safe to call more than once. */
  release(): Promise<void>;
  /**
   * Transactions for the attempts of transactional nodes (docs/transactions.md). Absent on a store
   * without database transactions (memory): such an attempt fails with `TRANSACTIONS_UNSUPPORTED`.
   */
  readonly transactions?: AttemptTransactions;
}

/** How a lease opens a transaction for one attempt of a transactional node. */
export interface AttemptTransactions {
  /**
   * While one is open, the store runs nothing else (PGlite: one session; its other statements
   * queue behind it). The holder then sends nothing through the store until the transaction ends,
   * or it would wait for itself.
   */
  readonly exclusive: boolean;
  /** Opens a transaction of the store's database (its own connection); `nodeId` names it in errors. */
  open(isolation: TransactionIsolation, nodeId: string): Promise<AttemptTransaction>;
}

/**
 * One open transaction of an attempt: the handler's writes go into it (`handle`, given as
 * `ctx.tx`), and the attempt's outcome is committed in it, fenced like every commit — so they
 * stay together or not at all. Ended exactly once, by `commit` or `rollback`; any use of `handle`
 * after that fails with `TransactionClosedError`.
 */
export interface AttemptTransaction {
  /** What the handler gets as `ctx.tx`: the driver's handle on this transaction. */
  readonly handle: unknown;
  /**
   * `lease.commit` inside this transaction, then COMMIT. Throws `StaleRunError` (rolled back:
   * the handler's writes are gone with the transition), `WaitAnsweredError` (nothing written, the
   * transaction still open: commit again), or a storage error (rolled back).
   */
  commit(transition: Transition): Promise<FlowRunRecord>;
  /** Rolls the transaction back (its connection destroyed when a statement of the handler is still in flight). Safe to call again. */
  rollback(): Promise<void>;
  /** `err` says the transaction lost a race with another (serialization failure 40001, deadlock 40P01): worth running the attempt again. */
  conflicted(err: unknown): boolean;
}

/** What `lockRun` may do besides locking. */
export interface LockRunOptions {
  /**
   * Lock the run only if it is due by the store's clock (RUNNING with `nextAttemptAt` unset or
   * past, or WAITING with a timer that is due); otherwise return null and hold nothing, not even
   * for an instant, as when another holder has the lock. For a worker claiming runs it was told
   * have work: a run that moved on meanwhile is never held, so a `resumeRun` or `tick` on it
   * never finds it busy.
   */
  onlyIfDue?: boolean;
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

/**
 * A run as a list shows it: the row without its JSON values (input, state, node outputs, attempts
 * per node), which a store then neither reads nor ships. The live branches stay: they say where
 * the run is.
 */
export type FlowRunSummary = Omit<FlowRunRecord, 'inputJson' | 'stateJson' | 'outputsJson' | 'attemptsJson' | 'compensation'>;

export interface RunFilter {
  status?: FlowRunStatus | FlowRunStatus[];
  flowId?: string;
  flowVersion?: string;
  tenantId?: string;
  /** Only the children of this run. */
  parentRunId?: string;
  /** Only the runs this schedule started. */
  scheduleId?: string;
  /** Only runs whose business outcome is this one (or one of these); runs without an outcome never match. */
  outcome?: string | string[];
  /** Page size (default 50, at most 1000). */
  limit?: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string;
  /**
   * Summaries only (`FlowRunSummary`): the store skips each run's input, state, outputs and
   * attempts, by far the largest and costliest part of a page (default false).
   */
  summary?: boolean;
}

export interface RunPage<R extends FlowRunSummary = FlowRunRecord> {
  runs: R[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
}

/** Which page of a run's timeline `getTimeline(runId, { after, limit })` reads. */
export interface TimelinePageOptions {
  /** The `seq` of the last event already read: the page starts after it (default 0: from the first event). */
  after?: number;
  /** Events on the page, 1 to 1000 (default 1000). */
  limit?: number;
}

/** A page of a run's timeline, in `seq` order. */
export interface TimelinePage {
  events: FlowEventRecord[];
  /**
   * Pass as `after` to read the next page (the `seq` of this page's last event); null when this
   * page reached the end of the timeline as it was when read. A live run's later events come
   * after its last event's `seq`: ask again with that.
   */
  nextCursor: number | null;
}

/**
 * Which finished runs `pruneRuns` deletes: one batch of at most `limit`. Only finished runs
 * (COMPLETED, FAILED, CANCELLED) are ever deleted, and never one that is locked (held by a lease),
 * one that has a child run still RUNNING or WAITING (the child's end goes to its parent's inbox),
 * or a child run whose parent is still RUNNING or WAITING (the parent's holder reads the child
 * when it applies the child's end, and finds it by its key when it runs the attempt again): a
 * child's end is never lost to retention.
 */
export interface PruneRunsQuery {
  /**
   * Runs that finished (their last write, `updatedAt`) before this time. A number: that many
   * milliseconds before now, by the store's clock (the database's, on SQL stores).
   */
  olderThan: Date | number;
  /** A subset of COMPLETED, FAILED, CANCELLED (default: all three); RUNNING and WAITING are refused. */
  status?: FlowRunStatus | FlowRunStatus[];
  flowId?: string;
  flowVersion?: string;
  /** Runs of these flows (`flowId@version`) are left alone (they have a retention of their own). */
  exceptFlowKeys?: string[];
  /** At most this many runs (1 to 10,000): one statement, one transaction on SQL stores. */
  limit: number;
}

export interface DueRunQuery {
  /** At most this many run ids. */
  limit: number;
  /** Only runs of these flows (`flowId@version`); undefined = any. */
  flowKeys?: string[];
}

/**
 * The run's position and version written anew by its holder (`rewriteRun`): a migration to
 * another version of its flow, or a FAILED/CANCELLED run going back to RUNNING (retry). Every
 * column named here is written as given; the rest of the row (input, outputs, idempotency key,
 * parent, outcome, failure handler) is kept.
 */
export interface RunRewrite {
  /** The `version` the holder read: nothing is written if the row moved since (returns null). */
  expectedVersion: number;
  flowVersion: string;
  status: 'RUNNING' | 'WAITING';
  currentNodeId: string | null;
  /** `BranchRecord[]`. */
  branches: JsonText;
  state: JsonText;
  /** `attemptsJson`. */
  attempts: JsonText;
  attempt: number;
  attemptInFlight: boolean;
  recoveries: number;
  nextAttemptAt: Date | null;
  waitReason: string | null;
  error: ErrorRecord | null;
  /** `CompensationLog` or null. */
  compensation: JsonText | null;
  compensated: boolean | null;
  /** Appended after the run's last event, in the same transaction. */
  events: NewEvent[];
}

/** A run made by `forkRun`: a new run, with the source's outputs of `copyOutputs` copied in the same transaction. */
export interface NewFork extends NewRun {
  forkedFrom: { runId: string; nodeId: string };
  /** Nodes whose stored output (in the source run) the fork starts with. */
  copyOutputs: string[];
  /** The source's business outcome as of the fork point (null for none). */
  outcome: string | null;
}

/** Unfinished runs of one `flowId@version` (`countLiveRuns`). */
export interface LiveRunCount {
  flowId: string;
  version: string;
  /** RUNNING and WAITING runs. */
  unfinished: number;
}

export interface FlowStorage {
  /** 'memory' | 'postgres' | 'pglite' | 'prisma' — for logs and the health endpoint. */
  readonly kind: string;
  /** True when data outlives the process. */
  readonly durable: boolean;
  /**
   * True when the database runs inside this process, on its event loop (PGlite): its heavy reads
   * hold up everything else the process does, so the HTTP server bounds how many run at once.
   */
  readonly embedded?: boolean;

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
  /**
   * Debounce: the run of `flowId@flowVersion` with debounce key `key` that has not begun yet
   * (RUNNING, no step begun, nobody holds it) takes `input` and is due `delayMs` from now by the
   * store's clock — never later than `maxWaitMs` after it was created; its version moves, so a
   * holder that read it before cannot commit. Null (nothing written) when there is no such run:
   * the caller creates one.
   */
  joinDebouncedRun(query: DebounceJoin): Promise<FlowRunRecord | null>;
  /** Newest first (ties by run id, descending); with `summary: true`, runs without their JSON values. */
  listRuns(filter: RunFilter & { summary: true }): Promise<RunPage<FlowRunSummary>>;
  listRuns(filter: RunFilter & { summary?: false }): Promise<RunPage>;
  listRuns(filter: RunFilter): Promise<RunPage<FlowRunSummary>>;
  /**
   * The run's timeline in `seq` order; with `range`, only events after `afterSeq` (default 0),
   * at most `limit` of them (default: all). [] for a run that does not exist.
   */
  getEvents(runId: string, range?: EventRange): Promise<FlowEventRecord[]>;
  /** The stored item list and finished item outputs of the map at `nodeId` (for the run's holder). */
  getMapValues(runId: string, nodeId: string): Promise<MapValues>;

  /**
   * Without the lock: put an answer to one of the run's waits in its inbox and wake its holder
   * (NOTIFY on SQL). Returns false, writing nothing, when the run does not exist, when that wait
   * (`runId`, `waitId`) already has an entry — of concurrent answers to one wait exactly one is
   * taken — or when the run's branch `branchId` no longer waits at `waitId` (checked against the
   * newest committed row, after any commit of the run in progress: an answer is never taken for a
   * wait that another answer already ended).
   */
  addToInbox(entry: NewInboxEntry): Promise<boolean>;
  /** The run's inbox, in arrival order. */
  getInbox(runId: string): Promise<InboxEntry[]>;
  /**
   * Store an event and, in the same transaction, put it in the inbox of every registered wait for
   * its name and key (a wait with key null matches any key), waking their runs. Serialized with
   * `addWaits` of the same name, so that no event and wait can miss each other.
   */
  sendEvent(event: NewFlowEvent): Promise<SentEvent>;
  /**
   * Delete stored events sent before `before`, at most `limit`, oldest first; returns how many.
   * Never an event an inbox entry still names (its delivery has not been applied yet): the entry
   * reads the payload from it. Skips, never waits for, an event a commit is delivering meanwhile.
   */
  pruneEvents(before: Date, limit: number): Promise<number>;
  /**
   * Delete one batch of finished runs (see `PruneRunsQuery`) with everything that belongs to them:
   * events, node values, inbox entries, event waits and receipts, and the idempotency records
   * their steps committed. Returns how many runs were deleted. Locked runs are skipped, never
   * waited for, and nothing a worker holds is blocked (SQL: `FOR UPDATE SKIP LOCKED`). Parent and
   * child keep each other while the other is RUNNING or WAITING; a child run outlives its deleted
   * parent (its `parentRunId` then names no run).
   */
  pruneRuns(query: PruneRunsQuery): Promise<number>;
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
   *
   * The cancelled run keeps no live branch (`branches` is emptied; `currentNodeId` still says
   * where it was), and every unfinished descendant run (children, theirs…) is cancelled in the same
   * statement, with a RUN_CANCELLED event each (see `Transition.cancelChildren`): a crash never
   * leaves a child waiting under a cancelled parent. Their ids go to the `onRunsCancelled` listeners.
   *
   * Rule of every store, for this and for any commit that ends a run (COMPLETED, FAILED,
   * CANCELLED): in the same transaction, a run with a parent puts a `child` entry
   * (`{ childRunId, status }`) in its parent's inbox and wakes it, and the run's event waits
   * are unregistered.
   */
  cancelRun(runId: string, events: NewEvent[], error: ErrorRecord): Promise<FlowRunRecord | null>;

  /** Runs a worker should pick up now: RUNNING and due, WAITING with a due timer, or RUNNING/WAITING with inbox entries. Decided by the store's clock. */
  findDueRuns(query: DueRunQuery): Promise<string[]>;
  /** Milliseconds until the earliest due time still in the future among RUNNING/WAITING runs; null if none (due times already past do not count). */
  msUntilNextDue(flowKeys?: string[]): Promise<number | null>;
  /** Wake-ups for sleeping workers (a run was started, resumed, or scheduled). Returns an unsubscribe function. */
  onWake(listener: (runId: string) => void): () => void;
  /**
   * Optional: told the ids of the runs this store object cancelled as descendants (a `cancelRun`'s
   * or a commit's cascade), once the write is done, so the engine aborts their attempts in flight
   * in this process. Returns an unsubscribe function.
   */
  onRunsCancelled?(listener: (runIds: readonly string[]) => void): () => void;
  /**
   * Optional: resolves once wake-ups from other processes reach the listeners of `onWake` (on
   * Postgres, once LISTEN is in place); a worker waits for it before it says it has started, so
   * that no announcement made after that is missed.
   */
  wakeReady?(): Promise<void>;
  /**
   * Optional: told the number of commits each grouped write carried (group commit, SQL stores),
   * for the `hazel_flow_commit_batch_size` histogram. Returns an unsubscribe function.
   */
  onCommitBatch?(listener: (commits: number) => void): () => void;

  // ---- Schedules (schedule-types.ts) ----

  /**
   * Insert (`expectedRevision` null) or replace (the row must still be at `expectedRevision`) a
   * schedule. Returns null, writing nothing, when it exists already / has moved.
   */
  saveSchedule(schedule: ScheduleWrite, expectedRevision: number | null): Promise<ScheduleRecord | null>;
  getSchedule(scheduleId: string): Promise<ScheduleRecord | null>;
  /** By schedule id. */
  listSchedules(filter: { flowId?: string }): Promise<ScheduleRecord[]>;
  /** Deletes the schedule (its runs stay, with their `scheduleId`); false when there was none. */
  deleteSchedule(scheduleId: string): Promise<boolean>;
  /**
   * Claims up to `limit` schedules that are due by the store's clock (not paused, `dueAt` past)
   * and not claimed by someone else, earliest first, for `leaseMs`; across processes, each is
   * claimed by one (SQL: `FOR UPDATE SKIP LOCKED`). A claim whose holder died ends with its lease.
   */
  claimDueSchedules(query: { limit: number; leaseMs: number }): Promise<ScheduleClaim>;
  /** One step of a claimed schedule (see `ScheduleStep`), in one transaction; null when its revision moved. */
  fireSchedule(step: ScheduleStep): Promise<ScheduleStepResult | null>;
  /** Milliseconds until the earliest `dueAt` still in the future among active schedules; null if none. */
  msUntilNextSchedule(): Promise<number | null>;

  // ---- Versions, migration and re-runs (engine/versions.ts) ----

  /**
   * Under the run's lock: write its position and version anew (see `RunRewrite`), fenced by
   * `expectedVersion`, with its events, and wake its workers. Null, writing nothing, when the
   * row moved (or the run is gone).
   */
  rewriteRun(runId: string, rewrite: RunRewrite): Promise<FlowRunRecord | null>;
  /** Insert a forked run with its first events and the source's outputs it keeps, in one transaction. */
  forkRun(fork: NewFork): Promise<FlowRunRecord>;
  /** Unfinished runs per `flowId@version` (only versions that have some). */
  countLiveRuns(): Promise<LiveRunCount[]>;
  // ---- Operations: the gauges of `engine.metrics()` and the workers' registry ----

  /** How many runs there are, per flow, version and status (for the `hazel_flow_runs` gauge). */
  countRuns(): Promise<RunCount[]>;
  /** The runs due now (the rule of due.ts, by the store's clock), per flow and version, with how long the oldest has been due. */
  countDueRuns(): Promise<DueRunCount[]>;
  /**
   * Insert or refresh a worker's row (`lastSeenAt` = the store's now) and, in the same statement,
   * delete the rows of workers silent for longer than `WORKER_DROP_AFTER_BEATS` of their own heartbeats.
   */
  recordWorker(worker: WorkerBeat): Promise<void>;
  /** Delete a worker's row (it stopped). */
  removeWorker(workerId: string): Promise<void>;
  /** The workers recorded, oldest first, each `live` or `silent` by the store's clock; those due for deletion are left out. */
  listWorkers(): Promise<WorkerRecord[]>;
}

/** One row of `countRuns`. */
export interface RunCount {
  flowId: string;
  flowVersion: string;
  status: FlowRunStatus;
  count: number;
}

/** One row of `countDueRuns`: a flow version with runs due now. */
export interface DueRunCount {
  flowId: string;
  flowVersion: string;
  /** Runs due now. */
  due: number;
  /**
   * Seconds since the oldest of them became due, by the store's clock: since its due time
   * (`nextAttemptAt`), its oldest inbox entry (an answer to a wait), or its last write (a run due
   * at once, `nextAttemptAt` unset).
   */
  oldestDueSeconds: number;
}

/** What a worker writes of itself at each refresh (`recordWorker`). */
export interface WorkerBeat {
  workerId: string;
  /** The machine's host name. */
  host: string;
  pid: number;
  startedAt: Date;
  /** How often it refreshes its row: it is silent after `WORKER_SILENT_AFTER_BEATS` of them missed. */
  heartbeatMs: number;
  /** `flowId@version` of the flows it serves. */
  flowKeys: string[];
  concurrency: number;
  /** Runs it advances right now. */
  inFlight: number;
}

/** A worker as `listWorkers` shows it. */
export interface WorkerRecord extends WorkerBeat {
  /** Its last refresh, by the store's clock. */
  lastSeenAt: Date;
  /** `live`, or `silent` once `WORKER_SILENT_AFTER_BEATS` refreshes were missed (crashed, frozen or cut off). */
  status: 'live' | 'silent';
}

/** A worker that missed this many refreshes in a row is shown `silent`. */
export const WORKER_SILENT_AFTER_BEATS = 3;
/** A worker silent for this many of its refreshes is deleted (with the default 10 s heartbeat: 5 minutes). */
export const WORKER_DROP_AFTER_BEATS = 30;
