/**
 * What the spec says a case must end as, computed without the engine: either the start is
 * refused with a typed error, or the run rests (COMPLETED, FAILED at a named node, or WAITING
 * for more payloads) with exactly the state and outputs a JSON round trip of the values gives.
 */
import { TEST_MAX_JSON_BYTES } from './hostile-arbitraries.js';
import { isPlainRecord, isStorable, isStorableText, jsonBytes, mergePatch, roundTrip, storableText, withKey } from './json-model.js';
import { nodeIdAt, type CasePlan, type NodePlan } from './value-plan.js';

const MAX = TEST_MAX_JSON_BYTES;
const RESUME_KEY = '_resumePayload';

export type ExpectedOutcome =
  | { start: 'refused'; errorName: 'SerializationError' | 'InvalidArgumentError' }
  | {
      start: 'created';
      status: 'COMPLETED' | 'FAILED' | 'WAITING';
      state: Record<string, unknown>;
      outputs: Record<string, unknown>;
      /** FAILED: the error code, and the node the run failed at. */
      error?: { code: string; nodeId: string; message?: string };
      /** How many resumeRun calls must be refused (SerializationError, run unchanged). */
      refusedResumes: number;
    };

const fits = (value: unknown) => isStorable(value) && jsonBytes(value) <= MAX;

type Step = { ok: true; state: Record<string, unknown>; outputs: Record<string, unknown> } | { ok: false; code: string; message?: string };

/** An ok result with `output`/`patch` applied to state and outputs, checked in the engine's order. */
function applyOk(id: string, state: Record<string, unknown>, outputs: Record<string, unknown>, output: unknown, patch: unknown, idempotent: boolean): Step {
  if (patch !== undefined && !isPlainRecord(patch)) return { ok: false, code: 'INVALID_NODE_RESULT' };
  // The resume payload's key is the engine's: a patch may not set it.
  if (patch !== undefined && Object.hasOwn(patch, RESUME_KEY)) return { ok: false, code: 'INVALID_NODE_RESULT' };
  let nextState = state;
  if (patch !== undefined) {
    if (!fits(patch)) return { ok: false, code: 'SERIALIZATION_ERROR' };
    nextState = mergePatch(state, roundTrip(patch));
  }
  if (jsonBytes(nextState) > MAX) return { ok: false, code: 'SERIALIZATION_ERROR' };
  let nextOutputs = outputs;
  if (output !== undefined) {
    if (!fits(output)) return { ok: false, code: 'SERIALIZATION_ERROR' };
    // Each node's output is a row of its own: the limit applies to it, not to all outputs together.
    nextOutputs = withKey(outputs, id, roundTrip(output));
  }
  if (idempotent) {
    const record: Record<string, unknown> = {};
    if (output !== undefined) record.output = output;
    if (patch !== undefined) record.patch = patch;
    if (jsonBytes(record) > MAX) return { ok: false, code: 'SERIALIZATION_ERROR' };
  }
  return { ok: true, state: nextState, outputs: nextOutputs };
}

/** The error a handler's failure is recorded with (after its retry, if retryable and not recovered). */
function failureOf(node: Extract<NodePlan, { kind: 'error' | 'throw' }>): { retryable: boolean; code?: string; message?: string } {
  if (node.kind === 'error') {
    if (typeof node.code !== 'string' || typeof node.message !== 'string') return { retryable: false, code: 'INVALID_NODE_RESULT' };
    return { retryable: node.retryable, code: storableText(node.code), message: storableText(node.message) };
  }
  const thrown = node.thrown;
  if (thrown instanceof Error) {
    const code = (thrown as { code?: unknown }).code;
    return { retryable: true, code: storableText(typeof code === 'string' ? code : 'HANDLER_ERROR'), message: storableText(thrown.message || thrown.name) };
  }
  return { retryable: true, code: 'NON_ERROR_THROWN' }; // message: the value as text, compared across stores
}

export function expectedOutcome(plan: CasePlan, caseId: string): ExpectedOutcome {
  if (plan.initialState !== undefined && !isPlainRecord(plan.initialState)) return { start: 'refused', errorName: 'InvalidArgumentError' };
  // Reserved keys are refused in an initial state (the engine sets them itself).
  if (Object.hasOwn(plan.initialState ?? {}, RESUME_KEY)) return { start: 'refused', errorName: 'InvalidArgumentError' };
  const input = plan.input === undefined ? null : plan.input;
  if (!fits(input) || !fits(plan.initialState ?? {})) return { start: 'refused', errorName: 'SerializationError' };

  let state = roundTrip((plan.initialState ?? {}) as Record<string, unknown>);
  let outputs: Record<string, unknown> = {};
  let refusedResumes = 0;
  const failed = (nodeId: string, code: string, message?: string): ExpectedOutcome => ({
    start: 'created',
    status: 'FAILED',
    state,
    outputs,
    error: { code, nodeId, message },
    refusedResumes,
  });
  const apply = (step: Step, nodeId: string): ExpectedOutcome | null => {
    if (!step.ok) return failed(nodeId, step.code, step.message);
    ({ state, outputs } = step);
    return null;
  };

  for (const [i, node] of plan.nodes.entries()) {
    const id = nodeIdAt(i);
    let end: ExpectedOutcome | null = null;
    switch (node.kind) {
      case 'ok':
        end = apply(applyOk(id, state, outputs, node.output, node.patch, false), id);
        break;
      case 'idempotent': {
        const key = `${caseId}|${id}|${node.key}`;
        if (key.length > 512 || !isStorableText(key)) return failed(id, 'INVALID_IDEMPOTENCY_KEY');
        end = apply(applyOk(id, state, outputs, node.output, node.patch, true), id);
        break;
      }
      case 'timer':
        state = withKey(state, `timer_${id}`, true);
        end = apply(applyOk(id, state, outputs, 'timer fired', undefined, false), id);
        break;
      case 'wait': {
        // The payload is shown to the resumed node only; it never lands in the stored state.
        const resumed = (payload: unknown) => apply(applyOk(id, state, outputs, { resumed: payload }, undefined, false), id);
        if (node.reason !== undefined && !isStorableText(node.reason)) return failed(id, 'INVALID_NODE_RESULT');
        if (jsonBytes({ reason: node.reason ?? null, until: null, timer: null }) > MAX) return failed(id, 'SERIALIZATION_ERROR');
        let waiting = true;
        for (const payload of node.payloads) {
          if (payload === undefined) continue; // resumed without a payload: the node runs and waits again
          // The payload itself must fit (resumeRun refuses it otherwise); shown to the node, what it
          // makes of it is checked like any output (a payload within the limit, wrapped, may not be).
          if (!fits(payload)) {
            refusedResumes += 1;
            continue;
          }
          waiting = false;
          end = resumed(roundTrip(payload));
          break;
        }
        if (waiting) return { start: 'created', status: 'WAITING', state, outputs, refusedResumes };
        break;
      }
      case 'error':
      case 'throw': {
        const failure = failureOf(node);
        if (failure.retryable && node.recovers) end = apply(applyOk(id, state, outputs, 'recovered', undefined, false), id);
        else return failed(id, failure.code!, failure.message);
        break;
      }
      case 'malformed':
        return failed(id, 'INVALID_NODE_RESULT');
    }
    if (end) return end;
  }
  return { start: 'created', status: 'COMPLETED', state, outputs, refusedResumes };
}
