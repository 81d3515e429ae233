/**
 * The vocabulary of a flow: what a user writes (definitions, handlers, results) and what a
 * handler sees (the context). Nothing here knows about storage or scheduling.
 */
import type { ErrorRecord } from '../errors.js';

export type NodeId = string;

/** Run status as stored (the database enum has the same values). */
export type FlowRunStatus = 'RUNNING' | 'WAITING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';

/** What a handler receives. `state`, `outputs` and `input` are fresh JSON copies: mutating them has no effect. */
export interface FlowContext {
  runId: string;
  flowId: string;
  flowVersion: string;
  tenantId?: string;
  input: unknown;
  /** Accumulated state: every `patch` deep-merged in order. A resume payload lands at `state._resumePayload`. */
  state: Record<string, unknown>;
  /** `outputs[nodeId]` is the last `output` of each node that has run. */
  outputs: Record<string, unknown>;
  meta: {
    /** Attempts begun per node in this run, including the current one (1 on the first attempt). */
    attempts: Record<string, number>;
    /** When the run was created (ISO-8601). */
    startedAt: string;
    /** The node being executed. */
    nodeId: string;
    /** The current attempt of this node (1-based). */
    attempt: number;
  };
  /** Fires when the node's `timeoutMs` elapses or the run is cancelled: stop work and return. */
  signal: AbortSignal;
  /** Whatever the engine was given as `services` (clients, repositories…). */
  services?: Record<string, unknown>;
}

export type NodeResult =
  | { status: 'ok'; patch?: Record<string, unknown>; output?: unknown }
  | { status: 'error'; error: { code: string; message: string; retryable?: boolean } }
  | {
      status: 'wait';
      reason?: string;
      /** An ISO-8601 time makes this a durable timer; any other value (e.g. 'manual') waits for `resumeRun`. */
      until?: string;
      patch?: Record<string, unknown>;
      output?: unknown;
    };

export type NodeHandler = (ctx: FlowContext) => Promise<NodeResult> | NodeResult;

/**
 * Upper bound of any retry delay (one year): a stored due time must stay inside what Postgres'
 * timestamptz can hold, whatever a policy's arithmetic produces.
 */
export const MAX_RETRY_DELAY_MS = 365 * 24 * 60 * 60 * 1000;

export interface RetryPolicy {
  /** Total attempts including the first (>= 1). */
  maxAttempts: number;
  backoff: 'fixed' | 'exponential';
  /** Delay before the second attempt; exponential doubles it each time. */
  baseDelayMs: number;
  /** Upper bound of any one delay (default: no bound). */
  maxDelayMs?: number;
  /** Randomize each delay within [delay/2, delay] so that many runs do not retry in lockstep (default false). */
  jitter?: boolean;
}

export interface NodeOptions {
  /** A readable name for timelines and dashboards (default: the node id). */
  name?: string;
  retry?: RetryPolicy;
  /** Abort `ctx.signal` and fail the attempt with `TIMEOUT` (retryable) after this many ms. */
  timeoutMs?: number;
  /** Once a result is committed under this key, later attempts (in any run) reuse it without calling the handler. */
  idempotencyKey?: (ctx: FlowContext) => string;
}

export interface NodeDefinition extends NodeOptions {
  id: NodeId;
  handler: NodeHandler;
}

export interface EdgeDefinition {
  from: NodeId;
  to: NodeId;
  /** The edge is taken only when this holds (default: always). Sees the state and outputs after the node's result. */
  when?: (ctx: FlowContext) => boolean;
  /** Among matching edges the highest priority wins (default 0). */
  priority?: number;
}

export interface FlowDefinition {
  flowId: string;
  version: string;
  entry: NodeId;
  nodes: Record<NodeId, NodeDefinition>;
  edges: EdgeDefinition[];
}

export type { ErrorRecord };
