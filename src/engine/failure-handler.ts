/**
 * Durable failure handlers (`FlowOptions.onFailure`): the run a flow's failed run starts. It is
 * decided on the commit that ends the run FAILED — whatever led there (an uncaught failure, its
 * compensations run first, a poison pill…): the driver hands that commit to `withFailureHandler`,
 * which adds the handler run to it (`Transition.failureHandler`) and a timeline event saying so.
 * The store creates the run in the same write as the failure, so a crash can lose neither, and the
 * commit's fence (only one commit ends a run) with the handler's idempotency key
 * (`onFailure:<runId>`) make it exactly one, however many workers and crashes.
 *
 * Rules kept here and nowhere else:
 * - the handler's input is `{ runId, flowId, version, error }` of the failed run (`FailureHandlerInput`);
 *   it runs under the failed run's tenant; it is no child (`failureOf` names the failed run);
 * - the handler flow must be registered with the engine that fails the run (it builds the run
 *   from the definition); if it is not, the failure is kept with a FAILURE_HANDLER_SKIPPED event
 *   saying why, never dropped silently;
 * - a handler run that fails starts its own flow's `onFailure` like any run, unless that flow is
 *   one of the flows of the chain of failures it belongs to (the run it handles, the run that run
 *   handles…): a cycle of handlers (A's handler B, B's handler A) ends there, with a
 *   FAILURE_HANDLER_SKIPPED event, instead of starting runs for ever.
 */
import type { ErrorRecord } from '../errors.js';
import type { FailureHandlerInput, FlowDefinition } from '../definitions/types.js';
import { flowKey } from '../definitions/flow-key.js';
import { serializeJson } from '../core/json.js';
import type { FlowRunRecord, FlowStorage, JsonText, Transition } from '../storage/types.js';
import { newRunOf } from './start.js';
import { timeline } from './timeline.js';

/** What deciding a failure handler needs of the engine. */
export interface FailureHandlerEnv {
  readonly storage: FlowStorage;
  readonly registry: { get(flowId: string, version: string): FlowDefinition | undefined };
  readonly maxJsonBytes: number;
  /** Bounds the walk up a chain of failures (a handler of a handler of …), as it bounds child runs. */
  readonly maxChildDepth: number;
}

/** The idempotency key of the failure handler of run `runId`: one handler per failed run, whoever commits it. */
export const failureHandlerKey = (runId: string): string => `onFailure:${runId}`;

/** True when `t`, committed over `run`, ends the run FAILED: the commit that may start a failure handler. */
export function endsFailed(run: FlowRunRecord, t: Transition): boolean {
  return t.update.status === 'FAILED' && run.status !== 'FAILED';
}

/**
 * `t` (a commit that ends `run` FAILED: see `endsFailed`) with the failure handler of `def`'s
 * `onFailure` to create and its FAILURE_HANDLER_STARTED event — or only a FAILURE_HANDLER_SKIPPED
 * event saying why it starts none. `t` itself when the flow has no `onFailure`.
 */
export async function withFailureHandler(t: Transition, run: FlowRunRecord, def: FlowDefinition, env: FailureHandlerEnv): Promise<Transition> {
  const target = def.onFailure;
  if (!target) return t;
  const { flowId, version } = target;
  const skipped = (reason: string): Transition => ({ ...t, events: [...t.events, timeline.failureHandlerSkipped({ flowId, version, reason })] });

  const loop = await handledChain(run, flowKey(flowId, version), env);
  if (loop) return skipped(loop);
  const handlerDef = env.registry.get(flowId, version);
  if (!handlerDef) return skipped(`flow ${flowKey(flowId, version)} is not registered with the engine whose run failed`);
  const error: ErrorRecord = t.update.error ?? run.error ?? { code: 'FAILED', message: 'The run failed', retryable: false };
  const input: FailureHandlerInput = { runId: run.runId, flowId: run.flowId, version: run.flowVersion, error };
  let text: JsonText;
  try {
    text = serializeJson(input, { what: 'failure handler input', maxBytes: env.maxJsonBytes });
  } catch (err) {
    return skipped(err instanceof Error ? err.message : String(err));
  }
  const handler = newRunOf(handlerDef, {
    input: text,
    state: '{}' as JsonText,
    tenantId: run.tenantId,
    idempotencyKey: failureHandlerKey(run.runId),
    failureOf: run.runId,
    traceparent: run.traceparent,
  });
  return {
    ...t,
    failureHandler: handler,
    events: [...t.events, timeline.failureHandlerStarted({ handlerRunId: handler.runId, flowId, version })],
  };
}

/**
 * Why starting flow `target` for the failure of `run` would close a cycle of handlers, or null:
 * `run`'s flow and those of the runs it handles, up the chain (at most `maxChildDepth` reads).
 */
async function handledChain(run: FlowRunRecord, target: string, env: FailureHandlerEnv): Promise<string | null> {
  const chain = [run.runId];
  for (let r: FlowRunRecord | null = run, depth = 0; r !== null; depth++) {
    if (flowKey(r.flowId, r.flowVersion) === target) {
      return `flow ${target} is already in this chain of failures (runs ${chain.join(' <- ')}): a cycle of failure handlers ends here`;
    }
    if (r.failureOf === null) return null;
    if (depth >= env.maxChildDepth)
      return `the chain of failures is over ${env.maxChildDepth} runs long (maxChildDepth): a runaway chain of failure handlers ends here`;
    chain.push(r.failureOf);
    r = await env.storage.getRun(r.failureOf); // a pruned run ends the chain
  }
  return null;
}
