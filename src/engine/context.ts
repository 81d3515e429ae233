/**
 * The `ctx` a handler (or a `forEach`, an `idempotencyKey`, an edge condition) receives.
 * `ctx.outputs` is built when first read: a step's cost must not grow with what the run has
 * accumulated, and most handlers never look at other nodes' outputs.
 */
import type { CaughtError, FlowContext } from '../definitions/types.js';
import type { FlowRunRecord } from '../storage/types.js';

export interface ContextEnv {
  services?: Record<string, unknown>;
}

export interface ContextFields {
  nodeId: string;
  branchId: string;
  attempt: number;
  attempts: Record<string, number>;
  state: Record<string, unknown>;
  /** The outputs as of now; called at most once, on first read of `ctx.outputs`. */
  outputs: () => Record<string, unknown>;
  itemIndex?: number;
  item?: unknown;
  signal?: AbortSignal;
  /** Give the handler its own copies (handlers may mutate); conditions get the values themselves. */
  copy?: boolean;
  waitTimedOut?: boolean;
  /** `ctx.error`: the failure a `catch` routed here, or the one a compensation undoes. */
  error?: CaughtError;
}

const NEVER_ABORTED = new AbortController().signal;

export function buildContext(env: ContextEnv, run: FlowRunRecord, f: ContextFields): FlowContext {
  const copy = f.copy === true ? <T>(v: T): T => structuredClone(v) : <T>(v: T): T => v;
  let outputs: Record<string, unknown> | undefined;
  const ctx = {
    runId: run.runId,
    flowId: run.flowId,
    flowVersion: run.flowVersion,
    tenantId: run.tenantId ?? undefined,
    input: copy(run.inputJson),
    state: copy(f.state),
    meta: {
      attempts: { ...f.attempts },
      startedAt: run.createdAt.toISOString(),
      nodeId: f.nodeId,
      attempt: f.attempt,
      branchId: f.branchId,
      ...(f.itemIndex === undefined ? {} : { itemIndex: f.itemIndex }),
      ...(f.waitTimedOut ? { waitTimedOut: true } : {}),
    },
    signal: f.signal ?? NEVER_ABORTED,
    services: env.services,
    ...(f.itemIndex === undefined ? {} : { item: copy(f.item), itemIndex: f.itemIndex }),
    ...(f.error === undefined ? {} : { error: { ...f.error } }),
  } as unknown as FlowContext;
  Object.defineProperty(ctx, 'outputs', {
    enumerable: true,
    configurable: true,
    get: () => (outputs ??= copy(f.outputs())),
    set: (value: Record<string, unknown>) => {
      outputs = value;
    },
  });
  return ctx;
}
