/**
 * The run's branches as data: what the run row says about them (status, current node, earliest
 * due time — the columns workers claim by), which branch can still reach a join, and when a
 * branch or map item is due. Pure functions: no storage, no handlers.
 *
 * Due times are ISO-8601 texts on the store's clock. The holder reckons "now" on that clock from
 * the newest record it got back (`readAt`, the database's clock at that statement) plus the time
 * elapsed locally since: a few milliseconds of drift at most, and never the worker's wall clock.
 */
import type { FlowDefinition, FlowRunStatus } from '../definitions/types.js';
import { catchRoute } from '../definitions/catch.js';
import { isLiveBranch as isLive, mapOf, type BranchRecord, type MapItemRecord, type MapProgress, type ReadyBranch } from '../core/states.js';

export { isLive };

/** The run's first branch: `b1`, named after the RUN_STARTED event (seq 1) that creates it. */
export function firstBranch(nodeId: string): BranchRecord {
  return { branchId: 'b1', nodeId, status: 'READY', attempt: 0, recoveries: 0 };
}

const dueMs = (dueAt: string | null): number => (dueAt === null ? Number.NEGATIVE_INFINITY : Date.parse(dueAt));

export function isDue(dueAt: string | null, nowMs: number): boolean {
  return dueMs(dueAt) <= nowMs;
}

/** Items of a map that may begin at `nowMs`, and how many new items its concurrency leaves room for. */
export function mapRoom(map: MapProgress): number {
  const busy = map.items.filter((i) => i.status !== 'FAILED').length;
  return Math.max(0, Math.min(map.concurrency - busy, map.total - map.started));
}

/**
 * The earliest time anything in the branch can happen by itself: null = now (it can begin, or an
 * attempt is in flight), undefined = never (a manual wait, a join).
 */
function branchDue(b: BranchRecord): string | null | undefined {
  switch (b.status) {
    case 'READY':
      return null;
    case 'RETRY':
      return b.dueAt;
    case 'RUNNING':
      return b.map ? mapDue(b.map) : null;
    // WAITING: a timer, an event wait's timeout, or never by itself (a manual resume, a child run).
    case 'WAITING':
      return b.waitFor === 'timer' || b.waitFor === 'event' ? (b.dueAt ?? undefined) : undefined;
    default:
      return undefined;
  }
}

function mapDue(map: MapProgress): string | null | undefined {
  if (mapRoom(map) > 0) return null;
  let best: string | null | undefined;
  for (const item of map.items) {
    // An item waiting for its child run is due when the child's end arrives (in the inbox), not by time.
    const due = item.status === 'RUNNING' || item.status === 'READY' ? null : item.status === 'RETRY' ? item.dueAt : undefined;
    if (due === null) return null;
    if (due !== undefined && (best === undefined || best === null || Date.parse(due) < Date.parse(best))) best = due;
  }
  return best;
}

/** What the run row's own columns say, derived from the branches (one owner: this function). */
export interface RunSummary {
  status: FlowRunStatus;
  currentNodeId: string | null;
  attempt: number;
  recoveries: number;
  attemptInFlight: boolean;
  nextAttemptAt: Date | null;
  waitReason: string | null;
}

export function summarize(branches: readonly BranchRecord[], failed: { nodeId: string | null } | null): RunSummary {
  const first = branches[0];
  const base = {
    currentNodeId: failed ? failed.nodeId : (first?.nodeId ?? null),
    attempt: first?.attempt ?? 0,
    recoveries: first?.recoveries ?? 0,
    attemptInFlight: false,
  };
  if (failed) return { ...base, status: 'FAILED', nextAttemptAt: null, waitReason: null };
  if (branches.length === 0) return { ...base, status: 'COMPLETED', nextAttemptAt: null, waitReason: null };
  // A map whose unfinished items all wait for child runs waits too.
  const active = branches.some((b) => b.status === 'READY' || b.status === 'RETRY' || (b.status === 'RUNNING' && (!b.map || mapDue(b.map) !== undefined)));
  let earliest: string | null | undefined;
  let now = false;
  for (const b of branches) {
    const due = branchDue(b);
    if (due === null) now = true;
    else if (due !== undefined && (earliest == null || Date.parse(due) < Date.parse(earliest))) earliest = due;
  }
  const inFlight = branches.some((b) => (b.status === 'RUNNING' && !b.map) || (mapOf(b)?.items.some((i) => i.status === 'RUNNING') ?? false));
  if (active) {
    return { ...base, attemptInFlight: inFlight, status: 'RUNNING', nextAttemptAt: now || earliest == null ? null : new Date(earliest), waitReason: null };
  }
  const waiting = branches.find((b) => b.status === 'WAITING');
  return { ...base, status: 'WAITING', nextAttemptAt: earliest == null ? null : new Date(earliest), waitReason: waiting?.waitReason ?? null };
}

/** Nodes reachable from each node by one or more edges, per definition (computed once). */
const reachCache = new WeakMap<FlowDefinition, Map<string, Set<string>>>();

export function canReach(def: FlowDefinition, from: string, to: string): boolean {
  let reach = reachCache.get(def);
  if (!reach) reachCache.set(def, (reach = new Map()));
  let set = reach.get(from);
  if (!set) {
    set = new Set();
    const stack = [from];
    while (stack.length > 0) {
      const node = stack.pop()!;
      const next = def.edges.filter((e) => e.from === node).map((e) => e.to);
      // A caught failure arrives at the catch target like a branch along an edge.
      const caughtTo = def.nodes[node] ? catchRoute(def.nodes[node]!)?.to : undefined;
      if (caughtTo !== undefined) next.push(caughtTo);
      for (const to of next) {
        if (!set.has(to)) {
          set.add(to);
          stack.push(to);
        }
      }
    }
    reach.set(from, set);
  }
  return set.has(to);
}

/** The branch entering node `nodeId`: READY there, with its attempt counters reset. */
export function enterNode(b: BranchRecord, nodeId: string): ReadyBranch {
  return { branchId: b.branchId, nodeId, status: 'READY', attempt: 0, recoveries: 0 };
}

export function newItem(index: number): MapItemRecord & { status: 'READY' } {
  return { index, status: 'READY', attempt: 0, recoveries: 0 };
}
