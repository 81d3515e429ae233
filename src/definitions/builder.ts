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
 */
import { FlowDefinitionError } from '../errors.js';
import type { EdgeDefinition, FlowContext, FlowDefinition, FlowOptions, NodeDefinition, NodeHandler, NodeId, NodeOptions } from './types.js';
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

export class FlowBuilder {
  readonly #state: BuilderState;
  /** Set once a call on this builder returned a new one: only used to explain a failed build(). */
  #derived = false;

  /** `state` is internal: how each call hands its result to the next builder. */
  constructor(flowId: string, version: string, state?: BuilderState) {
    this.#state = state ?? { flowId, version, entries: [], nodes: [], edges: [], options: {}, problems: [] };
  }

  /** The node the run starts at. */
  entry(nodeId: NodeId): FlowBuilder {
    return this.#with({ entries: [...this.#state.entries, nodeId] });
  }

  /** A node; `opts` are the node options (name, retry, timeoutMs, idempotencyKey, split, join, forEach, concurrency). */
  node(id: NodeId, handler: NodeHandler, opts: NodeOptions = {}): FlowBuilder {
    const argumentProblems = optionsArgumentProblems(`node "${String(id)}"`, opts);
    const usable: NodeOptions = typeof opts === 'object' && opts !== null && !Array.isArray(opts) ? opts : {};
    // Copy the options (and the retry policy) so later edits to the caller's object can't change the flow.
    const node: NodeDefinition = { ...usable, id, handler };
    if (typeof usable.retry === 'object' && usable.retry !== null) node.retry = { ...usable.retry };
    return this.#with({ nodes: [...this.#state.nodes, node], problems: [...this.#state.problems, ...argumentProblems] });
  }

  /** An edge taken when `when(ctx)` holds; among matches the highest `priority` (default 0, filled in) wins. */
  edge(from: NodeId, to: NodeId, when?: (ctx: FlowContext) => boolean, priority?: number): FlowBuilder {
    const edge: EdgeDefinition = { from, to, priority: priority ?? 0 };
    if (when !== undefined) edge.when = when;
    return this.#with({ edges: [...this.#state.edges, edge] });
  }

  /** Validates and returns a frozen definition; throws `FlowDefinitionError` listing every problem. */
  build(): FlowDefinition {
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
    return freezeDefinition(def);
  }

  #with(change: Partial<BuilderState>): FlowBuilder {
    this.#derived = true;
    const state = { ...this.#state, ...change };
    return new FlowBuilder(state.flowId, state.version, state);
  }
}

/**
 * Starts a flow definition: `flow(id, version).entry(...).node(...).edge(...).build()`. `options`:
 * the flow's own options, `{ retention: { finishedRunsMs } }` (how long its finished runs are kept).
 */
export function flow(flowId: string, version: string, options?: FlowOptions): FlowBuilder {
  const usable = typeof options === 'object' && options !== null && !Array.isArray(options) ? options : {};
  const problems = flowOptionsArgumentProblems('flow()', options);
  return new FlowBuilder(flowId, version, { flowId, version, entries: [], nodes: [], edges: [], options: copyFlowOptions(usable), problems });
}

/** The flow options of `options` that are set, copied (so later edits to the caller's objects change nothing). */
export function copyFlowOptions(options: FlowOptions): FlowOptions {
  const retention = options.retention;
  const copy: FlowOptions = {};
  if (retention !== undefined) copy.retention = typeof retention === 'object' && retention !== null && !Array.isArray(retention) ? { ...retention } : retention;
  if (options.schedules !== undefined)
    copy.schedules = Array.isArray(options.schedules) ? options.schedules.map((s) => (typeof s === 'object' && s !== null ? { ...s } : s)) : options.schedules;
  return copy;
}

/**
 * Freezes the definition's own structure (definition, retention, node map, nodes, retry policies,
 * edge list, edges) so that a registered graph cannot drift from its fingerprint. Handlers and
 * the user's own objects are left alone.
 */
export function freezeDefinition(def: FlowDefinition): FlowDefinition {
  if (def.retention) Object.freeze(def.retention);
  if (Array.isArray(def.schedules)) {
    def.schedules.forEach((s) => Object.freeze(s));
    Object.freeze(def.schedules);
  }
  for (const node of Object.values(def.nodes)) {
    if (node.retry) Object.freeze(node.retry);
    Object.freeze(node);
  }
  def.edges.forEach((e) => Object.freeze(e));
  Object.freeze(def.nodes);
  Object.freeze(def.edges);
  return Object.freeze(def);
}
