/**
 * The functional alternative to decorators:
 *   flow('id', '1.0.0').entry('a').node('a', handler, opts).edge('a', 'b', when, priority).build()
 * with flow options as a third argument: flow('id', '1.0.0', { retention: { finishedRunsMs } }).
 *
 * Each call returns a new builder and leaves the old one untouched, so a partial builder can be
 * shared as a template (e.g. two variants of one flow) without the variants leaking into each
 * other. Nothing is checked until build(), which reports every problem at once.
 * (0.5.x's builder changed itself and returned itself; chained code behaves the same here, and
 * code that dropped the returned builder is told so by build().)
 *
 * Typed flows (docs/typed-flows.md): `flow<TInput, TState, TServices>(id, version)` gives every
 * handler that context, and each node() records its output type (`TOutputs`), so a later node's
 * `ctx.outputs.price` has the type `price` returned. The types live only in the builder's type
 * arguments; at run time a typed builder is the same builder.
 */
import { FlowDefinitionError } from '../errors.js';
import type { DefaultServices, EdgeDefinition, FlowContext, FlowDefinition, FlowOptions, NodeDefinition, NodeId, NodeOptions, NodeResult } from './types.js';
import { definitionProblems, flowKeyOf, flowOptionsArgumentProblems, optionsArgumentProblems } from './validate.js';

interface BuilderState {
  readonly flowId: string;
  readonly version: string;
  /** Every entry() call, so that a second, different entry is reported instead of silently winning. */
  readonly entries: readonly NodeId[];
  /** Every node() call in order; duplicates are kept here so build() can name them. */
  readonly nodes: readonly NodeDefinition[];
  readonly edges: readonly EdgeDefinition[];
  /** The flow's options (`flow(id, version, options)`), copied. */
  readonly options: FlowOptions;
  /** Problems found in arguments as they were given (reported by build(), with the rest). */
  readonly problems: readonly string[];
}

/** 0.5.x's headline for a flow without entry(): the message still starts with it. */
const NO_ENTRY = 'Flow must have an entry node. Call .entry(nodeId) first.';

/**
 * What a node's result `R` puts at `ctx.outputs[nodeId]`: the `output` of an ok (or wait) result,
 * nothing for a result without one, a child run's outputs. `TItems` is what a map node's
 * `forEach` returns (`never` for any other node): a map's output is the array of its items' outputs.
 */
export type NodeOutput<R, TItems extends unknown[] = never> = [TItems] extends [never] ? ResultOutput<R> : ResultOutput<R>[];

type ResultOutput<R> = R extends { status: 'ok' | 'wait' }
  ? R extends { output?: infer O }
    ? 'output' extends keyof R
      ? O
      : undefined
    : undefined
  : R extends { status: 'child' }
    ? Record<string, unknown>
    : never;

export class FlowBuilder<TInput = unknown, TState = Record<string, unknown>, TServices = DefaultServices, TOutputs = Record<string, unknown>> {
  readonly #state: BuilderState;
  /** Set once a call on this builder returned a new one: only used to explain a failed build(). */
  #derived = false;

  /** `state` is internal: how each call hands its result to the next builder. */
  constructor(flowId: string, version: string, state?: BuilderState) {
    this.#state = state ?? { flowId, version, entries: [], nodes: [], edges: [], options: {}, problems: [] };
  }

  /** The node the run starts at. */
  entry(nodeId: NodeId): FlowBuilder<TInput, TState, TServices, TOutputs> {
    return this.#with({ entries: [...this.#state.entries, nodeId] });
  }

  /**
   * A node; `opts` are the node options (name, retry, timeoutMs, idempotencyKey, split, join,
   * forEach, concurrency, catch, compensate, transaction). Its handler sees the outputs of the nodes added
   * before it; what it returns as `output` is recorded for the nodes after it.
   */
  node<Id extends NodeId, R extends NodeResult<unknown, TState>, TItems extends unknown[] = never>(
    id: Id,
    handler: (ctx: FlowContext<TInput, TState, TServices, TOutputs>) => Promise<R> | R,
    opts?: NodeOptions<
      FlowContext<TInput, TState, TServices, TOutputs>,
      FlowContext<TInput, TState, TServices, TOutputs & { [K in Id]: NodeOutput<R, TItems> }>
    > & {
      forEach?: (ctx: FlowContext<TInput, TState, TServices, TOutputs>) => TItems;
    },
  ): FlowBuilder<TInput, TState, TServices, TOutputs & { [K in Id]?: NodeOutput<R, TItems> }>;
  node(id: NodeId, handler: (ctx: never) => unknown, opts: NodeOptions<never> = {}): FlowBuilder<TInput, TState, TServices, AnyOutputs> {
    const argumentProblems = optionsArgumentProblems(`node "${String(id)}"`, opts);
    const usable = (typeof opts === 'object' && opts !== null && !Array.isArray(opts) ? opts : {}) as NodeOptions;
    // Copy the options (and the retry policy) so later edits to the caller's object can't change the flow.
    // The handler's context type is the builder's: stored untyped, as every definition's is.
    const node: NodeDefinition = { ...usable, id, handler: handler as NodeDefinition['handler'] };
    if (typeof usable.retry === 'object' && usable.retry !== null) node.retry = { ...usable.retry };
    return this.#with({ nodes: [...this.#state.nodes, node], problems: [...this.#state.problems, ...argumentProblems] });
  }

  /** An edge taken when `when(ctx)` holds; among matches the highest `priority` (default 0, filled in) wins. */
  edge(
    from: NodeId,
    to: NodeId,
    when?: (ctx: FlowContext<TInput, TState, TServices, TOutputs>) => boolean,
    priority?: number,
  ): FlowBuilder<TInput, TState, TServices, TOutputs> {
    const edge: EdgeDefinition = { from, to, priority: priority ?? 0 };
    if (when !== undefined) edge.when = when as EdgeDefinition['when'];
    return this.#with({ edges: [...this.#state.edges, edge] });
  }

  /** Validates and returns a frozen definition; throws `FlowDefinitionError` listing every problem. */
  build(): FlowDefinition<TInput, TState, TServices> {
    const { flowId, version, entries, nodes: nodeList, edges, options } = this.#state;
    const problems: string[] = [...this.#state.problems];
    const nodes: Record<NodeId, NodeDefinition> = {};
    for (const node of nodeList) {
      if (typeof node.id !== 'string') {
        problems.push(`node(): id must be a string (got ${typeof node.id})`);
      } else if (Object.prototype.hasOwnProperty.call(nodes, node.id)) {
        problems.push(`duplicate node id "${node.id}": node() was called twice with it`);
      } else {
        nodes[node.id] = node;
      }
    }
    const distinctEntries = [...new Set(entries)];
    if (distinctEntries.length > 1) {
      problems.push(`more than one entry: entry() was called with ${distinctEntries.map((e) => `"${e}"`).join(', ')}`);
    }
    // With several entries the first stands in, only so that the rest of the graph still gets checked.
    const def: FlowDefinition = {
      flowId,
      version,
      entry: distinctEntries[0] as NodeId,
      nodes,
      edges: edges.map((e) => ({ ...e })),
      ...copyFlowOptions(options),
    };
    problems.push(...definitionProblems(def));
    if (problems.length > 0) {
      // 0.5.x-style statements (b.entry(…); b.node(…); b.build()) leave this builder empty.
      if (this.#derived && (nodeList.length === 0 || entries.length === 0)) {
        problems.push(
          'build() was called on a builder whose calls returned new builders: each call returns a new builder and leaves this one ' +
            'unchanged, so chain the calls (flow(…).entry(…).node(…).build()) or keep each result (b = b.node(…))',
        );
      }
      throw new FlowDefinitionError(flowKeyOf(def), problems, entries.length === 0 ? NO_ENTRY : undefined);
    }
    // The type arguments are only carried: the definition itself is the same for a typed flow.
    return freezeDefinition(def) as FlowDefinition<TInput, TState, TServices>;
  }

  #with<TNext>(change: Partial<BuilderState>): FlowBuilder<TInput, TState, TServices, TNext> {
    this.#derived = true;
    const state = { ...this.#state, ...change };
    return new FlowBuilder<TInput, TState, TServices, TNext>(state.flowId, state.version, state);
  }
}

/** The type argument a flow has when none is given: marks an untyped flow (never a value). */
declare const untyped: unique symbol;
interface Untyped {
  readonly [untyped]: true;
}

/** The outputs an untyped builder starts from: any key may be read (as `unknown`), recorded ones are typed. */
type AnyOutputs = Record<string, unknown>;

/**
 * Starts a flow definition: `flow(id, version).entry(...).node(...).edge(...).build()`. `options`:
 * the flow's own options: `retention: { finishedRunsMs }` (how long its finished runs are kept),
 * `onFailure: { flowId, version }` (the flow a run that ends FAILED starts, once: docs/failures.md).
 *
 * With type arguments the flow is typed: `flow<TInput, TState, TServices, TOutputs>(…)` gives
 * every handler `ctx.input: TInput`, `ctx.state: TState`, `ctx.services: TServices`, and
 * `ctx.outputs` with exactly the outputs of the nodes added before it (an unknown key is an
 * error); `TOutputs` declares outputs read before their node is added (a loop back). Without
 * type arguments, recorded outputs are typed and any other key reads as `unknown`, as before.
 */
export function flow<TInput = Untyped, TState = Record<string, unknown>, TServices = DefaultServices, TOutputs = Record<never, never>>(
  flowId: string,
  version: string,
  options?: FlowOptions,
): FlowBuilder<
  [TInput] extends [Untyped] ? unknown : TInput,
  TState,
  TServices,
  [TInput] extends [Untyped] ? AnyOutputs : { [K in keyof TOutputs]?: TOutputs[K] }
>;
export function flow(flowId: string, version: string, options?: FlowOptions): FlowBuilder {
  const usable = typeof options === 'object' && options !== null && !Array.isArray(options) ? options : {};
  const problems = flowOptionsArgumentProblems('flow()', options);
  return new FlowBuilder(flowId, version, { flowId, version, entries: [], nodes: [], edges: [], options: copyFlowOptions(usable), problems });
}

/** The flow options of `options` that are set, copied (so later edits to the caller's objects change nothing). */
export function copyFlowOptions(options: FlowOptions): FlowOptions {
  const copy = (v: unknown) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...v } : v);
  const out: FlowOptions = {};
  if (options.retention !== undefined) out.retention = copy(options.retention) as FlowOptions['retention'];
  if (options.onFailure !== undefined) out.onFailure = copy(options.onFailure) as FlowOptions['onFailure'];
  if (options.schedules !== undefined)
    out.schedules = (Array.isArray(options.schedules) ? options.schedules.map(copy) : options.schedules) as FlowOptions['schedules'];
  if (options.concurrency !== undefined)
    out.concurrency = (Array.isArray(options.concurrency) ? options.concurrency.map(copy) : copy(options.concurrency)) as FlowOptions['concurrency'];
  if (options.rateLimit !== undefined) out.rateLimit = copy(options.rateLimit) as FlowOptions['rateLimit'];
  if (options.debounce !== undefined) out.debounce = copy(options.debounce) as FlowOptions['debounce'];
  return out;
}

/**
 * Freezes the definition's own structure (definition, retention, onFailure, node map, nodes, retry policies,
 * edge list, edges) so that a registered graph cannot drift from its fingerprint. Handlers and
 * the user's own objects are left alone.
 */
export function freezeDefinition(def: FlowDefinition): FlowDefinition {
  if (def.retention) Object.freeze(def.retention);
  if (Array.isArray(def.schedules)) {
    def.schedules.forEach((s) => Object.freeze(s));
    Object.freeze(def.schedules);
  }
  if (def.onFailure) Object.freeze(def.onFailure);
  if (Array.isArray(def.concurrency)) def.concurrency.forEach((c) => Object.freeze(c));
  for (const option of [def.concurrency, def.rateLimit, def.debounce]) if (typeof option === 'object' && option !== null) Object.freeze(option);
  for (const node of Object.values(def.nodes)) {
    if (node.retry) Object.freeze(node.retry);
    Object.freeze(node);
  }
  def.edges.forEach((e) => Object.freeze(e));
  Object.freeze(def.nodes);
  Object.freeze(def.edges);
  return Object.freeze(def);
}
