/**
 * The timeline events the engine writes, one typed constructor per event type: what each event
 * says (its payload) is declared here once, and an event can only be built with the payload its
 * type has. The payload is made JSON text here, in one place.
 *
 * Payloads hold only what the engine made (ids, counts, error records already made storable) —
 * except RUN_WAITING's and RUN_CANCELLED's, which hold a user's text and arrive serialized and
 * checked by the serializer (core/json.ts).
 */
import type { ErrorRecord } from '../errors.js';
import type { FlowRunStatus } from '../core/states.js';
import type { FlowEventRecord, FlowRunRecord, JsonText, NewEvent } from '../storage/types.js';

/** Where an event happened: the node, its branch, the map item and the attempt. */
export interface EventSite {
  nodeId: string;
  branchId: string;
  itemIndex?: number;
}

/** How long a run waited from its creation to its first begin, and what may have held it: its limits and its later start. */
export interface HeldBack {
  ms: number;
  because: string[];
}

/** Below this wait, a first begin carries no note: a run that went at once was not held back. */
const HELD_BACK_NOTE_MS = 1000;

/**
 * The note of a run's first begin at `nowMs` (undefined when it was not held back): the limits of
 * its flow control with their keys, and its start time when it had one. The store leaves a run
 * that a limit holds out of the look instead of recording each refusal, so the note names every
 * limit the run was under, and the wait.
 */
export function heldBackNote(run: FlowRunRecord, nowMs: number): HeldBack | undefined {
  if (run.lastSeq !== 1 || (run.flowControl === null && run.nextAttemptAt === null)) return undefined;
  const ms = Math.max(0, nowMs - run.createdAt.getTime());
  if (ms < HELD_BACK_NOTE_MS) return undefined;
  const because: string[] = [];
  for (const c of run.flowControl?.concurrency ?? []) because.push(`concurrency limit ${c.limit} (${c.scope}) for key ${JSON.stringify(c.key)}`);
  const rate = run.flowControl?.rateLimit;
  if (rate) because.push(`rate limit ${rate.limit} per ${rate.periodMs} ms for key ${JSON.stringify(rate.key)}`);
  if (run.flowControl?.debounce) because.push(`debounced for key ${JSON.stringify(run.flowControl.debounce.key)}`);
  if (run.nextAttemptAt !== null) because.push(`not due before ${run.nextAttemptAt.toISOString()}`);
  return { ms, because };
}

const text = (payload: object): JsonText => JSON.stringify(payload) as JsonText;

function at(site: EventSite): Pick<NewEvent, 'nodeId' | 'branchId' | 'itemIndex'> {
  return site.itemIndex === undefined
    ? { nodeId: site.nodeId, branchId: site.branchId }
    : { nodeId: site.nodeId, branchId: site.branchId, itemIndex: site.itemIndex };
}

export const timeline = {
  /** `from`: the parent of a child run, or the failed run an `onFailure` run handles. */
  /**
   * `from`: the parent of a child run, or the failed run an `onFailure` run handles. `state`: the
   * run's initial state when it is not empty — with the patches of NODE_FINISHED and RUN_WAITING,
   * the timeline tells the state at any point (what `forkRun` starts from).
   */
  runStarted(nodeId: string, from?: { parentRunId: string; parentNodeId: string } | { failureOf: string }, state?: unknown): NewEvent {
    const payload = { ...from, ...(state === undefined ? {} : { state }) };
    return { type: 'RUN_STARTED', nodeId, branchId: 'b1', payload: Object.keys(payload).length > 0 ? text(payload) : null };
  },
  /** `reason`: `{ reason }`, serialized and checked by the caller. */
  runCancelled(reason: JsonText): NewEvent {
    return { type: 'RUN_CANCELLED', payload: reason };
  },
  runCompleted(): NewEvent {
    return { type: 'RUN_COMPLETED', nodeId: null, payload: null };
  },
  runAborted(site: EventSite, error: ErrorRecord): NewEvent {
    return { type: 'RUN_ABORTED', nodeId: site.nodeId, branchId: site.branchId, error, payload: text({ error }) };
  },
  /** The run ended FAILED and, in the same write, started its flow's `onFailure` run. */
  failureHandlerStarted(handler: { handlerRunId: string; flowId: string; version: string }): NewEvent {
    return { type: 'FAILURE_HANDLER_STARTED', nodeId: null, payload: text(handler) };
  },
  /** The run ended FAILED and its flow's `onFailure` run was not started, for `reason`. */
  failureHandlerSkipped(skip: { flowId: string; version: string; reason: string }): NewEvent {
    return { type: 'FAILURE_HANDLER_SKIPPED', nodeId: null, payload: text(skip) };
  },

  /** `heldBack`: the first begin of a run that flow control or a later start held back (see `heldBackNote`). */
  nodeStarted(site: EventSite, attempt: number, heldBack?: HeldBack): NewEvent {
    return heldBack ? { type: 'NODE_STARTED', ...at(site), attempt, payload: text({ heldBack }) } : { type: 'NODE_STARTED', ...at(site), attempt };
  },
  /**
   * A node's attempt (or a map's last item) succeeded; `next`: the node(s) the branch goes on to;
   * `outcome`: the business outcome its result set as the run's (checked by core/outcome.ts).
   */
  nodeFinished(
    site: EventSite,
    attempt: number,
    durationMs: number | null,
    done: { next?: string | string[] | null; cached?: boolean; items?: number; outcome?: string; patch?: unknown },
  ): NewEvent {
    const payload: Record<string, unknown> = {};
    if (done.patch !== undefined) payload.patch = done.patch;
    if (done.next !== undefined) payload.next = done.next;
    if (done.cached) payload.cached = true;
    if (done.items !== undefined) payload.items = done.items;
    if (done.outcome !== undefined) payload.outcome = done.outcome;
    return { type: 'NODE_FINISHED', ...at(site), attempt, durationMs, payload: Object.keys(payload).length > 0 ? text(payload) : null };
  },
  nodeFailed(site: EventSite, attempt: number, durationMs: number | null, error: ErrorRecord): NewEvent {
    return { type: 'NODE_FAILED', ...at(site), attempt, durationMs, error };
  },
  /** An attempt was begun by a holder that disappeared before committing it. */
  nodeInterrupted(site: EventSite, attempt: number, error: ErrorRecord): NewEvent {
    return { type: 'NODE_INTERRUPTED', ...at(site), attempt, error };
  },
  /** `attempt`: the number the retry will have. */
  retryScheduled(site: EventSite, attempt: number, delayMs: number): NewEvent {
    return { type: 'NODE_RETRY_SCHEDULED', ...at(site), attempt, payload: text({ delayMs }) };
  },

  /** `wait`: `{ reason, until, timer, event, patch? }`, serialized and checked by the caller. */
  runWaiting(site: EventSite, attempt: number, durationMs: number | null, wait: JsonText): NewEvent {
    return { type: 'RUN_WAITING', ...at(site), attempt, durationMs, payload: wait };
  },
  /** A wait ended: its timer fired (`waitTimedOut`: an event wait's timeout) or a resume answered it. */
  runResumed(site: EventSite, how: { timer: true; waitTimedOut?: true } | { payload: unknown }): NewEvent {
    return { type: 'RUN_RESUMED', ...at(site), payload: text(how) };
  },
  eventReceived(site: EventSite, event: { eventId: string; name: string; key: string | null }): NewEvent {
    return { type: 'EVENT_RECEIVED', ...at(site), payload: text({ eventId: event.eventId, name: event.name, key: event.key }) };
  },
  childStarted(site: EventSite, attempt: number, child: { childRunId: string; flowId: string; version: string }): NewEvent {
    return { type: 'CHILD_STARTED', ...at(site), attempt, payload: text(child) };
  },
  childFinished(site: EventSite, attempt: number, child: { childRunId: string; status: FlowRunStatus }): NewEvent {
    return { type: 'CHILD_FINISHED', ...at(site), attempt, payload: text(child) };
  },

  branchStarted(site: EventSite, from: { from: string; splitNodeId: string }): NewEvent {
    return { type: 'BRANCH_STARTED', ...at(site), payload: text(from) };
  },
  branchEnded(site: EventSite): NewEvent {
    return { type: 'BRANCH_ENDED', ...at(site) };
  },
  branchAborted(site: EventSite, why: { reason: 'join any' | 'run failed' | 'run cancelled'; by: string }): NewEvent {
    return { type: 'BRANCH_ABORTED', ...at(site), payload: text(why) };
  },
  joinArrived(site: EventSite, waitingFor: string[]): NewEvent {
    return { type: 'JOIN_ARRIVED', ...at(site), payload: text({ joinNodeId: site.nodeId, waitingFor }) };
  },
  joinCompleted(site: EventSite, joined: string[], aborted?: string[]): NewEvent {
    return { type: 'JOIN_COMPLETED', ...at(site), payload: text(aborted === undefined ? { joined } : { joined, aborted }) };
  },
  /** The node failed for good; its `catch` sends the branch to `to`. */
  nodeCaught(site: EventSite, attempt: number, error: ErrorRecord, to: string): NewEvent {
    return { type: 'NODE_CAUGHT', ...at(site), attempt, error, payload: text({ to }) };
  },

  runCompensating(cause: 'failed' | 'cancelled', steps: number, error: ErrorRecord): NewEvent {
    return { type: 'RUN_COMPENSATING', nodeId: null, error, payload: text({ cause, steps }) };
  },
  /** `runId`: the child run whose node this is, when it is not this run's. */
  compensationStarted(site: EventSite, attempt: number, runId?: string): NewEvent {
    return { type: 'COMPENSATION_STARTED', ...at(site), attempt, payload: runId === undefined ? null : text({ runId }) };
  },
  nodeCompensated(site: EventSite, attempt: number, durationMs: number | null, runId?: string): NewEvent {
    return { type: 'NODE_COMPENSATED', ...at(site), attempt, durationMs, payload: runId === undefined ? null : text({ runId }) };
  },
  compensationFailed(site: EventSite, attempt: number, durationMs: number | null, error: ErrorRecord, next: { retryInMs?: number; runId?: string }): NewEvent {
    const payload: Record<string, unknown> = { final: next.retryInMs === undefined };
    if (next.retryInMs !== undefined) payload.retryInMs = next.retryInMs;
    if (next.runId !== undefined) payload.runId = next.runId;
    return { type: 'COMPENSATION_FAILED', ...at(site), attempt, durationMs, error, payload: text(payload) };
  },

  mapStarted(site: EventSite, items: number, concurrency: number): NewEvent {
    return { type: 'MAP_STARTED', ...at(site), payload: text({ items, concurrency }) };
  },
};

/**
 * The event as `getTimeline` shows it: without the state record the engine keeps in the payload
 * for itself — RUN_STARTED's initial `state`, NODE_FINISHED's and RUN_WAITING's `patch` — which
 * `forkRun` replays to start a fork with the state as it was at its node (versions.ts
 * `stateBefore`). They repeat what the run's state shows, and the payloads stay what they were.
 */
export function shownEvent(e: FlowEventRecord): FlowEventRecord {
  const key = e.type === 'RUN_STARTED' ? 'state' : e.type === 'NODE_FINISHED' || e.type === 'RUN_WAITING' ? 'patch' : null;
  const payload = e.payloadJson as Record<string, unknown> | null;
  if (key === null || payload === null || typeof payload !== 'object' || !(key in payload)) return e;
  const { [key]: _recorded, ...rest } = payload;
  return { ...e, payloadJson: Object.keys(rest).length > 0 ? rest : null };
}
