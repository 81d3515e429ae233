/**
 * The vocabulary of a flow: what a user writes (definitions, handlers, results) and what a
 * handler sees (the context). Nothing here knows about storage or scheduling.
 */
import type { ErrorRecord } from '../errors.js';

export type NodeId = string;

import type { CaughtError, FlowRunStatus } from '../core/states.js';
import type { FlowScheduleOption } from './schedule-spec.js';

export type { CaughtError, FlowRunStatus };

/**
 * What a handler receives. `state`, `outputs` and `input` are fresh JSON copies: mutating them has
 * no effect. `outputs` is copied when first read, so a handler that never reads it pays nothing.
 *
 * The type arguments carry a typed flow's types (docs/typed-flows.md): `flow<TInput, TState,
 * TServices>(id, version)` fills in the first three and records `TOutputs` node by node; without
 * them a context has the untyped shapes (`unknown` input, records for state, services, outputs).
 */
export type FlowContext<
  TInput = unknown,
  TState = Record<string, unknown>,
  TServices = DefaultServices,
  TOutputs = Record<string, unknown>,
> = FlowContextFields<TInput, TState, TOutputs> & ServicesField<TServices>;

/** Every field of a `FlowContext` but `services`. */
export interface FlowContextFields<TInput = unknown, TState = Record<string, unknown>, TOutputs = Record<string, unknown>> {
  runId: string;
  flowId: string;
  flowVersion: string;
  tenantId?: string;
  input: TInput;
  /**
   * Accumulated state: every `patch` deep-merged in commit order (parallel branches included). A
   * resume payload is shown at `state._resumePayload` to the resumed node only (typed when
   * `TState` declares `_resumePayload`, `unknown` otherwise).
   */
  state: TState & ResumeSlot;
  /**
   * `outputs[nodeId]` is the last `output` of each node that has run. In a typed builder each key
   * is a node declared before this one, optional (a node on another path may not have run).
   */
  outputs: TOutputs;
  meta: {
    /** Attempts begun per node in this run, including the current one (1 on the first attempt). */
    attempts: Record<string, number>;
    /** When the run was created (ISO-8601). */
    startedAt: string;
    /** The node being executed. */
    nodeId: string;
    /** The current attempt of this node (for a `forEach` node: of this item), 1-based. */
    attempt: number;
    /** The branch executing the node (`b1` for the run's first branch; see `FlowRunRecord.branches`). */
    branchId: string;
    /** Inside a `forEach` node: the item's index (as `ctx.itemIndex`). */
    itemIndex?: number;
    /** True when this attempt runs because an event wait's `timeoutMs` passed without the event. */
    waitTimedOut?: boolean;
  };
  /** Fires when the node's `timeoutMs` elapses or the run is cancelled: stop work and return. */
  signal: AbortSignal;
  /**
   * The item this call is for: set only inside a `forEach` node's handler and its
   * `idempotencyKey` (one call per item); undefined everywhere else.
   */
  item?: unknown;
  /** The position of `item` in the array `forEach` returned (0-based); set only where `item` is. */
  itemIndex?: number;
  /**
   * Set only at the target of a `catch` (and in its retries): the failure that was caught. Also
   * set in a `compensate` handler run because the run failed (the failure being compensated).
   */
  error?: CaughtError;
  /**
   * Set only in the handler of a node with `transaction` (docs/transactions.md): a transaction of
   * the engine's own database, opened for this attempt, in which the engine also commits the
   * attempt's outcome — its writes stay exactly when the step does. On the pg and PGlite stores
   * a `SqlTransaction`; on the Prisma store the interactive transaction client (cast it:
   * `ctx.tx as unknown as Prisma.TransactionClient`). Any use after the attempt ended fails.
   */
  tx?: FlowTransaction;
}

/** `ctx.tx` on the pg and PGlite stores. */
export interface SqlTransaction {
  /** One statement with `$1…` parameters, in the attempt's transaction. */
  query<R extends Record<string, unknown> = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<{ rows: R[]; rowCount: number }>;
}

/**
 * The type of `ctx.tx`: `SqlTransaction` (pg, PGlite). On the Prisma store the value is the
 * interactive transaction client, which only the application's generated client can type: cast it.
 */
export type FlowTransaction = SqlTransaction;

/** How a transactional node's transaction is isolated (Postgres' levels; default `'read committed'`). */
export type TransactionIsolation = 'read committed' | 'repeatable read' | 'serializable';

/** The isolation levels `transaction: { isolation }` accepts. */
export const TRANSACTION_ISOLATIONS: readonly TransactionIsolation[] = Object.freeze(['read committed', 'repeatable read', 'serializable']);

/** The isolation of a node's transaction, or null when it has none (`transaction` absent or false). */
export function transactionIsolation(node: Pick<NodeOptions, 'transaction'>): TransactionIsolation | null {
  const option = node.transaction;
  if (option === undefined || option === false) return null;
  return option === true ? 'read committed' : (option.isolation ?? 'read committed');
}

/** `ctx.services` of an untyped flow: the engine's `services` option, if it was given. */
export type DefaultServices = Record<string, unknown> | undefined;

/**
 * `ctx.services`: whatever the engine was given as `services` (clients, repositories…), undefined
 * when it was given none. A typed flow's `TServices` says what it expects the engine to have
 * been given; unless it admits `undefined`, the field is required (no `!` in handlers).
 */
export type ServicesField<TServices> = undefined extends TServices ? { services?: TServices } : { services: TServices };

/** Where the engine shows a resume (or event) payload in `ctx.state`; `unknown` unless the state type declares it. */
export interface ResumeSlot {
  _resumePayload?: unknown;
}

/**
 * Any flow context, typed or not: the bound of the type parameters that take a context. Every
 * field of a context is read-only in effect (a fresh copy), so a typed context is one of these.
 */
export type AnyFlowContext = FlowContext<unknown, unknown, unknown, unknown>;

/**
 * What a handler returns. `TOutput` is the type of `output` (what later nodes see at
 * `ctx.outputs[nodeId]`), `TState` the flow's state, which `patch` is checked against.
 */
export type NodeResult<TOutput = unknown, TState = Record<string, unknown>> =
  | {
      status: 'ok';
      patch?: StatePatch<TState>;
      output?: TOutput;
      /**
       * A business outcome (`'refunded'`, `'declined'`…): becomes the run's `outcome`, shown in the
       * runs list and filterable. A later node's outcome replaces an earlier one.
       */
      outcome?: string;
    }
  | { status: 'error'; error: { code: string; message: string; retryable?: boolean } }
  | {
      status: 'wait';
      reason?: string;
      /** An ISO-8601 time makes this a durable timer; any other value (e.g. 'manual') waits for `resumeRun`. */
      until?: string;
      /**
       * Wait for an event sent with `engine.sendEvent({ name, key })` (any key when `key` is not
       * given). With `timeoutMs`, a wait that sees no event in time re-runs the node with
       * `ctx.meta.waitTimedOut === true`.
       */
      event?: { name: string; key?: string; timeoutMs?: number };
      patch?: StatePatch<TState>;
      output?: TOutput;
    }
  | {
      /**
       * Start a child run of `flowId@version` (registered in this process) and wait for it: when it
       * completes, this node succeeds with the child's outputs as its output; when it fails or is
       * cancelled, this attempt fails with `CHILD_FAILED` (retried under the node's policy, with a
       * new child).
       */
      status: 'child';
      flowId: string;
      version: string;
      input?: unknown;
      tenantId?: string;
    };

/**
 * A patch of state `TState`: every key optional, and a nested plain object may itself be given in
 * part (patches deep-merge; arrays and other values replace). For untyped state, a record.
 */
export type StatePatch<TState> = { [K in keyof TState]?: PatchValue<TState[K]> };

/** A value in a patch: a plain object in part (each member of a union on its own), anything else whole. */
type PatchValue<V> = V extends readonly unknown[] ? V : V extends object ? StatePatch<V> : V;

/** A node's handler; typed flows give it their context and result types. */
export type NodeHandler<TContext extends AnyFlowContext = FlowContext, TResult = NodeResult> = (ctx: TContext) => Promise<TResult> | TResult;

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

/** How many items of a `forEach` node run at once when `concurrency` is not given. */
export const DEFAULT_FOREACH_CONCURRENCY = 10;

/**
 * A node's options. `TContext` is the context its callbacks see (a typed flow's), and
 * `TCompensateContext` the one its `compensate` sees (in a typed builder, with this node's own
 * output too: it finished).
 */
export interface NodeOptions<TContext extends AnyFlowContext = FlowContext, TCompensateContext extends AnyFlowContext = TContext> {
  /** A readable name for timelines and dashboards (default: the node id). */
  name?: string;
  /** Retries of a failed attempt (for a `forEach` node: of each item). Default: no retry. */
  retry?: RetryPolicy;
  /** Abort `ctx.signal` and fail the attempt with `TIMEOUT` (retryable) after this many ms (for a `forEach` node: per item). */
  timeoutMs?: number;
  /**
   * Once a result is committed under this key, later attempts (in any run) reuse it without calling
   * the handler. On a `forEach` node it is called once per item and sees `ctx.item`/`ctx.itemIndex`:
   * make the key depend on the item.
   */
  idempotencyKey?: (ctx: TContext) => string;
  /**
   * What happens after the node succeeds. `'first'` (the default) is the single-path rule: among
   * the outgoing edges whose `when` holds the highest priority wins, a tie is `AMBIGUOUS_EDGE`, no
   * match ends the branch. `'all'`: every outgoing edge whose `when` holds is taken, each starting
   * a branch of its own, and the branches run concurrently; edge priorities play no part (a
   * non-zero priority on such an edge is a definition error), and two edges to the same node are a
   * definition error (each would start a branch at that node).
   */
  split?: 'all' | 'first';
  /**
   * Gathers the branches of a `split: 'all'` that reach this node. `'all'`: the node runs once,
   * after every branch that could still reach it has arrived or ended. `'any'`: it runs once, with
   * the first branch to arrive, and the other branches of that split are aborted. A node with
   * `join` must be reachable from some `split: 'all'` node (a join that no split can feed is a
   * definition error).
   */
  join?: 'all' | 'any';
  /**
   * Makes this a map node: called once when the node starts, it returns the items, and the handler
   * then runs once per item (with `ctx.item` and `ctx.itemIndex`), each item with its own attempts,
   * retry policy, timeout and idempotency key. The node's output is the array of item outputs, in
   * item order. Returning anything but an array fails the node.
   */
  forEach?: (ctx: TContext) => unknown[];
  /**
   * At most this many items of a `forEach` node run at once: an integer >= 1, default
   * `DEFAULT_FOREACH_CONCURRENCY` (10). Only meaningful with `forEach` (alone it is a definition error).
   */
  concurrency?: number;
  /**
   * Where the branch goes when this node fails for good (after its retries; a timeout, a failed
   * child run and a failed map item included) instead of failing the run: a node id, or
   * `{ to, codes }` to catch only failures with one of `codes`. The target sees `ctx.error`.
   */
  catch?: NodeCatch;
  /**
   * The undo of this node once it has finished: run when the run fails (an uncaught failure) or
   * is cancelled with `{ compensate: true }`, in reverse order of finishing. Durable and retried
   * under the node's `retry` policy; on a `forEach` node it runs once per finished item.
   */
  compensate?: NodeHandler<TCompensateContext>;
  /**
   * Run each attempt (for a `forEach` node: each item's) in a transaction of the engine's database,
   * given to the handler as `ctx.tx`, and commit the attempt's outcome in that same transaction:
   * its writes stay exactly once, with the step, or not at all (docs/transactions.md). `true` is
   * `{ isolation: 'read committed' }`. Such a handler may not `wait` or start a child run. Not on
   * the memory store (the attempt fails with `TRANSACTIONS_UNSUPPORTED`). Default: no transaction.
   */
  transaction?: boolean | { isolation?: TransactionIsolation };
}

/** A node's `catch`: the node its branch goes to on a failure for good, optionally only for some error codes. */
export type NodeCatch = NodeId | { to: NodeId; codes?: string[] };

export interface NodeDefinition extends NodeOptions {
  id: NodeId;
  handler: NodeHandler;
}

export interface EdgeDefinition {
  from: NodeId;
  to: NodeId;
  /** The edge is taken only when this holds (default: always). Sees the state and outputs after the node's result. */
  when?: (ctx: FlowContext) => boolean;
  /**
   * Among matching edges the highest priority wins (default 0; the builder and the decorators
   * always fill it in). Plays no part on the edges of a `split: 'all'` node, where every match is
   * taken, so only 0 (or none) is accepted there.
   */
  priority?: number;
}

/** Longest retention a flow may ask for (100 years): what dates and Postgres intervals hold with room to spare. */
export const MAX_RETENTION_MS = 100 * 365 * 24 * 60 * 60 * 1000;

/**
 * How long a flow's finished runs are kept. Applied by `engine.applyRetention()` (and so by the
 * runtime's scheduled prune, `runFlowRuntime({ prune })`, `hazel-flow serve --prune-every`) in
 * the process where the flow is registered. Not part of the graph: it is neither in the
 * fingerprint nor in the stored description, so changing it needs no new version.
 */
export interface FlowRetention {
  /** Runs COMPLETED, FAILED or CANCELLED longer ago than this (ms) are deleted with their timeline. */
  finishedRunsMs: number;
}

/**
 * A concurrency limit of a flow (`FlowOptions.concurrency`): at most `limit` runs per key count at
 * once; the others stay due and go as slots free (docs/flow-control.md).
 */
export interface ConcurrencyLimit<TInput = unknown> {
  /** Runs per key at once: an integer ≥ 1. */
  limit: number;
  /** The key of a run, from its input, called once at `startRun` (absent: one key for the whole flow). */
  key?: (input: TInput) => string;
  /**
   * What counts (default `'executing'`): a run while a holder advances it — between steps too —
   * and not while it waits for a timer, event, child, resume or retry; `'active'`: a run from its
   * first step until it finishes, waits included.
   */
  scope?: 'executing' | 'active';
}

/** At most `limit` runs per key begin their first step per `periodMs` (`FlowOptions.rateLimit`); the others wait, none is dropped. */
export interface RateLimit<TInput = unknown> {
  /** Runs per period: an integer ≥ 1. */
  limit: number;
  /** The period, in ms (> 0). */
  periodMs: number;
  /** The key of a run, from its input (absent: one key for the whole flow). */
  key?: (input: TInput) => string;
}

/**
 * A `startRun` whose key matches a run of this flow that has not begun yet joins it
 * (`FlowOptions.debounce`): the run takes the newer input and starts `delayMs` after the last
 * call, never later than `maxWaitMs` after the first; `startRun` returns its id with `created: false`.
 */
export interface DebounceOption<TInput = unknown> {
  /** How long after the last call the run starts, in ms (≥ 0). */
  delayMs: number;
  /** The key of a run, from its input. */
  key: (input: TInput) => string;
  /** Latest start, in ms after the first call (≥ `delayMs`; absent: no bound). */
  maxWaitMs?: number;
}

/**
 * What flow control stored on a run at `startRun`: each limit with the key its key function gave
 * (`getRun` shows it). Null on runs of flows without flow control.
 */
export interface FlowControlRecord {
  concurrency: Array<{ limit: number; key: string; scope: 'executing' | 'active' }>;
  /**
   * `admittedAt`: when the rate limit let the run through (set by the store at its first claim);
   * `heldUntil`: the end of the window it was last refused for.
   */
  rateLimit: { limit: number; periodMs: number; key: string; admittedAt?: string; heldUntil?: string } | null;
  debounce: { key: string; delayMs: number; maxWaitMs: number | null } | null;
}

/** Options of a whole flow: `flow(id, version, options)`, `@Flow(id, version, options)`. */
export interface FlowOptions {
  retention?: FlowRetention;
  /**
   * A flow started exactly once when a run of this flow ends FAILED (after its compensations), with
   * `{ runId, flowId, version, error }` as input.
   */
  onFailure?: FailureHandler;
  /**
   * Schedules that start runs of this flow (`engine.schedules.set` without `flowId`), applied when
   * the definition is registered: created, or replaced when changed. Not part of the graph.
   */
  schedules?: FlowScheduleOption[];
  /** Concurrency limits (one, or several that all hold): see `ConcurrencyLimit` and docs/flow-control.md. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the key takes the flow's input, typed where the flow is
  concurrency?: ConcurrencyLimit<any> | ConcurrencyLimit<any>[];
  /** A rate limit on first steps: see `RateLimit`. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
  rateLimit?: RateLimit<any>;
  /** Debounced starts: see `DebounceOption`. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
  debounce?: DebounceOption<any>;
}

/** The flow a failed run starts (`FlowOptions.onFailure`). */
export interface FailureHandler {
  flowId: string;
  version: string;
}

/** The input of an `onFailure` flow's run. */
export interface FailureHandlerInput {
  runId: string;
  flowId: string;
  version: string;
  error: ErrorRecord;
}

/**
 * The type-only key under which a typed flow's definition (or handle) carries its types. Never
 * set at run time: `FlowDefinition<TInput>` and `FlowRef<TInput>` use it so that `startRun` can
 * check an input against the flow it names.
 */
export declare const flowTypes: unique symbol;

/** The types a typed flow carries (docs/typed-flows.md); each `unknown` in an untyped one. */
export interface FlowTypes<TInput, TState, TServices> {
  input: TInput;
  state: TState;
  services: TServices;
}

/**
 * A flow named by id and version, and typed by its input: what `engine.startRun({ flow, input })`
 * takes. A `FlowDefinition` is one; `flowRef<TInput>(flowId, version)` makes one where only the
 * name is at hand (a process that starts runs of a flow it does not register).
 */
export interface FlowRef<TInput = unknown, TState = unknown> {
  readonly flowId: string;
  readonly version: string;
  readonly [flowTypes]?: FlowTypes<TInput, TState, unknown>;
}

/** The input type of a flow's runs (`unknown` for an untyped flow). */
export type InputOf<F> = F extends FlowRef<infer I, unknown> ? I : unknown;

/** The state type of a flow's runs (a record for an untyped flow). */
export type StateOf<F> = F extends FlowRef<unknown, infer S> ? (unknown extends S ? Record<string, unknown> : S) : Record<string, unknown>;

/**
 * A flow's graph and handlers. The type arguments are only carried (for `startRun` and
 * `childRun` to check against): the nodes' handlers are stored untyped.
 */
export interface FlowDefinition<TInput = unknown, TState = unknown, TServices = unknown> extends FlowOptions, FlowRef<TInput, TState> {
  flowId: string;
  version: string;
  entry: NodeId;
  nodes: Record<NodeId, NodeDefinition>;
  edges: EdgeDefinition[];
  readonly [flowTypes]?: FlowTypes<TInput, TState, TServices>;
}

export type { ErrorRecord };
