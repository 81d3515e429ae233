/**
 * A node's `catch`, read one way everywhere: the node a failure for good goes to, and which
 * failures it takes. The engine routes by it, validation checks it, the graph description and
 * reachability (joins) treat it as one more edge.
 */
import type { NodeCatch, NodeDefinition } from './types.js';

export interface CatchRoute {
  to: string;
  /** Error codes it takes; null: every failure. */
  codes: readonly string[] | null;
}

export function catchRoute(node: { catch?: NodeCatch }): CatchRoute | null {
  const c = node.catch;
  if (c === undefined) return null;
  if (typeof c === 'string') return { to: c, codes: null };
  return { to: c.to, codes: c.codes ?? null };
}

/** Where a failure with `code` of `node` goes, if its catch takes it. */
export function catchTarget(node: NodeDefinition, code: string): string | null {
  const route = catchRoute(node);
  if (!route || (route.codes !== null && !route.codes.includes(code))) return null;
  return route.to;
}
