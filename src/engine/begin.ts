/**
 * Beginning an attempt: the durable "attempt begun" record written before a handler runs, so that
 * a holder that dies mid-attempt leaves a trace (`attemptInFlight`) the next holder turns into
 * NODE_INTERRUPTED. It is a commit of its own only when nothing else can carry it: it rides on
 * the lock (`LockRunOptions.beginAttempt`), on the previous step's commit, or on a resume.
 */
import type { ErrorRecord } from '../errors.js';
import type { FlowDefinition } from '../definitions/types.js';
import type { FlowRunRecord, JsonText, NewEvent, RunUpdate, Transition } from '../storage/types.js';
import { serializeJson, toStorableText } from './json.js';

/** What `begin` needs of the step environment. */
export interface BeginEnv {
  maxJsonBytes: number;
  maxRecoveries: number;
}

/** Values carried from the run row into a transition. */
export function baseUpdate(run: FlowRunRecord): RunUpdate {
  return {
    status: run.status,
    currentNodeId: run.currentNodeId,
    attempt: run.attempt,
    attemptInFlight: run.attemptInFlight,
    recoveries: run.recoveries,
    nextAttemptAt: run.nextAttemptAt ? { at: run.nextAttemptAt } : null,
    waitReason: run.waitReason,
    error: run.error,
  };
}

/** Counts are looked up as own keys: a node named "constructor" must not read Object.prototype's. */
export function attemptsAt(run: FlowRunRecord, nodeId: string): number {
  return Object.hasOwn(run.attemptsJson, nodeId) ? run.attemptsJson[nodeId]! : 0;
}

/** The run's attempts per node with one more at `nodeId`, serialized (throws SerializationError over the size limit). */
export function attemptsWithOneMore(run: FlowRunRecord, nodeId: string, env: BeginEnv): JsonText {
  return serializeJson({ ...run.attemptsJson, [nodeId]: attemptsAt(run, nodeId) + 1 }, { what: 'attempts', maxBytes: env.maxJsonBytes });
}

/**
 * Error text comes from handlers (messages, codes) and may hold U+0000 or lone surrogates, which
 * Postgres refuses: such a commit would fail on every retry and strand the run. The text is made
 * storable here, before any store sees it, so every store records the same error.
 */
export function storableError(error: ErrorRecord): ErrorRecord {
  const out: ErrorRecord = { code: toStorableText(String(error.code)), message: toStorableText(String(error.message)) };
  if (error.retryable !== undefined) out.retryable = error.retryable;
  return out;
}

/** Fails the run at its current node (definition problems, poison pills, non-retryable errors). */
export function failRunTransition(run: FlowRunRecord, failure: ErrorRecord, nodeEvents: NewEvent[], update?: Partial<RunUpdate>): Transition {
  const error = storableError(failure);
  return {
    expectedVersion: run.version,
    update: { ...baseUpdate(run), ...update, status: 'FAILED', attemptInFlight: false, nextAttemptAt: null, error },
    events: [...nodeEvents, { type: 'RUN_ABORTED', nodeId: run.currentNodeId, error }],
    // A failed run has nothing left to do in this lease.
    release: true,
  };
}

/**
 * The begin of the current attempt at `nodeId` as a commit of its own. An attempt left in flight
 * by a previous holder is recorded as interrupted first; past `maxRecoveries` interruptions in a
 * row the run fails instead (poison-pill guard) and `poisoned` is true.
 */
export function beginTransition(run: FlowRunRecord, nodeId: string, env: BeginEnv): { transition: Transition; poisoned: boolean } {
  const events: NewEvent[] = [];
  let recoveries = run.recoveries;
  if (run.attemptInFlight) {
    recoveries += 1;
    const error = { code: 'ATTEMPT_INTERRUPTED', message: `Attempt ${run.attempt} of node "${nodeId}" was interrupted (its worker stopped or lost its lock before committing)`, retryable: true };
    events.push({ type: 'NODE_INTERRUPTED', nodeId, attempt: run.attempt, error });
    if (recoveries > env.maxRecoveries) {
      const poison = { code: 'POISON_PILL', message: `Node "${nodeId}" was interrupted ${recoveries} times in a row (limit ${env.maxRecoveries}); failing the run instead of crashing more workers`, retryable: false };
      return { transition: failRunTransition(run, poison, events, { recoveries }), poisoned: true };
    }
  }
  events.push({ type: 'NODE_STARTED', nodeId, attempt: run.attempt + 1 });
  return {
    transition: {
      expectedVersion: run.version,
      update: { ...baseUpdate(run), attempt: run.attempt + 1, attemptInFlight: true, recoveries, attempts: attemptsWithOneMore(run, nodeId, env) },
      events,
    },
    poisoned: false,
  };
}

/**
 * `t` — which leaves `run` RUNNING at `nodeId` with no attempt begun (a finished step, a resume) —
 * extended to also begin the first attempt at `nodeId`: one commit instead of two.
 */
export function withFirstAttemptBegun(t: Transition, run: FlowRunRecord, nodeId: string, env: BeginEnv): Transition {
  return {
    ...t,
    update: { ...t.update, attempt: 1, attemptInFlight: true, attempts: attemptsWithOneMore(run, nodeId, env) },
    events: [...t.events, { type: 'NODE_STARTED', nodeId, attempt: 1, durationMs: null, payload: null }],
  };
}

/**
 * `withFirstAttemptBegun` for a resume at the run's current node, or null when the begin cannot
 * ride on it (the node is not in the definition, or the attempts would not serialize): the step
 * then reports that itself, exactly as without the ride-along.
 */
export function resumeWithBegin(t: Transition, run: FlowRunRecord, def: FlowDefinition, env: BeginEnv): Transition | null {
  const nodeId = run.currentNodeId;
  if (nodeId === null || !Object.hasOwn(def.nodes, nodeId)) return null;
  try {
    return withFirstAttemptBegun(t, run, nodeId, env);
  } catch {
    return null;
  }
}

/** The event of a begin that was committed by someone else's statement (the lock's), for hooks. */
export function startedEvent(run: FlowRunRecord): NewEvent {
  return { type: 'NODE_STARTED', nodeId: run.currentNodeId, attempt: run.attempt };
}
