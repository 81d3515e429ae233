// What the timeline says about the graph: the nodes visited in order, the edges taken between
// them, and the node where the run failed. Kept apart from drawing so it is easy to test.

/** @returns {{ visits: string[], takenEdges: Set<string>, finished: Set<string>, failedNode: string | null, retrying: Set<string> }} */
export function pathFromTimeline(events, run) {
  const visits = [];
  const finished = new Set();
  const lastOutcome = new Map();
  let failedNode = null;
  for (const e of events) {
    if (!e.nodeId) continue;
    if (e.type === 'NODE_STARTED' && visits[visits.length - 1] !== e.nodeId) visits.push(e.nodeId);
    if (e.type === 'NODE_FINISHED') finished.add(e.nodeId);
    if (e.type === 'NODE_FINISHED' || e.type === 'NODE_FAILED') lastOutcome.set(e.nodeId, e.type);
    if (e.type === 'RUN_ABORTED') failedNode = e.nodeId;
  }
  if (!failedNode && run?.status === 'FAILED') failedNode = run.currentNodeId;
  // A node whose latest attempt failed while the run goes on is retrying.
  const retrying = new Set();
  if (run?.status === 'RUNNING' && run.currentNodeId && lastOutcome.get(run.currentNodeId) === 'NODE_FAILED') retrying.add(run.currentNodeId);
  const takenEdges = new Set();
  for (let i = 0; i + 1 < visits.length; i++) takenEdges.add(edgeKey(visits[i], visits[i + 1]));
  return { visits, takenEdges, finished, failedNode, retrying };
}

export const edgeKey = (from, to) => `${from}\u2192${to}`;
