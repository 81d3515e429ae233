/**
 * The run's state machine, as data: the run statuses and which of them are finished, the states
 * of a branch (a token walking the graph) and of a map item, and the one table of moves between
 * them. The engine builds the next state; `moveBranch` / `moveItem` check the move and are the
 * only way a stored branch changes state. Every store, the SQL included (through
 * `sqlStatusList`), reads the status sets from here.
 *
 * A branch carries, per state, only the fields that mean something in it: what a WAITING branch
 * waits for (`waitFor`: a timer, a manual resume, an event, a child run) with that wait's own
 * fields; a RETRY its due time and the error that caused it; a FAILED branch why. A new state
 * (delayed start, throttled…) is a new member of the union and a new row of the table.
 */
import { FlowError, type ErrorRecord } from '../errors.js';

/** Run status as stored (the database enum has the same values). */
export type FlowRunStatus = 'RUNNING' | 'WAITING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';

export const RUN_STATUSES: readonly FlowRunStatus[] = ['RUNNING', 'WAITING', 'COMPLETED', 'FAILED', 'CANCELLED'];
/** A run in one of these has work left or waits for it: it can be claimed, answered, cancelled. */
export const LIVE_STATUSES: readonly FlowRunStatus[] = ['RUNNING', 'WAITING'];
/** A run in one of these is over: nothing moves it again, and retention may delete it. */
export const FINISHED_STATUSES: readonly FlowRunStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

export function isFinished(status: FlowRunStatus): boolean {
  return FINISHED_STATUSES.includes(status);
}

/** A status set as a SQL list of literals (`'RUNNING', 'WAITING'`): the statements spell the sets from here. */
export function sqlStatusList(statuses: readonly FlowRunStatus[]): string {
  return statuses.map((s) => `'${s}'`).join(', ');
}

/** The failure a `catch` routed (`ctx.error`): the node that failed for good, why, and at which attempt. */
export interface CaughtError {
  nodeId: string;
  code: string;
  message: string;
  attempt: number;
}

// ---- branches --------------------------------------------------------------------------

/** What every branch has, whatever its state. */
interface BranchBase {
  /** `b<seq>`: the timeline sequence number of the event that created it (`b1` is the run's first branch). */
  branchId: string;
  nodeId: string;
  /** The current (or last) attempt at this node: 1 on the first; 0 before any. The timeline's number. */
  attempt: number;
  /** Interrupted attempts in a row at this node (poison-pill guard). */
  recoveries: number;
}

/** What the next attempt at the node will be given, kept from the move that made the branch ready. */
interface AttemptContext {
  /** A resume's (or event's) payload, shown to this branch's attempts as `ctx.state._resumePayload`. */
  resumePayload?: unknown;
  /** The event wait's `timeoutMs` passed without an event: the next attempt sees `ctx.meta.waitTimedOut`. */
  waitTimedOut?: boolean;
  /** The joined node only: ids of the branches it gathered. */
  joined?: string[];
  /** The current attempt's name, kept when an interrupted attempt is re-run (a child run is started once per name). */
  attemptKey?: number;
  /** The branch came here by a `catch`: the failure it caught, shown to the node as `ctx.error`. */
  caught?: CaughtError;
}

/** Due to begin its node's next attempt now. */
export interface ReadyBranch extends BranchBase, AttemptContext {
  status: 'READY';
}

/** An attempt is in flight (or, for a `forEach` node, its items are: `map`). */
export interface RunningBranch extends BranchBase, AttemptContext {
  status: 'RUNNING';
  map?: MapProgress;
}

/** A failed attempt's retry is scheduled. */
export interface RetryBranch extends BranchBase, AttemptContext {
  status: 'RETRY';
  /** ISO-8601, the store's clock. */
  dueAt: string;
  /** The failed attempt's error. */
  error: ErrorRecord;
}

/** What a WAITING branch waits for. */
export type BranchWait =
  /** A `wait` result with an ISO `until`: a durable timer. */
  | { waitFor: 'timer'; dueAt: string }
  /** A `wait` result without a timer: `resumeRun` answers it. */
  | { waitFor: 'resume' }
  /** A `wait` result with `event`: `sendEvent` answers it; `dueAt` is its `timeoutMs`, if any. */
  | { waitFor: 'event'; event: { name: string; key: string | null }; dueAt: string | null }
  /** The node started a child run: the child's end answers it. */
  | { waitFor: 'child'; child: { runId: string } };

export type WaitKind = BranchWait['waitFor'];

/** Parked at its node until its wait is answered (or its timer fires). */
export type WaitingBranch = BranchBase & {
  status: 'WAITING';
  /** Which wait this is (the sequence number of the event that parked it): answers name it. */
  waitId: number;
  /** The `reason` the node gave, or what a child wait is for. */
  waitReason: string | null;
} & BranchWait;

/** Arrived at a `join: 'all'` node; waits for the other branches that can still reach it. */
export interface JoiningBranch extends BranchBase {
  status: 'JOINING';
}

/** The branch that failed the run (kept on the FAILED run for the record; not live). */
export interface FailedBranch extends BranchBase {
  status: 'FAILED';
  error: ErrorRecord;
  /** A `forEach` node's progress when it failed, with the item that failed it. */
  map?: MapProgress;
}

/**
 * One branch of a run, as stored in the run row (`branches`). A run without `split` nodes has one.
 * A finished run has no live branch: COMPLETED and CANCELLED runs none at all, a FAILED run only
 * the FAILED branch that failed it.
 */
export type BranchRecord = ReadyBranch | RunningBranch | RetryBranch | WaitingBranch | JoiningBranch | FailedBranch;
export type BranchStatus = BranchRecord['status'];

/** Progress of a map (a `forEach` node's RUNNING branch). Items are begun in index order. */
export interface MapProgress {
  total: number;
  concurrency: number;
  /** Items finished (their outputs are stored). */
  done: number;
  /** Items [0, started) have been begun at least once; those not in `items` are done. */
  started: number;
  /** Begun but unfinished items: at most `concurrency`. */
  items: MapItemRecord[];
}

interface ItemBase {
  index: number;
  attempt: number;
  recoveries: number;
}

export type MapItemRecord =
  | (ItemBase & { status: 'READY'; attemptKey?: number })
  | (ItemBase & { status: 'RUNNING'; attemptKey?: number })
  | (ItemBase & { status: 'RETRY'; dueAt: string; error: ErrorRecord })
  /** Its handler started a child run: the child's end answers it. */
  | (ItemBase & { status: 'WAITING'; waitId: number; child: { runId: string } })
  | (ItemBase & { status: 'FAILED'; error: ErrorRecord });
export type MapItemStatus = MapItemRecord['status'];

// ---- the moves -------------------------------------------------------------------------

/**
 * Every allowed change of a branch's state (leaving the run — it ended, was joined or aborted —
 * is not a state: the branch is gone). READY → READY and RUNNING → READY are moves to the next
 * node; RUNNING → READY is also an interrupted attempt to re-run; WAITING → RUNNING is a child's
 * end, applied as the waiting attempt's outcome.
 */
export const BRANCH_MOVES: { readonly [S in BranchStatus]: readonly BranchStatus[] } = {
  READY: ['READY', 'RUNNING', 'JOINING', 'FAILED'],
  RUNNING: ['READY', 'RUNNING', 'RETRY', 'WAITING', 'FAILED'],
  RETRY: ['RUNNING', 'FAILED'],
  WAITING: ['READY', 'RUNNING', 'FAILED'],
  JOINING: ['READY'],
  FAILED: [],
};

export const ITEM_MOVES: { readonly [S in MapItemStatus]: readonly MapItemStatus[] } = {
  READY: ['RUNNING'],
  RUNNING: ['READY', 'RETRY', 'WAITING', 'FAILED'],
  RETRY: ['RUNNING', 'FAILED'],
  WAITING: ['RUNNING'],
  FAILED: [],
};

/**
 * Puts branch `b` in state `next`, in place (the draft holds references to it), after checking
 * the move against `BRANCH_MOVES`. Fields of the old state that the new one does not have go.
 */
export function moveBranch(b: BranchRecord, next: BranchRecord): void {
  if (!BRANCH_MOVES[b.status].includes(next.status)) throw illegalMove(`branch ${b.branchId} at node "${b.nodeId}"`, b.status, next.status);
  replaceFields(b, next);
}

export function moveItem(item: MapItemRecord, next: MapItemRecord): void {
  if (!ITEM_MOVES[item.status].includes(next.status)) throw illegalMove(`map item ${item.index}`, item.status, next.status);
  replaceFields(item, next);
}

function replaceFields(target: object, next: object): void {
  if (target === next) return;
  const t = target as Record<string, unknown>;
  for (const key of Object.keys(t)) if (!Object.hasOwn(next, key)) delete t[key];
  Object.assign(t, next);
}

function illegalMove(what: string, from: string, to: string): FlowError {
  return FlowError.nonRetryable('ILLEGAL_STATE_MOVE', `Internal error: ${what} cannot move from ${from} to ${to}`);
}

/** Branches that take part in the run (a FAILED one only records where the run failed). */
export function isLiveBranch(b: BranchRecord): boolean {
  return b.status !== 'FAILED';
}

/** When the branch (or item) can go on by itself, if it has such a time: a retry's, a timer's, an event wait's timeout. */
export function dueAtOf(b: BranchRecord | MapItemRecord): string | null {
  return 'dueAt' in b ? b.dueAt : null;
}

/** The error a branch (or item) holds: a RETRY's last failure, or why it FAILED. */
export function errorOf(b: BranchRecord | MapItemRecord): ErrorRecord | null {
  return 'error' in b ? b.error : null;
}

/** The map of a `forEach` node's branch: in progress (RUNNING), or as it was when it failed the run (FAILED). */
export function mapOf(b: BranchRecord): MapProgress | undefined {
  return b.status === 'RUNNING' || b.status === 'FAILED' ? b.map : undefined;
}

/** The child run a WAITING branch waits for. */
export function childOf(b: BranchRecord | MapItemRecord): { runId: string } | undefined {
  return b.status === 'WAITING' && 'child' in b ? b.child : undefined;
}

/** The event a WAITING branch waits for. */
export function eventOf(b: BranchRecord): { name: string; key: string | null } | undefined {
  return b.status === 'WAITING' && b.waitFor === 'event' ? b.event : undefined;
}

/** Why a WAITING branch waits (the node's `reason`, or the child flow). */
export function waitReasonOf(b: BranchRecord): string | null {
  return b.status === 'WAITING' ? b.waitReason : null;
}

/** Child runs the branches (or their map items) wait for. */
export function awaitedChildren(branches: readonly BranchRecord[]): string[] {
  const ids: string[] = [];
  for (const b of branches) {
    const child = childOf(b);
    if (child) ids.push(child.runId);
    for (const item of mapOf(b)?.items ?? []) {
      const c = childOf(item);
      if (c) ids.push(c.runId);
    }
  }
  return ids;
}

/**
 * Branches as read from a row written by an older version, whose WAITING branches had no
 * `waitFor`: it is derived from the fields they had (`child`, `event`, a timer's `dueAt`).
 * Rows written now pass through unchanged.
 */
export function readBranches(stored: unknown): BranchRecord[] {
  const list = stored as Array<Record<string, unknown>>;
  if (!Array.isArray(list) || list.every((b) => b.status !== 'WAITING' || typeof b.waitFor === 'string')) return list as unknown as BranchRecord[];
  return list.map((b) => {
    if (b.status !== 'WAITING' || typeof b.waitFor === 'string') return b;
    const waitFor: WaitKind = b.child ? 'child' : b.event ? 'event' : b.dueAt ? 'timer' : 'resume';
    return { ...b, waitId: b.waitId ?? 0, waitReason: b.waitReason ?? null, waitFor, ...(waitFor === 'event' ? { dueAt: b.dueAt ?? null } : {}) };
  }) as unknown as BranchRecord[];
}

// ---- compensation ----------------------------------------------------------------------

/**
 * A finished node whose undo may be asked for: a node with a `compensate` handler (one item of
 * a `forEach` node per entry), or a node whose output came from a child run that has
 * compensations of its own (`childRunId`). Recorded in the order the nodes finish.
 */
export interface CompensationTarget {
  nodeId: string;
  branchId: string;
  /** Items of a `forEach` node, in the order they finished (consecutive finishes share an entry). */
  items?: number[];
  /** The child run whose completion finished this node: its compensations follow the node's own. */
  childRunId?: string;
  /** The node has no `compensate` of its own: only the child run's compensations undo it. */
  childOnly?: true;
}

/** One compensation to run: one node, or one item of a `forEach` node, with its attempts. */
interface StepBase {
  nodeId: string;
  branchId: string;
  itemIndex?: number;
  /** Set when the node belongs to a child run, undone from here. */
  runId?: string;
  /** Set on a step that undoes a child run: replaced by that run's own steps when it comes up. */
  childRunId?: string;
  attempt: number;
  recoveries: number;
}

export type CompensationStep =
  | (StepBase & { status: 'READY'; attemptKey?: number })
  | (StepBase & { status: 'RUNNING'; attemptKey: number })
  | (StepBase & { status: 'RETRY'; dueAt: string; error: ErrorRecord });
export type CompensationStepStatus = CompensationStep['status'];

export const STEP_MOVES: { readonly [S in CompensationStepStatus]: readonly CompensationStepStatus[] } = {
  READY: ['RUNNING'],
  RUNNING: ['READY', 'RETRY'],
  RETRY: ['RUNNING'],
};

export function moveStep(step: CompensationStep, next: CompensationStep): void {
  if (!STEP_MOVES[step.status].includes(next.status)) throw illegalMove(`compensation of node "${step.nodeId}"`, step.status, next.status);
  replaceFields(step, next);
}

/**
 * A run undoing what it did: it failed (an uncaught failure) or was cancelled with
 * `{ compensate: true }`. The steps run one at a time, newest finish first; a step that fails
 * for good is counted and the next one goes on. When none is left the run ends FAILED or
 * CANCELLED with `compensated: failures === 0`.
 */
export interface CompensationPhase {
  cause: 'failed' | 'cancelled';
  /** What the run ends with (the failure, or the cancel). */
  error: ErrorRecord;
  /** Where the run failed (null for a cancel). */
  failedNodeId: string | null;
  /** The failed attempt's number, shown in `ctx.error` (0 for a cancel). */
  failedAttempt: number;
  /** What is left, next first (`steps[0]` is the one in progress). */
  steps: CompensationStep[];
  /** Compensations that failed for good so far. */
  failures: number;
}

/**
 * The run's compensation column: what finished and could be undone (`finished`, while the run
 * goes on), and, once the run is undoing it, the phase. Null on a run that never finished a node
 * with anything to undo.
 */
export interface CompensationLog {
  finished: CompensationTarget[];
  phase: CompensationPhase | null;
}
