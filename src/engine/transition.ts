/**
 * One transition of a run, built as a draft over the run as last committed: recover attempts a
 * dead holder left in flight, wake due timers, apply one attempt's outcome, gather joins, begin
 * whatever is ready — then `toTransition()` gives the one fenced commit that writes all of it
 * (run row, node values, events, idempotency record). The draft decides *what* changes; the
 * driver (advance.ts) decides *when* and runs the handlers; the store decides *how* to write.
 *
 * Rules kept here and nowhere else:
 * - edges: without `split`, the highest-priority matching edge (two at the top = AMBIGUOUS_EDGE,
 *   none = the branch ends); with `split: 'all'`, every matching edge starts a branch;
 * - joins: `'all'` parks arriving branches until no other live branch can reach the join node,
 *   then goes on as one branch; `'any'` goes on with the first arrival and aborts every other
 *   live branch that could still reach it;
 * - maps: items begin in index order, at most `concurrency` unfinished at once; the node's output
 *   is the item outputs in item order; an item that fails after its retries fails the node;
 * - a branch that fails after its retries fails the run and aborts the others;
 * - outcomes: an ok result's `outcome` (a map item's too, a cached result's when its record has
 *   one) becomes the run's, replacing the one before; it is kept whatever the run ends with.
 */
import { FlowError, SerializationError, toErrorRecord, type ErrorRecord } from '../errors.js';
import { DEFAULT_FOREACH_CONCURRENCY, type FlowContext, type FlowDefinition, type NodeDefinition, type RetryPolicy } from '../definitions/types.js';
import { catchTarget } from '../definitions/catch.js';
import { flowKey } from '../definitions/flow-key.js';
import type { EventWait, FlowRunRecord, InboxEntry, JsonText, NewEvent, NodeValueWrite, Transition } from '../storage/types.js';
import {
  awaitedChildren,
  mapOf,
  moveBranch,
  moveItem,
  moveStep,
  type BranchRecord,
  type CompensationLog,
  type CompensationPhase,
  type CompensationStep,
  type MapItemRecord,
  type RunningBranch,
  type WaitingBranch,
} from '../core/states.js';
import { compensatingSummary, copyLog, hasCompensation, logFinished, stepsToUndo, type FinishedNode } from './compensation.js';
import type { AttemptOutcome } from './attempt.js';
import { retryDelayMs } from './backoff.js';
import { canReach, enterNode, isDue, isLive, mapRoom, newItem, summarize, type RunSummary } from './branches.js';
import { heldBackNote, timeline, type EventSite } from './timeline.js';
import { buildContext, type ContextEnv } from './context.js';
import { selectNextNode } from './edges.js';
import { checkJsonSize, serializeJson, toStorableText } from '../core/json.js';
import { deepMerge } from './merge.js';

/** What building a transition needs of the engine. */
export interface TransitionEnv extends ContextEnv {
  maxJsonBytes: number;
  /** Interrupted attempts tolerated at one node (or item) before the run fails (poison-pill guard). */
  maxRecoveries: number;
}

/** An attempt's result, as the driver hands it to the draft. */
export interface FinishedAttempt {
  branchId: string;
  nodeId: string;
  itemIndex?: number;
  attempt: number;
  outcome: AttemptOutcome;
  /** Null for an outcome that is not an attempt's own (a child run's end). */
  durationMs: number | null;
  idemKey?: string;
  /** The result came from a committed idempotency record, not the handler. */
  cached: boolean;
  /** The outcome is a child run's end: the child, and whether it has compensations of its own. */
  child?: { runId: string; undoable: boolean };
  /** An attempt of the node's `compensate` (of a child run's node: `runId`), under the node's retry policy. */
  compensation?: { runId?: string; retry?: RetryPolicy };
}

/** An attempt the committed transition began: the driver runs its handler. */
export interface BegunAttempt {
  branchId: string;
  nodeId: string;
  attempt: number;
  itemIndex?: number;
  /** Names this attempt across an interruption (the re-run of an interrupted attempt keeps it): a child run is started once per key. */
  attemptKey: number;
  /** An attempt of the node's `compensate` (`runId`: of a child run's node), not of its handler. */
  compensation?: { runId?: string };
}

/** Where a map's item values are kept: per branch and node, so two branches never share them. */
export const mapKey = (branchId: string, nodeId: string): string => `${nodeId}#${branchId}`;

/** Items and finished item outputs of the maps being driven, kept by the driver between commits. */
export interface MapCache {
  items: unknown[];
  outputs: Map<number, unknown>;
}

/** Where `resumeRun`'s payload is shown to the resumed node (the seed's convention). */
export const RESUME_PAYLOAD_KEY = '_resumePayload';

/** An ISO-8601 `until` is a durable timer; anything else ('manual', a label) waits for resumeRun. */
export function parseTimer(until: string | undefined): Date | null {
  if (until === undefined) return null;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(until)) return null;
  const ms = Date.parse(until);
  return Number.isNaN(ms) ? null : new Date(ms);
}

/**
 * Error text comes from handlers and may hold U+0000 or lone surrogates, which Postgres refuses:
 * such a commit would fail on every retry and strand the run. Made storable before any store sees it.
 */
export function storableError(error: ErrorRecord): ErrorRecord {
  const out: ErrorRecord = { code: toStorableText(String(error.code)), message: toStorableText(String(error.message)) };
  if (error.retryable !== undefined) out.retryable = error.retryable;
  return out;
}

const nonRetryable = (code: string, message: string): ErrorRecord => ({ code, message, retryable: false });

/** The node or map item an attempt outcome belongs to. */
type Slot = { b: RunningBranch; item?: undefined } | { b: RunningBranch; item: MapItemRecord };

const siteOf = (b: BranchRecord, itemIndex?: number): EventSite => ({ nodeId: b.nodeId, branchId: b.branchId, itemIndex });
const stepSite = (step: CompensationStep): EventSite => ({ nodeId: step.nodeId, branchId: step.branchId, itemIndex: step.itemIndex });

/** The fields of a compensation step that stay with it in every state. */
function stepBase(step: CompensationStep) {
  return {
    nodeId: step.nodeId,
    branchId: step.branchId,
    ...(step.itemIndex === undefined ? {} : { itemIndex: step.itemIndex }),
    ...(step.runId === undefined ? {} : { runId: step.runId }),
  };
}

/** What carries over from an attempt to the next attempt at the same node (a retry, a map starting): what the node is given. */
function attemptContext(b: BranchRecord) {
  const keep: Pick<RunningBranch, 'resumePayload' | 'waitTimedOut' | 'joined' | 'caught'> = {};
  if (b.status === 'WAITING' || b.status === 'JOINING' || b.status === 'FAILED') return keep;
  if (b.resumePayload !== undefined) keep.resumePayload = b.resumePayload;
  if (b.waitTimedOut) keep.waitTimedOut = true;
  if (b.joined) keep.joined = b.joined;
  if (b.caught) keep.caught = b.caught;
  return keep;
}

export class RunDraft {
  branches: BranchRecord[];
  readonly events: NewEvent[] = [];
  readonly values: NodeValueWrite[] = [];
  readonly clearMaps: string[] = [];
  /** Attempts begun by this transition, for the driver to run once it is committed. */
  readonly begun: BegunAttempt[] = [];
  /** Branches this transition removed while they may have attempts in flight (joins, failure). */
  readonly stopped: string[] = [];
  /** A child's end was left in the inbox for a later transition (see `applyInbox`). */
  deferredInbox = false;
  /** Child runs started for outcomes of this draft (their branch may be aborted before the commit), and those whose end it applied. */
  private readonly childrenStarted: string[] = [];
  private readonly childrenEnded = new Set<string>();
  /** Inbox entries applied, event waits registered / ended, events received: written with the transition. */
  private readonly consumed: number[] = [];
  private readonly addWaits: EventWait[] = [];
  private readonly endWaits: Array<{ branchId: string; waitId: number }> = [];
  private readonly receipts: string[] = [];
  private readonly timedOut: Array<{ branchId: string; waitId: number }> = [];
  /** Maps this transition started, and item outputs it recorded, for the driver's cache. */
  readonly mapsStarted: Array<{ branchId: string; nodeId: string; items: unknown[] }> = [];
  readonly itemOutputs: Array<{ branchId: string; index: number; value: unknown }> = [];
  private state: Record<string, unknown>;
  private stateChanged = false;
  private attempts: Record<string, number>;
  private attemptsChanged = false;
  private idempotency: Transition['idempotency'];
  private failure: { nodeId: string | null; error: ErrorRecord } | null = null;
  /** What the run finished that could be undone, and its compensation once it undoes it. */
  private compensation: CompensationLog | null;
  private compensationChanged = false;
  /** Set when this transition ends the run's compensation. */
  private compensated: boolean | undefined;
  /** The child run whose compensations come up next, when the driver has not given it yet (`beginCompensation`). */
  needsChild: string | null = null;
  /** The business outcome this transition sets as the run's (the last one applied), if any. */
  private runOutcome: string | undefined;
  /** Node outputs as they will be after this transition (for edge conditions). */
  private outputs: Record<string, unknown>;

  /** The held-back note was considered (only the draft's first begin may carry it). */
  private heldBackNoted = false;

  constructor(
    private readonly run: FlowRunRecord,
    private readonly def: FlowDefinition,
    private readonly env: TransitionEnv,
    /** The store's clock now (see branches.ts). */
    private readonly nowMs: number,
    private readonly maps: ReadonlyMap<string, MapCache>,
  ) {
    // Copies: the record's objects may be shared with the store's cache (memory) and must not change.
    this.branches = run.branches.map((b) =>
      b.status === 'RUNNING' && b.map ? { ...b, map: { ...b.map, items: b.map.items.map((i) => ({ ...i })) } } : { ...b },
    );
    this.state = run.stateJson;
    this.attempts = run.attemptsJson;
    this.outputs = run.outputsJson;
    this.compensation = copyLog(run.compensation);
    // A run undoing what it did is ending: nothing but its compensation moves any more.
    const phase = this.compensation?.phase;
    if (phase) this.failure = { nodeId: phase.failedNodeId, error: phase.error };
  }

  private get phase(): CompensationPhase | null {
    return this.compensation?.phase ?? null;
  }

  get failed(): boolean {
    return this.failure !== null;
  }

  /** True when committing would change nothing. */
  get empty(): boolean {
    return (
      this.events.length === 0 &&
      !this.stateChanged &&
      !this.compensationChanged &&
      this.values.length === 0 &&
      this.consumed.length === 0 &&
      this.abandoned().length === 0
    );
  }

  /** The children nothing waits for any more since the run's last commit: cancelled with this one (`Transition.cancelChildren`). */
  private abandoned(): string[] {
    return abandonedChildren([...awaitedChildren(this.run.branches), ...this.childrenStarted], this.branches, this.childrenEnded);
  }

  // ---- recovery, timers, resumes ---------------------------------------------------------

  /** Attempts a previous holder began and never committed: record them as interrupted, or fail the run past the limit. */
  recoverInterrupted(): void {
    const step = this.phase?.steps[0];
    if (step?.status === 'RUNNING') {
      moveStep(step, { ...step, status: 'READY', recoveries: step.recoveries + 1 });
      this.compensationChanged = true;
      const error = {
        code: 'ATTEMPT_INTERRUPTED',
        message: `Attempt ${step.attempt} of the compensation of node "${step.nodeId}" was interrupted (its worker stopped or lost its lock before committing)`,
        retryable: true,
      };
      this.events.push(timeline.nodeInterrupted(stepSite(step), step.attempt, error));
      if (step.recoveries > this.env.maxRecoveries) {
        const poison = nonRetryable(
          'POISON_PILL',
          `The compensation of node "${step.nodeId}" was interrupted ${step.recoveries} times in a row (limit ${this.env.maxRecoveries})`,
        );
        this.stepFailedForGood(step, null, poison);
      }
    }
    for (const b of [...this.branches]) {
      if (this.failed) return;
      if (b.status !== 'RUNNING') continue;
      if (!b.map) {
        // Re-run under the same attempt name (`attemptKey`): a child it started is found again.
        moveBranch(b, { ...b, status: 'READY', recoveries: b.recoveries + 1 });
        this.interrupted(b, b.attempt, b.recoveries, undefined);
        continue;
      }
      for (const item of b.map.items) {
        if (this.failed || item.status !== 'RUNNING') continue;
        moveItem(item, { ...item, status: 'READY', recoveries: item.recoveries + 1 });
        this.interrupted(b, item.attempt, item.recoveries, item.index);
      }
    }
  }

  private interrupted(b: BranchRecord, attempt: number, recoveries: number, itemIndex: number | undefined): void {
    const where = itemIndex === undefined ? `node "${b.nodeId}"` : `item ${itemIndex} of node "${b.nodeId}"`;
    const error = {
      code: 'ATTEMPT_INTERRUPTED',
      message: `Attempt ${attempt} of ${where} was interrupted (its worker stopped or lost its lock before committing)`,
      retryable: true,
    };
    this.events.push(timeline.nodeInterrupted(siteOf(b, itemIndex), attempt, error));
    if (recoveries > this.env.maxRecoveries) {
      this.failNode(
        b,
        attempt,
        nonRetryable(
          'POISON_PILL',
          `${where[0]!.toUpperCase()}${where.slice(1)} was interrupted ${recoveries} times in a row (limit ${this.env.maxRecoveries}); failing the run instead of crashing more workers`,
        ),
      );
    }
  }

  /**
   * Every WAITING branch whose timer is due goes on (re-running its node); an event wait whose
   * `timeoutMs` passed goes on with `ctx.meta.waitTimedOut`.
   */
  wakeDueTimers(): void {
    for (const b of this.branches) {
      if (b.status !== 'WAITING' || (b.waitFor !== 'timer' && b.waitFor !== 'event') || b.dueAt === null || !isDue(b.dueAt, this.nowMs)) continue;
      // The store refuses the commit if an answer to this wait came in since the inbox was read.
      this.timedOut.push({ branchId: b.branchId, waitId: b.waitId });
      if (b.waitFor === 'event') {
        this.endWaits.push({ branchId: b.branchId, waitId: b.waitId });
        this.events.push(timeline.runResumed(siteOf(b), { timer: true, waitTimedOut: true }));
        this.wake(b, { waitTimedOut: true });
      } else {
        this.events.push(timeline.runResumed(siteOf(b), { timer: true }));
        this.wake(b, {});
      }
    }
  }

  /** A WAITING branch goes on: its node runs again, as a new activation (seeing `resumePayload`, when given). */
  private wake(b: WaitingBranch, how: { resumePayload?: unknown; waitTimedOut?: true }): void {
    moveBranch(b, { branchId: b.branchId, nodeId: b.nodeId, status: 'READY', attempt: 0, recoveries: 0, ...how });
  }

  /**
   * Applies the run's inbox: resumes and events answer the wait they name (an answer to a wait
   * that is over is dropped), a child's end finishes the node or item that waited for it
   * (`children` holds the ended child runs). Every entry is consumed by this transition, except
   * the end of a child that nothing waits for yet while `defer(childRunId)` says its wait is on
   * its way (its start is not committed yet): that entry is left for a later transition.
   */
  applyInbox(entries: readonly InboxEntry[], children: ReadonlyMap<string, FlowRunRecord>, defer: (childRunId: string) => boolean = () => false): void {
    for (const e of entries) {
      if (this.failed) {
        // The run is ending: answers are for waits that are over; they are dropped, not left due.
        this.consumed.push(e.id);
        continue;
      }
      if (e.kind === 'cancel') {
        this.consumed.push(e.id);
        this.cancelAndUndo((e.payload as { reason?: string | null }).reason ?? null);
        continue;
      }
      if (e.kind === 'child') {
        const { childRunId } = e.payload as { childRunId: string };
        const child = children.get(childRunId);
        if (child && this.childEnded(child)) this.consumed.push(e.id);
        else if (defer(childRunId)) this.deferredInbox = true;
        else this.consumed.push(e.id); // a child of an attempt that is over: dropped
        continue;
      }
      this.consumed.push(e.id);
      const b = this.branches.find(
        (x): x is WaitingBranch => x.status === 'WAITING' && x.waitFor !== 'child' && x.branchId === e.branchId && x.waitId === e.waitId,
      );
      if (!b) continue;
      if (b.waitFor === 'event') this.endWaits.push({ branchId: b.branchId, waitId: b.waitId });
      if (e.kind === 'resume') {
        // `{ payload }`, or `{}` for a resume without one (the node then sees no payload).
        const resume = e.payload as { payload?: unknown };
        this.events.push(timeline.runResumed(siteOf(b), { payload: resume.payload ?? null }));
        this.wake(b, Object.hasOwn(resume, 'payload') ? { resumePayload: resume.payload } : {});
      } else {
        const ev = e.payload as { eventId: string; name: string; key: string | null; payload: unknown };
        this.receipts.push(ev.eventId);
        this.events.push(timeline.eventReceived(siteOf(b), ev));
        this.wake(b, { resumePayload: ev.payload });
      }
    }
  }

  // ---- outcomes --------------------------------------------------------------------------

  /** Applies one attempt's outcome; an outcome whose branch or item moved on (aborted, cancelled) is dropped. */
  apply(f: FinishedAttempt): boolean {
    if (f.compensation) return this.applyCompensation(f);
    // A child started for an outcome that is dropped here is abandoned at once (see `abandoned`).
    if (f.outcome.kind === 'child-started') this.childrenStarted.push(f.outcome.childRunId);
    const b = this.branches.find((x) => x.branchId === f.branchId);
    if (!b || b.nodeId !== f.nodeId || b.status !== 'RUNNING') return false;
    if (f.itemIndex === undefined) {
      if (b.map || b.attempt !== f.attempt) return false;
      this.applyOutcome({ b }, f);
      return true;
    }
    const item = b.map?.items.find((i) => i.index === f.itemIndex);
    if (!item || item.status !== 'RUNNING' || item.attempt !== f.attempt) return false;
    this.applyOutcome({ b, item }, f);
    return true;
  }

  /** The child run a node or item waited for ended: its outputs are the node's (or item's) output, or the attempt fails. */
  private childEnded(child: FlowRunRecord): boolean {
    for (const b of this.branches) {
      let slot: Slot | undefined;
      if (b.status === 'WAITING' && b.waitFor === 'child' && b.child.runId === child.runId) {
        this.events.push(timeline.childFinished(siteOf(b), b.attempt, { childRunId: child.runId, status: child.status }));
        // The waiting attempt is over: its outcome is the child's end.
        moveBranch(b, { branchId: b.branchId, nodeId: b.nodeId, status: 'RUNNING', attempt: b.attempt, recoveries: b.recoveries });
        slot = { b: b as BranchRecord as RunningBranch };
      } else if (b.status === 'RUNNING' && b.map) {
        const item = b.map.items.find((i) => i.status === 'WAITING' && i.child.runId === child.runId);
        if (!item) continue;
        this.events.push(timeline.childFinished(siteOf(b, item.index), item.attempt, { childRunId: child.runId, status: child.status }));
        moveItem(item, { index: item.index, status: 'RUNNING', attempt: item.attempt, recoveries: item.recoveries });
        slot = { b, item };
      } else {
        continue;
      }
      this.childrenEnded.add(child.runId);
      const outcome: AttemptOutcome =
        child.status === 'COMPLETED'
          ? { kind: 'ok', output: child.outputsJson, patch: undefined }
          : {
              kind: 'error',
              error: {
                code: 'CHILD_FAILED',
                message: `Child run ${child.runId} (${flowKey(child.flowId, child.flowVersion)}) ended ${child.status}${child.error ? `: ${child.error.code}: ${child.error.message}` : ''}`,
                retryable: true,
              },
            };
      const rec = slot.item ?? slot.b;
      this.applyOutcome(slot, {
        branchId: b.branchId,
        nodeId: b.nodeId,
        itemIndex: slot.item?.index,
        attempt: rec.attempt,
        outcome,
        durationMs: null,
        cached: false,
        child: { runId: child.runId, undoable: (child.compensation?.finished.length ?? 0) > 0 },
      });
      return true;
    }
    return false;
  }

  private applyOutcome(slot: Slot, f: FinishedAttempt): void {
    const { b, item } = slot;
    const node = this.def.nodes[b.nodeId]!;
    const o = f.outcome;
    if (o.kind === 'error') return this.attemptFailed(slot, node, f, o.error);
    if (o.kind === 'child-started') {
      this.childStarted(slot, o);
      // The child had already ended (started before a crash, found again by its key): its end is now.
      if (o.ended) this.childEnded(o.ended);
      return;
    }
    if (o.kind === 'child') return this.attemptFailed(slot, node, f, nonRetryable('CHILD_NOT_STARTED', `Node "${node.id}": the child run was not started`));
    if (o.kind === 'wait' && item) {
      return this.attemptFailed(
        slot,
        node,
        f,
        nonRetryable(
          'INVALID_NODE_RESULT',
          `Node "${node.id}" returned wait for item ${item.index}: the items of a forEach node cannot wait (they may start a child run)`,
        ),
      );
    }

    // The result's values, checked before anything changes: one that JSON cannot hold fails the node.
    let outputText: JsonText | undefined;
    let idemText: JsonText | undefined;
    let waitText: JsonText | undefined;
    let state = this.state;
    try {
      if (o.patch !== undefined) {
        this.json(o.patch, 'patch', node.id);
        state = deepMerge(this.state, o.patch);
        checkJsonSize(JSON.stringify(state), { what: 'state', nodeId: node.id, maxBytes: this.env.maxJsonBytes });
      }
      if (o.output !== undefined) outputText = this.json(o.output, 'output', node.id);
      if (o.kind === 'ok' && f.idemKey !== undefined && !f.cached) {
        idemText = this.json(definedOnly({ output: o.output, patch: o.patch, outcome: o.outcome }), 'idempotent result', node.id);
      }
      if (o.kind === 'wait') {
        const timer = parseTimer(o.until)?.toISOString() ?? null;
        waitText = this.json(definedOnly({ reason: o.reason ?? null, until: o.until ?? null, timer, event: o.event, patch: o.patch }), 'wait event', node.id);
      }
    } catch (err) {
      const error = err instanceof SerializationError ? nonRetryable(err.code, err.message) : { ...toErrorRecord(err), retryable: false };
      return this.attemptFailed(slot, node, f, error);
    }
    if (state !== this.state) this.setState(state);
    const runOutcome = o.kind === 'ok' ? o.outcome : undefined;
    if (runOutcome !== undefined) this.runOutcome = runOutcome;
    if (idemText !== undefined) this.idempotency = { key: f.idemKey!, runId: this.run.runId, nodeId: node.id, result: idemText };

    if (item) {
      this.itemFinished(b, item, f, outputText, runOutcome, o.patch);
    } else if (o.kind === 'wait') {
      if (outputText !== undefined) this.writeOutput(node.id, outputText);
      const waitId = this.nextSeq();
      const parked = {
        branchId: b.branchId,
        nodeId: b.nodeId,
        status: 'WAITING' as const,
        attempt: f.attempt,
        recoveries: 0,
        waitId,
        waitReason: o.reason ?? null,
      };
      if (o.event) {
        const timeoutAt = o.event.timeoutMs === undefined ? null : new Date(this.nowMs + o.event.timeoutMs).toISOString();
        moveBranch(b, { ...parked, waitFor: 'event', event: { name: o.event.name, key: o.event.key }, dueAt: timeoutAt });
        this.addWaits.push({ branchId: b.branchId, waitId, name: o.event.name, key: o.event.key });
      } else {
        const timer = parseTimer(o.until);
        moveBranch(b, timer ? { ...parked, waitFor: 'timer', dueAt: timer.toISOString() } : { ...parked, waitFor: 'resume' });
      }
      this.events.push(timeline.runWaiting(siteOf(b), f.attempt, f.durationMs, waitText!));
    } else {
      this.nodeFinished(b, node, outputText, {
        attempt: f.attempt,
        durationMs: f.durationMs,
        cached: f.cached,
        child: f.child,
        outcome: runOutcome,
        patch: o.patch,
      });
    }
  }

  /** A node (or item) started its child run: it waits for the child's end, which arrives in the inbox. */
  private childStarted(slot: Slot, o: { childRunId: string; flowId: string; version: string }): void {
    const { b, item } = slot;
    const waitId = this.nextSeq();
    const child = { runId: o.childRunId };
    if (item) {
      moveItem(item, { index: item.index, status: 'WAITING', attempt: item.attempt, recoveries: item.recoveries, waitId, child });
    } else {
      const waitReason = `child ${flowKey(o.flowId, o.version)}`;
      moveBranch(b, {
        branchId: b.branchId,
        nodeId: b.nodeId,
        status: 'WAITING',
        attempt: b.attempt,
        recoveries: b.recoveries,
        waitId,
        waitReason,
        waitFor: 'child',
        child,
      });
    }
    const rec = item ?? b;
    this.events.push(timeline.childStarted(siteOf(b, item?.index), rec.attempt, { childRunId: o.childRunId, flowId: o.flowId, version: o.version }));
  }

  private attemptFailed(slot: Slot, node: NodeDefinition, f: FinishedAttempt, failure: ErrorRecord): void {
    const { b, item } = slot;
    const error = storableError(failure);
    this.events.push(timeline.nodeFailed(siteOf(b, f.itemIndex), f.attempt, f.durationMs, error));
    const rec = item ?? b;
    const policy = node.retry;
    if (error.retryable !== false && policy && rec.attempt - rec.recoveries < policy.maxAttempts) {
      const delayMs = retryDelayMs(policy, rec.attempt + 1);
      const dueAt = new Date(this.nowMs + delayMs).toISOString();
      if (item) moveItem(item, { index: item.index, status: 'RETRY', attempt: item.attempt, recoveries: item.recoveries, dueAt, error });
      else
        moveBranch(b, {
          branchId: b.branchId,
          nodeId: b.nodeId,
          status: 'RETRY',
          attempt: b.attempt,
          recoveries: b.recoveries,
          ...attemptContext(b),
          dueAt,
          error,
        });
      this.events.push(timeline.retryScheduled(siteOf(b, f.itemIndex), rec.attempt + 1, delayMs));
      return;
    }
    if (item) moveItem(item, { index: item.index, status: 'FAILED', attempt: item.attempt, recoveries: item.recoveries, error });
    this.failNode(b, f.attempt, error);
  }

  /**
   * The node of branch `b` failed for good (its retries spent, or a failure no retry can mend):
   * its `catch`, when it takes this failure, sends the branch on to the catch target — the map's
   * other items in flight stop, the children they waited for are cancelled with the commit —
   * and otherwise the run fails.
   */
  private failNode(b: BranchRecord, attempt: number, failure: ErrorRecord): void {
    const error = storableError(failure);
    const node = this.def.nodes[b.nodeId];
    const to = node && !this.failed ? catchTarget(node, error.code) : null;
    if (to === null) return this.failRun(b, error);
    if (mapOf(b)) {
      this.stopped.push(b.branchId);
      // Items of a node with `compensate` stay: undoing an item shows it its item.
      if (!node!.compensate) this.clearMaps.push(mapKey(b.branchId, b.nodeId));
    }
    this.events.push(timeline.nodeCaught(siteOf(b), attempt, error, to));
    moveBranch(b, { ...enterNode(b, to), caught: { nodeId: b.nodeId, code: error.code, message: error.message, attempt } });
    this.arrive(b);
  }

  /** The run fails at branch `b`: every other branch is aborted (their in-flight attempts are stopped by the driver). */
  failRun(b: BranchRecord, failure: ErrorRecord, nodeEvents: NewEvent[] = []): void {
    if (this.failed) return;
    const error = storableError(failure);
    this.events.push(...nodeEvents);
    for (const other of this.branches) {
      if (other.branchId === b.branchId || !isLive(other)) continue;
      this.stopped.push(other.branchId);
      this.events.push(timeline.branchAborted(siteOf(other), { reason: 'run failed', by: b.branchId }));
    }
    this.stopped.push(b.branchId);
    const map = b.status === 'RUNNING' ? b.map : undefined;
    moveBranch(b, { branchId: b.branchId, nodeId: b.nodeId, status: 'FAILED', attempt: b.attempt, recoveries: b.recoveries, error, ...(map ? { map } : {}) });
    this.branches = [b];
    this.failure = { nodeId: b.nodeId, error };
    if ((this.compensation?.finished.length ?? 0) > 0 || hasCompensation(this.def)) {
      this.beginUndo({ cause: 'failed', error, failedNodeId: b.nodeId, failedAttempt: b.attempt });
    } else {
      this.events.push(timeline.runAborted(siteOf(b), error));
    }
  }

  private itemFinished(
    b: RunningBranch,
    item: MapItemRecord,
    f: FinishedAttempt,
    outputText: JsonText | undefined,
    outcome: string | undefined,
    patch: unknown,
  ): void {
    const map = b.map!;
    map.items = map.items.filter((i) => i !== item);
    map.done += 1;
    const value = outputText === undefined ? null : JSON.parse(outputText);
    this.itemOutputs.push({ branchId: b.branchId, index: item.index, value });
    this.events.push(timeline.nodeFinished(siteOf(b, item.index), f.attempt, f.durationMs, { cached: f.cached, outcome, patch }));
    this.logIfUndoable({ nodeId: b.nodeId, branchId: b.branchId, itemIndex: item.index }, f.child);
    // The last item's output goes straight into the node's output (its item rows are cleared then).
    if (map.done < map.total) {
      this.values.push({ nodeId: mapKey(b.branchId, b.nodeId), kind: 'item', itemIndex: item.index, value: outputText ?? ('null' as JsonText) });
      return;
    }
    this.finishMap(b, item.index, value);
  }

  private finishMap(b: RunningBranch, lastIndex: number | null, lastValue: unknown): void {
    const node = this.def.nodes[b.nodeId]!;
    const outputs = new Map(this.maps.get(b.branchId)?.outputs);
    // Items finished earlier in this same transition are not in the driver's cache yet.
    for (const o of this.itemOutputs) if (o.branchId === b.branchId) outputs.set(o.index, o.value);
    const total = b.map!.total;
    const output = Array.from({ length: total }, (_, i) => (i === lastIndex ? lastValue : (outputs.get(i) ?? null)));
    let text: JsonText;
    try {
      text = this.json(output, 'output', node.id);
    } catch (err) {
      return this.failNode(b, b.attempt, err instanceof SerializationError ? nonRetryable(err.code, err.message) : toErrorRecord(err));
    }
    // Items of a node with `compensate` stay: undoing an item shows it its item.
    if (!node.compensate) this.clearMaps.push(mapKey(b.branchId, b.nodeId));
    this.nodeFinished(b, node, text, { attempt: b.attempt, durationMs: null, cached: false, items: total });
  }

  private writeOutput(nodeId: string, text: JsonText): void {
    this.values.push({ nodeId, kind: 'output', value: text });
    this.outputs = withKey(this.outputs, nodeId, JSON.parse(text));
  }

  /** The node of branch `b` succeeded: record its output and move the branch along its edges. */
  private nodeFinished(
    b: RunningBranch,
    node: NodeDefinition,
    outputText: JsonText | undefined,
    at: { attempt: number; durationMs: number | null; cached: boolean; items?: number; child?: FinishedAttempt['child']; outcome?: string; patch?: unknown },
  ): void {
    if (outputText !== undefined) this.writeOutput(node.id, outputText);
    // A map's items were logged one by one as they finished.
    if (!node.forEach) this.logIfUndoable({ nodeId: node.id, branchId: b.branchId }, at.child);
    const finished = (next: string | string[] | null): NewEvent =>
      timeline.nodeFinished(siteOf(b), at.attempt, at.durationMs, { next, cached: at.cached, items: at.items, outcome: at.outcome, patch: at.patch });
    let targets: string[];
    try {
      // Conditions see the state and outputs after this result; they are predicates and get no copies.
      const ctx = buildContext(this.env, this.run, {
        nodeId: node.id,
        branchId: b.branchId,
        attempt: at.attempt,
        attempts: this.attempts,
        state: this.state,
        outputs: () => this.outputs,
      });
      if (node.split === 'all') {
        targets = this.def.edges.filter((e) => e.from === node.id && (!e.when || e.when(ctx))).map((e) => e.to);
      } else {
        const next = selectNextNode(node.id, this.def.edges, ctx);
        targets = next === null ? [] : [next];
      }
    } catch (err) {
      const error =
        err instanceof FlowError
          ? { ...toErrorRecord(err), retryable: false }
          : nonRetryable('EDGE_CONDITION_ERROR', `An edge condition from "${node.id}" threw: ${toErrorRecord(err).message}`);
      // The node itself succeeded: its output and state stay, so the failure is inspectable.
      return this.failRun(b, error, [finished(null)]);
    }
    this.events.push(finished(node.split === 'all' ? targets : (targets[0] ?? null)));
    const index = this.branches.indexOf(b);
    if (targets.length === 0) {
      this.branches.splice(index, 1);
      if (this.branches.some(isLive)) this.events.push(timeline.branchEnded(siteOf(b)));
      return;
    }
    if (node.split !== 'all') {
      moveBranch(b, enterNode(b, targets[0]!));
      this.arrive(b);
      return;
    }
    // A split: the branch ends here and each target starts a branch of its own, in edge order.
    const children = targets.map((to) => {
      const started = enterNode({ ...b, branchId: `b${this.nextSeq()}` }, to);
      this.events.push(timeline.branchStarted(siteOf(started), { from: b.branchId, splitNodeId: node.id }));
      return started;
    });
    this.branches.splice(index, 1, ...children);
    for (const child of children) this.arrive(child);
  }

  /** Branch `b` just entered its node: a join node gathers it. */
  private arrive(b: BranchRecord): void {
    const join = this.def.nodes[b.nodeId]?.join;
    if (join === 'any') {
      const aborted = this.branches.filter((o) => o !== b && isLive(o) && canReach(this.def, o.nodeId, b.nodeId));
      for (const o of aborted) {
        this.stopped.push(o.branchId);
        this.events.push(timeline.branchAborted(siteOf(o), { reason: 'join any', by: b.nodeId }));
      }
      this.branches = this.branches.filter((o) => !aborted.includes(o));
      moveBranch(b, { branchId: b.branchId, nodeId: b.nodeId, status: 'READY', attempt: b.attempt, recoveries: b.recoveries, joined: [b.branchId] });
      this.events.push(
        timeline.joinCompleted(
          siteOf(b),
          [b.branchId],
          aborted.map((o) => o.branchId),
        ),
      );
    } else if (join === 'all') {
      const waitingFor = this.branchesThatCanReach(b.nodeId).map((o) => o.branchId);
      moveBranch(b, { branchId: b.branchId, nodeId: b.nodeId, status: 'JOINING', attempt: b.attempt, recoveries: b.recoveries });
      this.events.push(timeline.joinArrived(siteOf(b), waitingFor));
    }
  }

  /** Live branches, other than those parked at `joinNode`, that can still arrive there. */
  private branchesThatCanReach(joinNode: string): BranchRecord[] {
    return this.branches.filter((o) => isLive(o) && !(o.status === 'JOINING' && o.nodeId === joinNode) && canReach(this.def, o.nodeId, joinNode));
  }

  /** Every `join: 'all'` that no live branch can reach any more goes on, as its first arrival. */
  settleJoins(): void {
    for (let changed = true; changed && !this.failed;) {
      changed = false;
      for (const joinNode of new Set(this.branches.filter((b) => b.status === 'JOINING').map((b) => b.nodeId))) {
        if (this.branchesThatCanReach(joinNode).length > 0) continue;
        const parked = this.branches.filter((b) => b.status === 'JOINING' && b.nodeId === joinNode);
        const first = parked[0]!;
        const joined = parked.map((b) => b.branchId);
        this.branches = this.branches.filter((b) => b === first || !parked.includes(b));
        moveBranch(first, { branchId: first.branchId, nodeId: first.nodeId, status: 'READY', attempt: first.attempt, recoveries: first.recoveries, joined });
        this.events.push(timeline.joinCompleted(siteOf(first), joined));
        changed = true;
      }
    }
  }

  // ---- beginning attempts ----------------------------------------------------------------

  /**
   * Begins what is ready now, at most `limit` attempts: READY/due RETRY branches, due or new map
   * items; a branch entering a `forEach` node starts its map first. Returns how many it began.
   */
  beginReady(limit: number): number {
    let count = 0;
    for (const b of [...this.branches]) {
      if (this.failed || count >= limit) break;
      if (!this.branches.includes(b)) continue;
      if (b.status === 'READY' || (b.status === 'RETRY' && isDue(b.dueAt, this.nowMs))) {
        const node = this.def.nodes[b.nodeId];
        if (!node) {
          this.failRun(
            b,
            nonRetryable(
              'NODE_NOT_FOUND',
              `Node ${b.nodeId} not found: the run is at node "${b.nodeId}", which flow ${flowKey(this.def.flowId, this.def.version)} does not define`,
            ),
          );
          break;
        }
        if (!node.forEach) {
          this.beginAttempt(b);
          count += 1;
          continue;
        }
        this.startMap(b, node);
      }
      if (b.status !== 'RUNNING' || !b.map) continue;
      const map = b.map;
      for (const item of map.items) {
        if (count >= limit) break;
        if (item.status === 'READY' || (item.status === 'RETRY' && isDue(item.dueAt, this.nowMs))) {
          this.beginItem(b, item);
          count += 1;
        }
      }
      while (count < limit && mapRoom(map) > 0) {
        const item = newItem(map.started);
        map.started += 1;
        map.items.push(item);
        this.beginItem(b, item);
        count += 1;
      }
    }
    return count;
  }

  /** A READY or due RETRY branch begins its next attempt. */
  private beginAttempt(b: BranchRecord & { status: 'READY' | 'RETRY' }): void {
    // The NODE_STARTED below is this attempt's name, unless it re-runs an interrupted one.
    const attemptKey = (b.status === 'READY' ? b.attemptKey : undefined) ?? this.nextSeq();
    const attempt = b.attempt + 1;
    moveBranch(b, { branchId: b.branchId, nodeId: b.nodeId, status: 'RUNNING', attempt, recoveries: b.recoveries, ...attemptContext(b), attemptKey });
    this.attemptBegun(b, attempt, attemptKey, undefined);
  }

  private beginItem(b: RunningBranch, item: MapItemRecord & { status: 'READY' | 'RETRY' }): void {
    const attemptKey = (item.status === 'READY' ? item.attemptKey : undefined) ?? this.nextSeq();
    const attempt = item.attempt + 1;
    moveItem(item, { index: item.index, status: 'RUNNING', attempt, recoveries: item.recoveries, attemptKey });
    this.attemptBegun(b, attempt, attemptKey, item.index);
  }

  private attemptBegun(b: BranchRecord, attempt: number, attemptKey: number, itemIndex: number | undefined): void {
    this.attempts = withKey(this.attempts, b.nodeId, (Object.hasOwn(this.attempts, b.nodeId) ? this.attempts[b.nodeId]! : 0) + 1);
    this.attemptsChanged = true;
    // The run's first begin says how long it was held back, and by what (flow control, a later start).
    const heldBack = this.heldBackNoted ? undefined : heldBackNote(this.run, this.nowMs);
    this.heldBackNoted = true;
    this.events.push(timeline.nodeStarted(siteOf(b, itemIndex), attempt, heldBack));
    this.begun.push({ branchId: b.branchId, nodeId: b.nodeId, attempt, itemIndex, attemptKey });
  }

  private startMap(b: BranchRecord & { status: 'READY' | 'RETRY' }, node: NodeDefinition): void {
    let items: unknown[];
    let text: JsonText;
    try {
      const ctx = buildContext(this.env, this.run, {
        nodeId: node.id,
        branchId: b.branchId,
        attempt: 1,
        attempts: this.attempts,
        state: stateFor(this.state, b),
        outputs: () => this.outputs,
      });
      const listed: unknown = node.forEach!(ctx);
      if (!Array.isArray(listed)) {
        const got = listed === null ? 'null' : listed instanceof Promise ? 'a Promise (forEach must be synchronous)' : typeof listed;
        return this.failNode(b, 1, nonRetryable('INVALID_FOREACH', `Node "${node.id}": forEach must return an array, got ${got}`));
      }
      text = this.json(listed, 'forEach items', node.id);
      items = JSON.parse(text) as unknown[];
    } catch (err) {
      const error =
        err instanceof SerializationError
          ? nonRetryable(err.code, err.message)
          : nonRetryable('FOREACH_ERROR', `Node "${node.id}": forEach threw: ${toErrorRecord(err).message}`);
      return this.failNode(b, 1, error);
    }
    const key = mapKey(b.branchId, node.id);
    this.clearMaps.push(key);
    this.values.push({ nodeId: key, kind: 'items', value: text });
    const concurrency = node.concurrency ?? DEFAULT_FOREACH_CONCURRENCY;
    const map = { total: items.length, concurrency, done: 0, started: 0, items: [] };
    moveBranch(b, { branchId: b.branchId, nodeId: b.nodeId, status: 'RUNNING', attempt: 1, recoveries: b.recoveries, ...attemptContext(b), map });
    this.mapsStarted.push({ branchId: b.branchId, nodeId: node.id, items });
    this.events.push(timeline.mapStarted(siteOf(b), items.length, concurrency));
    if (items.length === 0) this.finishMap(b as BranchRecord as RunningBranch, null, null);
  }

  // ---- compensation ----------------------------------------------------------------------

  /** A node (or item) finished: logged when there is something to undo it by (see compensation.ts). */
  private logIfUndoable(at: { nodeId: string; branchId: string; itemIndex?: number }, child: FinishedAttempt['child']): void {
    const ownHandler = typeof this.def.nodes[at.nodeId]?.compensate === 'function';
    const undoableChild = child?.undoable ? child.runId : undefined;
    if (!ownHandler && undoableChild === undefined) return;
    const done: FinishedNode = { ...at, ownHandler, ...(undoableChild === undefined ? {} : { childRunId: undoableChild }) };
    this.compensation = logFinished(this.compensation, done);
    this.compensationChanged = true;
  }

  /** The run starts undoing what it finished, newest first; with nothing to undo it ends now. */
  private beginUndo(why: Omit<CompensationPhase, 'steps' | 'failures'>): void {
    const log = this.compensation ?? { finished: [], phase: null };
    const phase: CompensationPhase = { ...why, steps: stepsToUndo(log.finished), failures: 0 };
    this.compensation = { finished: log.finished, phase };
    this.compensationChanged = true;
    this.events.push(timeline.runCompensating(why.cause, phase.steps.length, why.error));
    this.endUndoIfDone();
  }

  /**
   * `cancelRun(runId, { compensate: true })`, applied by the run's holder: every live branch is
   * aborted (the children they wait for are cancelled with the commit) and the run undoes what it
   * finished, then ends CANCELLED.
   */
  private cancelAndUndo(reason: string | null): void {
    const error = nonRetryable('CANCELLED', reason ?? 'Cancelled');
    for (const b of this.branches) {
      if (!isLive(b)) continue;
      this.stopped.push(b.branchId);
      this.events.push(timeline.branchAborted(siteOf(b), { reason: 'run cancelled', by: 'cancelRun' }));
    }
    this.branches = [];
    this.failure = { nodeId: null, error };
    this.beginUndo({ cause: 'cancelled', error, failedNodeId: null, failedAttempt: 0 });
  }

  /**
   * Begins the next compensation when it is due. A step standing for a child run's compensations
   * is replaced by them first: `children` holds the child runs the driver read; one it has not
   * read yet is asked for (`needsChild`) and nothing begins.
   */
  beginCompensation(children: ReadonlyMap<string, FlowRunRecord | null>): number {
    const phase = this.phase;
    if (!phase) return 0;
    for (let step = phase.steps[0]; step?.childRunId !== undefined; step = phase.steps[0]) {
      if (!children.has(step.childRunId)) {
        this.needsChild = step.childRunId;
        return 0;
      }
      const child = children.get(step.childRunId) ?? null;
      phase.steps.shift();
      this.compensationChanged = true;
      if (!child) {
        const gone = nonRetryable('CHILD_NOT_FOUND', `Child run ${step.childRunId} is gone (pruned?): its compensations cannot run`);
        this.events.push(timeline.compensationFailed(stepSite(step), 0, null, gone, { runId: step.childRunId }));
        phase.failures += 1;
      } else {
        phase.steps.unshift(...stepsToUndo(child.compensation?.finished ?? [], child.runId));
      }
    }
    this.endUndoIfDone();
    const step = phase.steps[0];
    if (!step || step.status === 'RUNNING' || (step.status === 'RETRY' && !isDue(step.dueAt, this.nowMs))) return 0;
    const attemptKey = (step.status === 'READY' ? step.attemptKey : undefined) ?? this.nextSeq();
    const attempt = step.attempt + 1;
    moveStep(step, { ...stepBase(step), status: 'RUNNING', attempt, recoveries: step.recoveries, attemptKey });
    this.compensationChanged = true;
    this.events.push(timeline.compensationStarted(stepSite(step), attempt, step.runId));
    this.begun.push({
      branchId: step.branchId,
      nodeId: step.nodeId,
      attempt,
      itemIndex: step.itemIndex,
      attemptKey,
      compensation: step.runId === undefined ? {} : { runId: step.runId },
    });
    return 1;
  }

  /** A compensation attempt's outcome: the step is done, retried under the node's policy, or failed for good. */
  private applyCompensation(f: FinishedAttempt): boolean {
    const step = this.phase?.steps[0];
    if (
      !step ||
      step.status !== 'RUNNING' ||
      step.nodeId !== f.nodeId ||
      step.branchId !== f.branchId ||
      step.itemIndex !== f.itemIndex ||
      step.runId !== f.compensation!.runId ||
      step.attempt !== f.attempt
    ) {
      return false;
    }
    const o = f.outcome;
    let failure: ErrorRecord | null = null;
    if (o.kind === 'ok') {
      try {
        // A child run's node undoes with the child's context: its patch is not this run's state.
        if (o.patch !== undefined && step.runId === undefined) {
          this.json(o.patch, 'patch', step.nodeId);
          const state = deepMerge(this.state, o.patch);
          checkJsonSize(JSON.stringify(state), { what: 'state', nodeId: step.nodeId, maxBytes: this.env.maxJsonBytes });
          this.setState(state);
        }
      } catch (err) {
        failure = err instanceof SerializationError ? nonRetryable(err.code, err.message) : { ...toErrorRecord(err), retryable: false };
      }
    } else if (o.kind === 'error') {
      failure = o.error;
    } else {
      failure = nonRetryable('INVALID_COMPENSATION_RESULT', `The compensation of node "${step.nodeId}" returned ${o.kind}: a compensation returns ok or error`);
    }
    this.compensationChanged = true;
    if (failure === null) {
      this.events.push(timeline.nodeCompensated(stepSite(step), f.attempt, f.durationMs, step.runId));
      this.phase!.steps.shift();
      this.endUndoIfDone();
      return true;
    }
    const error = storableError(failure);
    const policy = f.compensation!.retry;
    if (error.retryable !== false && policy && step.attempt - step.recoveries < policy.maxAttempts) {
      const delayMs = retryDelayMs(policy, step.attempt + 1);
      this.events.push(timeline.compensationFailed(stepSite(step), f.attempt, f.durationMs, error, { retryInMs: delayMs, runId: step.runId }));
      const dueAt = new Date(this.nowMs + delayMs).toISOString();
      moveStep(step, { ...stepBase(step), status: 'RETRY', attempt: step.attempt, recoveries: step.recoveries, dueAt, error });
      return true;
    }
    this.stepFailedForGood(step, f, error);
    return true;
  }

  /** A compensation that will not be tried again: counted (the run ends `compensated: false`), and the next one goes on. */
  private stepFailedForGood(step: CompensationStep, f: FinishedAttempt | null, error: ErrorRecord): void {
    const phase = this.phase!;
    this.events.push(timeline.compensationFailed(stepSite(step), step.attempt, f?.durationMs ?? null, error, { runId: step.runId }));
    phase.steps = phase.steps.filter((s) => s !== step);
    phase.failures += 1;
    this.compensationChanged = true;
    this.endUndoIfDone();
  }

  /** Nothing is left to undo: the run ends FAILED or CANCELLED, `compensated` telling whether every compensation succeeded. */
  private endUndoIfDone(): void {
    const phase = this.phase;
    if (!phase || phase.steps.length > 0 || this.compensated !== undefined) return;
    this.compensated = phase.failures === 0;
    if (phase.cause === 'cancelled') {
      this.events.push(timeline.runCancelled(JSON.stringify({ reason: phase.error.message, compensated: this.compensated }) as JsonText));
    } else {
      const b = this.branches[0];
      this.events.push(timeline.runAborted({ nodeId: phase.failedNodeId ?? b?.nodeId ?? '', branchId: b?.branchId ?? 'b1' }, phase.error));
    }
  }

  // ---- the commit ------------------------------------------------------------------------

  /** The transition that writes this draft; `release` lets go of the lock with the commit. */
  toTransition(release: boolean): Transition {
    if (!this.failed) this.settleJoins();
    const summary = this.summary();
    if (summary.status === 'COMPLETED' && this.run.status !== 'COMPLETED') this.events.push(timeline.runCompleted());
    const done = summary.status !== 'RUNNING';
    const abandoned = this.abandoned();
    return {
      expectedVersion: this.run.version,
      update: {
        status: summary.status,
        currentNodeId: summary.currentNodeId,
        state: this.stateChanged ? (JSON.stringify(this.state) as JsonText) : undefined,
        branches: JSON.stringify(this.branches) as JsonText,
        attempt: summary.attempt,
        attempts: this.attemptsChanged ? (JSON.stringify(this.attempts) as JsonText) : undefined,
        attemptInFlight: summary.attemptInFlight,
        recoveries: summary.recoveries,
        nextAttemptAt: summary.nextAttemptAt ? { at: summary.nextAttemptAt } : null,
        waitReason: summary.waitReason,
        error: this.failure?.error ?? null,
        compensation: this.compensationChanged ? (JSON.stringify(this.compensation) as JsonText) : undefined,
        compensated: this.compensated,
        ...(this.runOutcome === undefined ? {} : { outcome: this.runOutcome }),
      },
      events: this.events,
      values: this.values.length > 0 ? this.values : undefined,
      clearMaps: this.clearMaps.length > 0 ? this.clearMaps : undefined,
      idempotency: this.idempotency,
      consumeInbox: this.consumed.length > 0 ? this.consumed : undefined,
      addWaits: this.addWaits.length > 0 ? this.addWaits : undefined,
      endWaits: this.endWaits.length > 0 ? this.endWaits : undefined,
      receipts: this.receipts.length > 0 ? this.receipts : undefined,
      timedOutWaits: this.timedOut.length > 0 ? this.timedOut : undefined,
      cancelChildren: abandoned.length > 0 ? abandoned : undefined,
      release: release || done,
      // A run let go while it still has work: tell the workers.
      wake: (release || done) && summary.status === 'RUNNING',
    };
  }

  /** The run row's columns: from the branches, or from the compensation while the run undoes what it did. */
  private summary(): RunSummary {
    const phase = this.phase;
    if (phase && phase.steps.length > 0) return compensatingSummary(phase);
    if (phase?.cause === 'cancelled') {
      return {
        status: 'CANCELLED',
        currentNodeId: this.run.currentNodeId,
        attempt: 0,
        recoveries: 0,
        attemptInFlight: false,
        nextAttemptAt: null,
        waitReason: null,
      };
    }
    return summarize(this.branches, this.failure);
  }

  /** The timeline sequence number the next event of this draft will get. */
  private nextSeq(): number {
    return this.run.lastSeq + this.events.length + 1;
  }

  private setState(state: Record<string, unknown>): void {
    this.state = state;
    this.stateChanged = true;
  }

  private json(value: unknown, what: string, nodeId: string): JsonText {
    return serializeJson(value, { what, nodeId, maxBytes: this.env.maxJsonBytes });
  }
}

/**
 * The children of `waited` that nothing in `branches` waits for any more and that have not
 * `ended`: their branch or item was aborted or dropped, and the store cancels them with the
 * commit (`Transition.cancelChildren`).
 */
function abandonedChildren(waited: readonly string[], branches: readonly BranchRecord[], ended: ReadonlySet<string>): string[] {
  const still = new Set(awaitedChildren(branches));
  return [...new Set(waited)].filter((id) => !still.has(id) && !ended.has(id));
}

/** The state a branch's attempt sees: the run's, plus the branch's resume payload when it has one. */
export function stateFor(state: Record<string, unknown>, b: BranchRecord): Record<string, unknown> {
  const payload = 'resumePayload' in b ? b.resumePayload : undefined;
  return payload === undefined ? state : { ...state, [RESUME_PAYLOAD_KEY]: payload };
}

function withKey<T>(record: Record<string, T>, key: string, value: T): Record<string, T> {
  const out = { ...record };
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

function definedOnly(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined));
}

export type { FlowContext };
