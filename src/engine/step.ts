/**
 * One step of a run under its lock: begin the attempt (durably), call the handler, and commit
 * the outcome as one fenced transition (state, outputs, attempts, next node, events, idempotency
 * record). Everything here decides *what* to write; the store decides *how*.
 *
 * "Attempt begun" must be on disk before the handler runs (see begin.ts). To keep one commit per
 * step on the hot path, a step that will be followed by another in the same lease writes the next
 * attempt's start together with its own result (`beginNext`), and the first attempt of a lease
 * rides on the lock when the store can do that.
 */
import { FlowError, SerializationError, toErrorRecord, type ErrorRecord } from '../errors.js';
import type { FlowContext, FlowDefinition, NodeDefinition } from '../definitions/types.js';
import type { FlowRunRecord, JsonText, NewEvent, RunLease, RunUpdate, Transition } from '../storage/types.js';
import { AbandonedAttempt, invokeHandler, type AttemptOutcome } from './attempt.js';
import { retryDelayMs } from './backoff.js';
import { baseUpdate, beginTransition, failRunTransition, storableError, withFirstAttemptBegun } from './begin.js';
import { selectNextNode } from './edges.js';
import { checkJsonSize, serializeJson, unstorableTextReason } from './json.js';
import { deepMerge } from './merge.js';

export { failRunTransition } from './begin.js';

export interface StepEnv {
  services?: Record<string, unknown>;
  maxJsonBytes: number;
  /** Interrupted attempts tolerated at one node before the run fails (poison-pill guard). */
  maxRecoveries: number;
  now(): number;
  /** Registers the attempt's controller so `cancelRun` can abort it; returns the unregister function. */
  trackAttempt(runId: string, controller: AbortController): () => void;
  /** Reads a committed idempotent result (not run-scoped, so it is not on the lease). */
  lookupIdempotent(key: string): Promise<{ result: { output?: unknown; patch?: Record<string, unknown> } } | null>;
  /** Observability hook: called after each commit with the events it wrote. */
  onCommitted?(run: FlowRunRecord, events: NewEvent[]): void;
}

export interface StepOptions {
  /** The caller will run the next step in this same lease if the run stays RUNNING and due. */
  continueAfter: boolean;
  /** The caller already committed this attempt's start (rode on the previous commit). */
  begunByThisLease: boolean;
}

export interface StepResult {
  run: FlowRunRecord;
  /** True when the commit also began the next attempt, so the next step must not begin it again. */
  begunNext: boolean;
}

const NO_EVENT_PAYLOAD = null;

/** Where `resumeRun`'s payload lands in the state (the seed's convention). */
export const RESUME_PAYLOAD_KEY = '_resumePayload';

function json(value: unknown, what: string, env: StepEnv, nodeId?: string): JsonText {
  return serializeJson(value, { what, nodeId, maxBytes: env.maxJsonBytes });
}

async function commit(lease: RunLease, env: StepEnv, t: Transition): Promise<FlowRunRecord> {
  const run = await lease.commit(t);
  env.onCommitted?.(run, t.events);
  return run;
}

/**
 * Execute the current attempt of a RUNNING, due run. Returns the committed row.
 * The caller checked status and due time; this function owns everything after.
 */
export async function runStep(
  lease: RunLease,
  def: FlowDefinition,
  env: StepEnv,
  options: StepOptions,
): Promise<StepResult> {
  let run = lease.run!;
  const nodeId = run.currentNodeId!;
  const node = def.nodes[nodeId];
  if (!node) {
    const error = { code: 'NODE_NOT_FOUND', message: `Run is at node "${nodeId}", which flow ${def.flowId}@${def.version} does not define`, retryable: false };
    return { run: await commit(lease, env, failRunTransition(run, error, [])), begunNext: false };
  }

  // 1. Begin the attempt durably, unless this lease already did (on the lock or the previous commit).
  if (!options.begunByThisLease || !run.attemptInFlight) {
    const begin = beginTransition(run, nodeId, env);
    run = await commit(lease, env, begin.transition);
    if (begin.poisoned) return { run, begunNext: false };
  }

  // 2. Run the attempt (or reuse the committed result of its idempotency key).
  const started = env.now();
  const ctxBase: Omit<FlowContext, 'signal'> = {
    runId: run.runId,
    flowId: run.flowId,
    flowVersion: run.flowVersion,
    tenantId: run.tenantId ?? undefined,
    input: structuredClone(run.inputJson),
    state: structuredClone(run.stateJson),
    outputs: structuredClone(run.outputsJson),
    meta: { attempts: { ...run.attemptsJson }, startedAt: run.createdAt.toISOString(), nodeId, attempt: run.attempt },
    services: env.services,
  };
  const controller = new AbortController();
  let idemKey: string | undefined;
  let outcome: AttemptOutcome;
  let cached = false;
  try {
    idemKey = node.idempotencyKey ? checkIdempotencyKey(nodeId, node.idempotencyKey({ ...ctxBase, signal: controller.signal })) : undefined;
    const record = idemKey === undefined ? null : await env.lookupIdempotent(idemKey);
    if (record) {
      cached = true;
      outcome = { kind: 'ok', output: record.result.output, patch: record.result.patch };
    } else {
      const untrack = env.trackAttempt(run.runId, controller);
      try {
        outcome = await invokeHandler(node, ctxBase, controller);
      } finally {
        untrack();
      }
    }
  } catch (err) {
    outcome = { kind: 'error', error: toErrorRecord(err, 'IDEMPOTENCY_KEY_ERROR') };
  }
  const durationMs = env.now() - started;
  // A stopping worker gave up on this attempt: commit nothing, let the next holder retry it.
  if (controller.signal.reason instanceof AbandonedAttempt) throw controller.signal.reason;

  // 3. Turn the outcome into one transition.
  const ctx: FlowContext = { ...ctxBase, signal: controller.signal };
  const t = decideTransition(run, def, node, env, outcome, { ctx, durationMs, idemKey, cached, options });
  const committed = await commit(lease, env, t.transition);
  return { run: committed, begunNext: t.begunNext };
}

function checkIdempotencyKey(nodeId: string, key: unknown): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > 512) {
    throw FlowError.nonRetryable('INVALID_IDEMPOTENCY_KEY', `Node "${nodeId}": idempotencyKey must return a non-empty string of at most 512 characters`);
  }
  const problem = unstorableTextReason(key);
  if (problem) throw FlowError.nonRetryable('INVALID_IDEMPOTENCY_KEY', `Node "${nodeId}": idempotencyKey ${problem}`);
  return key;
}

interface DecideInput {
  /** The handler's context (its copies), reused for edge conditions. */
  ctx: FlowContext;
  durationMs: number;
  idemKey?: string;
  cached: boolean;
  options: StepOptions;
}

function decideTransition(
  run: FlowRunRecord,
  def: FlowDefinition,
  node: NodeDefinition,
  env: StepEnv,
  outcome: AttemptOutcome,
  d: DecideInput,
): { transition: Transition; begunNext: boolean } {
  const release = !d.options.continueAfter;
  const nodeId = node.id;
  const attempt = run.attempt;
  if (outcome.kind === 'error') return { transition: errorTransition(run, node, env, outcome.error, d.durationMs, release), begunNext: false };

  // Apply patch and output; a value JSON cannot hold fails the run here, naming the node.
  let stateText: JsonText | undefined;
  let outputsText: JsonText | undefined;
  let state = run.stateJson;
  let outputs = run.outputsJson;
  let idempotentResult: JsonText | undefined;
  let waitPayload: JsonText | undefined;
  try {
    if (outcome.patch !== undefined) {
      json(outcome.patch, 'patch', env, nodeId);
      state = deepMerge(run.stateJson, outcome.patch);
    }
    if (outcome.kind === 'ok' && RESUME_PAYLOAD_KEY in state) {
      // The resume payload belongs to the attempt that was resumed; once that node succeeds it is
      // dropped, so a later WAIT node that checks `_resumePayload` waits instead of seeing a stale one.
      state = { ...state };
      delete state[RESUME_PAYLOAD_KEY];
    }
    if (state !== run.stateJson) {
      stateText = checkJsonSize(JSON.stringify(state), { what: 'state', nodeId, maxBytes: env.maxJsonBytes });
    }
    if (outcome.output !== undefined) {
      json(outcome.output, 'output', env, nodeId);
      outputs = { ...run.outputsJson, [nodeId]: outcome.output };
      outputsText = checkJsonSize(JSON.stringify(outputs), { what: 'outputs', nodeId, maxBytes: env.maxJsonBytes });
    }
    // Checked here, with the values above, so that a record over the size limit fails the node
    // instead of throwing past the commit and leaving the attempt in flight.
    if (outcome.kind === 'ok' && d.idemKey && !d.cached) {
      idempotentResult = json(definedOnly({ output: outcome.output, patch: outcome.patch }), 'idempotent result', env, nodeId);
    }
    if (outcome.kind === 'wait') {
      waitPayload = json({ reason: outcome.reason ?? null, until: outcome.until ?? null, timer: parseTimer(outcome.until)?.toISOString() ?? null }, 'wait event', env, nodeId);
    }
  } catch (err) {
    const error = err instanceof SerializationError ? { code: err.code, message: err.message, retryable: false } : toErrorRecord(err);
    return { transition: errorTransition(run, node, env, { ...error, retryable: false }, d.durationMs, release), begunNext: false };
  }
  const base = { ...baseUpdate(run), state: stateText, outputs: outputsText, attemptInFlight: false, error: null };

  if (outcome.kind === 'wait') {
    const timer = parseTimer(outcome.until);
    return {
      transition: {
        expectedVersion: run.version,
        update: { ...base, status: 'WAITING', attempt: 0, recoveries: 0, nextAttemptAt: timer ? { at: timer } : null, waitReason: outcome.reason ?? null },
        events: [
          {
            type: 'RUN_WAITING',
            nodeId,
            attempt,
            durationMs: d.durationMs,
            payload: waitPayload,
          },
        ],
        release: true,
      },
      begunNext: false,
    };
  }

  // ok: pick the next node with the new state and outputs in view.
  let next: string | null;
  try {
    // Conditions are predicates: they see the state after this result and must not change it.
    const edgeCtx: FlowContext = { ...d.ctx, state, outputs };
    next = selectNextNode(nodeId, def.edges, edgeCtx);
  } catch (err) {
    const error = err instanceof FlowError
      ? { ...toErrorRecord(err), retryable: false }
      : { code: 'EDGE_CONDITION_ERROR', message: `An edge condition from "${nodeId}" threw: ${toErrorRecord(err).message}`, retryable: false };
    const finished: NewEvent = { type: 'NODE_FINISHED', nodeId, attempt, durationMs: d.durationMs };
    // The node itself succeeded: keep its state and outputs, so the failure is inspectable.
    return { transition: failRunTransition(run, error, [finished], { state: stateText, outputs: outputsText }), begunNext: false };
  }
  const finished: NewEvent = {
    type: 'NODE_FINISHED',
    nodeId,
    attempt,
    durationMs: d.durationMs,
    payload: d.cached ? json({ next, cached: true }, 'event', env) : json({ next }, 'event', env),
  };
  const idempotency = idempotentResult !== undefined ? { key: d.idemKey!, runId: run.runId, nodeId, result: idempotentResult } : undefined;

  if (next === null) {
    return {
      transition: {
        expectedVersion: run.version,
        update: { ...base, status: 'COMPLETED', currentNodeId: null, attempt: 0, recoveries: 0, nextAttemptAt: null, waitReason: null },
        events: [finished, { type: 'RUN_COMPLETED', nodeId: null, payload: NO_EVENT_PAYLOAD }],
        idempotency,
        release: true,
      },
      begunNext: false,
    };
  }
  const update: RunUpdate = { ...base, status: 'RUNNING', currentNodeId: next, attempt: 0, recoveries: 0, nextAttemptAt: null, waitReason: null };
  const events = [finished];
  const t: Transition = { expectedVersion: run.version, update, events, idempotency, release, wake: release };
  // The next attempt's start rides on this commit (one commit per step).
  if (d.options.continueAfter) return { transition: withFirstAttemptBegun(t, run, next, env), begunNext: true };
  return { transition: t, begunNext: false };
}

function errorTransition(run: FlowRunRecord, node: NodeDefinition, env: StepEnv, failure: ErrorRecord, durationMs: number, release: boolean): Transition {
  const error = storableError(failure);
  const attempt = run.attempt;
  const failedAttempts = attempt - run.recoveries;
  const policy = node.retry;
  const failed: NewEvent = { type: 'NODE_FAILED', nodeId: node.id, attempt, durationMs, error };
  if (error.retryable !== false && policy && failedAttempts < policy.maxAttempts) {
    const delayMs = retryDelayMs(policy, attempt + 1);
    return {
      expectedVersion: run.version,
      update: { ...baseUpdate(run), status: 'RUNNING', attemptInFlight: false, nextAttemptAt: { delayMs }, error: null },
      events: [failed, { type: 'NODE_RETRY_SCHEDULED', nodeId: node.id, attempt: attempt + 1, payload: json({ delayMs }, 'event', env) }],
      release,
    };
  }
  return failRunTransition(run, error, [failed]);
}

function definedOnly(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined));
}

/** An ISO-8601 `until` is a durable timer; anything else ('manual', a label) waits for resumeRun. */
export function parseTimer(until: string | undefined): Date | null {
  if (until === undefined) return null;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(until)) return null;
  const ms = Date.parse(until);
  return Number.isNaN(ms) ? null : new Date(ms);
}
