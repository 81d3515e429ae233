/**
 * A JSON view of a flow's graph (for dashboards, the HTTP API and storage) and its fingerprint.
 *
 * The fingerprint decides whether re-registering flowId@version is the same graph (a no-op) or a
 * different one (a conflict: runs in flight were planned against the old graph). So it covers
 * what shapes a run's path — nodes, their options, edges, which edges are conditional — and leaves
 * out code: handler bodies, key functions and the text of conditions. Code text is not stable
 * across builds (esbuild, tsc and minifiers print the same function differently), and processes
 * built differently must be able to share one database without a false conflict.
 * Orders are normalized and defaults filled in, so the same graph written differently (node or
 * edge order, `priority: 0` vs. omitted, `jitter: false` vs. omitted, `split: 'first'` vs.
 * omitted, `concurrency: 10` vs. omitted on a forEach node) fingerprints the same. The
 * parallel options (split, join, forEach, concurrency) appear only on nodes that use them, so a
 * graph without them has the same description, and fingerprint, as before they existed.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_FOREACH_CONCURRENCY, transactionIsolation, type FlowDefinition, type RetryPolicy, type TransactionIsolation } from './types.js';
import { catchRoute } from './catch.js';

export interface GraphNode {
  id: string;
  /** The node's `name`, or its id. */
  name: string;
  retry: { maxAttempts: number; backoff: RetryPolicy['backoff']; baseDelayMs: number; maxDelayMs: number | null; jitter: boolean } | null;
  timeoutMs: number | null;
  hasIdempotencyKey: boolean;
  /** `'all'` on a node whose every matching edge starts a branch; absent for the default `'first'` (given or not). */
  split?: 'all' | 'first';
  /** How the node gathers branches; absent when it does not join. */
  join?: 'all' | 'any';
  /** `true` on a map node (one handler call per item); absent otherwise (never `false`). */
  forEach?: boolean;
  /** Items of a map node run at once (the default filled in); present only with `forEach`. */
  concurrency?: number;
  /** Where a failure for good goes (`codes` null: every failure); absent without `catch`. */
  catch?: { to: string; codes: string[] | null };
  /** `true` on a node with a `compensate` handler; absent otherwise. */
  compensate?: true;
  /** The isolation of a transactional node's transaction; absent on a node without `transaction`. */
  transaction?: TransactionIsolation;
}

export interface GraphEdge {
  from: string;
  to: string;
  priority: number;
  conditional: boolean;
  /** The condition's source text, trimmed (present only when `conditional`). */
  when?: string;
}

export interface GraphDescription {
  flowId: string;
  version: string;
  entry: string;
  /** Sorted by id. */
  nodes: GraphNode[];
  /** Sorted by from, then priority (highest first), then to, then condition text. */
  edges: GraphEdge[];
}

// Code-unit order, not localeCompare: the order must not depend on the machine's locale.
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function describeGraph(def: FlowDefinition): GraphDescription {
  const nodes: GraphNode[] = Object.entries(def.nodes).map(([key, node]) =>
    withParallelOptions(node, {
      id: typeof node.id === 'string' ? node.id : key,
      name: node.name ?? (typeof node.id === 'string' ? node.id : key),
      retry: node.retry
        ? {
            maxAttempts: node.retry.maxAttempts,
            backoff: node.retry.backoff,
            baseDelayMs: node.retry.baseDelayMs,
            maxDelayMs: node.retry.maxDelayMs ?? null,
            jitter: node.retry.jitter ?? false,
          }
        : null,
      timeoutMs: node.timeoutMs ?? null,
      hasIdempotencyKey: typeof node.idempotencyKey === 'function',
    }),
  );
  nodes.sort((a, b) => cmp(a.id, b.id));

  const edges: GraphEdge[] = def.edges.map((e) => {
    const edge: GraphEdge = { from: e.from, to: e.to, priority: e.priority ?? 0, conditional: typeof e.when === 'function' };
    if (typeof e.when === 'function') edge.when = Function.prototype.toString.call(e.when).trim();
    return edge;
  });
  edges.sort((a, b) => cmp(a.from, b.from) || b.priority - a.priority || cmp(a.to, b.to) || cmp(a.when ?? '', b.when ?? ''));

  return { flowId: def.flowId, version: def.version, entry: def.entry, nodes, edges };
}

/**
 * Adds split/join/forEach/concurrency/catch/compensate to `graphNode`, each only when the node
 * uses it (defaults left out or filled in): a graph without them describes, and fingerprints, as
 * before they existed.
 */
function withParallelOptions(node: FlowDefinition['nodes'][string], graphNode: GraphNode): GraphNode {
  if (node.split === 'all') graphNode.split = 'all';
  if (node.join === 'all' || node.join === 'any') graphNode.join = node.join;
  if (typeof node.forEach === 'function') {
    graphNode.forEach = true;
    graphNode.concurrency = node.concurrency ?? DEFAULT_FOREACH_CONCURRENCY;
  }
  const route = catchRoute(node);
  if (route) graphNode.catch = { to: route.to, codes: route.codes === null ? null : [...route.codes].sort(cmp) };
  if (typeof node.compensate === 'function') graphNode.compensate = true;
  const isolation = transactionIsolation(node);
  if (isolation) graphNode.transaction = isolation;
  return graphNode;
}

/** JSON with object keys sorted at every level, so equal values always give equal text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => cmp(a, b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** sha256 (hex) of the canonical JSON of `describeGraph(def)` without condition source text. */
export function fingerprintDefinition(def: FlowDefinition): string {
  const graph = describeGraph(def);
  const shape = { ...graph, edges: graph.edges.map(({ when: _codeText, ...edge }) => edge) };
  return createHash('sha256').update(canonicalJson(shape)).digest('hex');
}
