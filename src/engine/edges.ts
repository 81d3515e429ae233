import { AmbiguousEdgeError } from '../errors.js';
import type { EdgeDefinition, FlowContext } from '../definitions/types.js';

/**
 * Where a run goes after `from` finished: among the outgoing edges whose `when` holds, the
 * highest priority wins; two winners at the top priority are an `AmbiguousEdgeError`; no
 * match means the run is complete (null). A `when` that throws propagates to the caller,
 * which fails the run: a broken condition must not silently pick another branch.
 */
export function selectNextNode(from: string, edges: readonly EdgeDefinition[], ctx: FlowContext): string | null {
  let best: EdgeDefinition[] = [];
  let bestPriority = -Infinity;
  for (const edge of edges) {
    if (edge.from !== from) continue;
    if (edge.when && !edge.when(ctx)) continue;
    const priority = edge.priority ?? 0;
    if (priority > bestPriority) {
      bestPriority = priority;
      best = [edge];
    } else if (priority === bestPriority) {
      best.push(edge);
    }
  }
  if (best.length === 0) return null;
  if (best.length > 1)
    throw new AmbiguousEdgeError(
      from,
      best.map((e) => e.to),
      bestPriority,
    );
  return best[0]!.to;
}
