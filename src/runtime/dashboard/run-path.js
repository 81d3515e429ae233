// What the timeline and the run's live branches say about the graph: the nodes visited, the
// edges taken (by every branch), the node where the run failed, and what is going on at each
// node now (branches running, retrying, waiting or joining; a map's progress). Kept apart from
// drawing so it is easy to test.
import { flowKey } from './flow-key.js';

/** Events of runs from before branches existed have no branchId: they all belong to one. */
const branchKey = (e) => e.branchId ?? 'b1';

/**
 * @returns {{ visits: string[], takenEdges: Set<string>, finished: Set<string>, failedNode: string | null, retrying: Set<string>,
 *   caught: Set<string>, compensated: Set<string>, compensationFailed: Set<string> }}
 */
export function pathFromTimeline(events, run) {
  const visits = [];
  const finished = new Set();
  const lastOutcome = new Map();
  const takenEdges = new Set();
  // Where each branch was last: consecutive nodes of one branch are an edge it took.
  const lastNodeOf = new Map();
  const step = (branch, nodeId) => {
    const last = lastNodeOf.get(branch);
    if (last !== undefined && last !== nodeId) takenEdges.add(edgeKey(last, nodeId));
    lastNodeOf.set(branch, nodeId);
  };
  let failedNode = null;
  const caught = new Set();
  const compensated = new Set();
  const compensationFailed = new Set();
  for (const e of events) {
    if (!e.nodeId) continue;
    // A child run's nodes undone from here are not this graph's.
    if (e.payloadJson?.runId && (e.type === 'NODE_COMPENSATED' || e.type === 'COMPENSATION_FAILED')) continue;
    switch (e.type) {
      case 'NODE_CAUGHT': {
        caught.add(e.nodeId);
        const to = e.payloadJson?.to;
        if (typeof to === 'string') {
          takenEdges.add(catchKey(e.nodeId, to));
          lastNodeOf.set(branchKey(e), to);
        }
        break;
      }
      case 'NODE_COMPENSATED':
        if (e.itemIndex === null || e.itemIndex === undefined || !compensationFailed.has(e.nodeId)) compensated.add(e.nodeId);
        break;
      case 'COMPENSATION_FAILED':
        if (e.payloadJson?.final) {
          compensationFailed.add(e.nodeId);
          compensated.delete(e.nodeId);
        }
        break;
      case 'RUN_STARTED':
        lastNodeOf.set(branchKey(e), e.nodeId);
        break;
      case 'BRANCH_STARTED': {
        const split = e.payloadJson?.splitNodeId;
        if (typeof split === 'string') takenEdges.add(edgeKey(split, e.nodeId));
        lastNodeOf.set(branchKey(e), e.nodeId);
        break;
      }
      case 'JOIN_ARRIVED':
      case 'JOIN_COMPLETED':
        step(branchKey(e), e.nodeId);
        break;
      case 'NODE_STARTED':
        if (!visits.includes(e.nodeId)) visits.push(e.nodeId);
        step(branchKey(e), e.nodeId);
        break;
      case 'NODE_FINISHED': {
        // A map's items finish one by one; the node itself finishes once (itemIndex null).
        if (e.itemIndex !== null && e.itemIndex !== undefined) break;
        finished.add(e.nodeId);
        lastOutcome.set(e.nodeId, e.type);
        // The edges the node took: one id, or a split's list.
        const next = e.payloadJson?.next;
        for (const to of Array.isArray(next) ? next : typeof next === 'string' ? [next] : []) takenEdges.add(edgeKey(e.nodeId, to));
        break;
      }
      case 'NODE_FAILED':
        if (e.itemIndex === null || e.itemIndex === undefined) lastOutcome.set(e.nodeId, e.type);
        break;
      case 'RUN_ABORTED':
        failedNode = e.nodeId;
        break;
      default:
        break;
    }
  }
  const branches = liveBranches(run);
  if (!failedNode && run?.status === 'FAILED') failedNode = branches.find((b) => b.status === 'FAILED')?.nodeId ?? run.currentNodeId;
  // A node whose latest attempt failed while the run goes on is retrying.
  const retrying = new Set(branches.filter((b) => b.status === 'RETRY').map((b) => b.nodeId));
  if (!run?.branches && run?.status === 'RUNNING' && run.currentNodeId && lastOutcome.get(run.currentNodeId) === 'NODE_FAILED') retrying.add(run.currentNodeId);
  return { visits, takenEdges, finished, failedNode, retrying, caught, compensated, compensationFailed };
}

export const edgeKey = (from, to) => `${from}\u2192${to}`;
/** A catch is keyed apart from an edge between the same nodes. */
export const catchKey = (from, to) => `${from}\u21af${to}`;

/**
 * The run's live branches. A run record without `branches` (a server from before them) has its
 * one cursor: the current node, running or waiting.
 */
export function liveBranches(run) {
  if (!run) return [];
  if (Array.isArray(run.branches)) return run.branches;
  if ((run.status === 'RUNNING' || run.status === 'WAITING') && run.currentNodeId) {
    return [
      { branchId: 'b1', nodeId: run.currentNodeId, status: run.status, attempt: run.attempt, dueAt: run.nextAttemptAt, waitReason: run.waitReason, map: null },
    ];
  }
  return [];
}

/** Whether some path of `graph` leads from node `from` to node `to` (`from` itself excluded unless a cycle returns to it). */
export function canReach(graph, from, to) {
  const seen = new Set();
  const queue = [from];
  while (queue.length) {
    const at = queue.shift();
    for (const edge of graph.edges) {
      if (edge.from !== at || seen.has(edge.to)) continue;
      if (edge.to === to) return true;
      seen.add(edge.to);
      queue.push(edge.to);
    }
  }
  return false;
}

/**
 * A map's progress at each `forEach` node, as far as the timeline tells: items listed by the
 * latest MAP_STARTED, items finished since, and items whose last attempt failed.
 * @returns {Map<string, { total: number, done: number, failing: Set<number> }>}
 */
export function mapsFromTimeline(events) {
  const maps = new Map();
  for (const e of events) {
    if (!e.nodeId) continue;
    if (e.type === 'MAP_STARTED') {
      maps.set(e.nodeId, { total: Number(e.payloadJson?.items ?? 0), done: 0, finishedItems: new Set(), failing: new Set() });
      continue;
    }
    const map = maps.get(e.nodeId);
    if (!map) continue;
    // The node itself finished: every item did, whether or not the page read their events (a
    // long map's middle is not read, timeline-data.js).
    if (e.type === 'NODE_FINISHED' && (e.itemIndex === null || e.itemIndex === undefined)) {
      map.complete = true;
      continue;
    }
    if (e.itemIndex === null || e.itemIndex === undefined) continue;
    if (e.type === 'NODE_FINISHED') {
      map.finishedItems.add(e.itemIndex);
      map.failing.delete(e.itemIndex);
    } else if (e.type === 'NODE_FAILED' || e.type === 'NODE_INTERRUPTED') {
      map.failing.add(e.itemIndex);
    }
  }
  for (const map of maps.values()) map.done = map.complete ? map.total : map.finishedItems.size;
  return maps;
}

/**
 * What a WAITING branch (or map item) waits for, in words: "event payment.received · key o-7",
 * "child run RUNNING"; null for a plain wait (a timer or a manual resume).
 */
export function waitTarget(b) {
  if (!b || b.status !== 'WAITING') return null;
  if (b.event) return { kind: 'event', name: b.event.name, key: b.event.key ?? null, timeoutAt: b.dueAt ?? null };
  if (b.child)
    return { kind: 'child', runId: b.child.runId, status: b.child.status ?? null, flow: b.child.flowId ? flowKey(b.child.flowId, b.child.flowVersion) : null };
  return null;
}

/** Status of a child run: from the branch's own `child` (the run resource fills it in), or the run's `children` list. */
export function childStatus(run, child) {
  if (!child) return null;
  return child.status ?? (run?.children ?? []).find((c) => c.runId === child.runId)?.status ?? null;
}

/** The map items that wait for a child run, with its status. */
export function childItems(run, map) {
  return (map?.items ?? [])
    .filter((i) => i.status === 'WAITING' && i.child)
    .map((i) => ({ index: i.index, runId: i.child.runId, status: childStatus(run, i.child) }));
}

const shorten = (text, max) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

const STATUS_CLASS = { READY: 'running', RUNNING: 'running', RETRY: 'retrying', WAITING: 'waiting', JOINING: 'joining', FAILED: 'failed' };
const STATUS_WORD = { READY: 'ready', RUNNING: 'running', RETRY: 'retrying', WAITING: 'waiting', JOINING: 'joining', FAILED: 'failed' };

/** "3 of 10 items · 2 running · 1 failed · 1 retrying" for a map (a branch's `map`, with the timeline's view as a fallback). */
export function mapProgressText(map) {
  const parts = [`${map.done} of ${map.total} items`];
  if (map.running) parts.push(`${map.running} running`);
  if (map.failed) parts.push(`${map.failed} failed`);
  if (map.retrying) parts.push(`${map.retrying} retrying`);
  return parts.join(' · ');
}

/**
 * A branch's map in counts: done/total, and its items that failed for good or wait for a retry.
 * On a branch that FAILED the run, retries still scheduled will never happen: only failures count.
 */
export function branchMapCounts(map, branchStatus) {
  if (!map) return null;
  const items = map.items ?? [];
  const live = branchStatus !== 'FAILED';
  return {
    total: map.total,
    done: map.done,
    running: live ? items.filter((i) => i.status === 'RUNNING').length : 0,
    failed: items.filter((i) => i.status === 'FAILED').length,
    retrying: live ? items.filter((i) => i.status === 'RETRY').length : 0,
    failedItems: items.filter((i) => i.status === 'FAILED' || (live && i.status === 'RETRY')),
  };
}

/**
 * How many branches a `join: 'all'` node has gathered and how many it waits for: the branches
 * parked there (JOINING) and the live branches elsewhere that can still reach it.
 */
export function joinProgress(graph, branches, nodeId) {
  const arrived = branches.filter((b) => b.nodeId === nodeId && b.status === 'JOINING');
  const pending = branches.filter((b) => b.nodeId !== nodeId && b.status !== 'FAILED' && canReach(graph, b.nodeId, nodeId));
  return { arrived: arrived.length, expected: arrived.length + pending.length, pending: pending.map((b) => b.branchId) };
}

/**
 * What is going on at each node now: CSS classes for the graph, a short badge ("waiting",
 * "joining 1 of 2", "3 of 10 items · 1 failed"), and tooltip lines, from the live branches (and,
 * for maps no branch is at any more, the timeline).
 * @returns {Map<string, { classes: string[], badge: string | null, kind: string, lines: string[] }>}
 */
export function nodeActivity(graph, run, events) {
  const activity = new Map();
  const branches = liveBranches(run);
  const live = run && (run.status === 'RUNNING' || run.status === 'WAITING');
  const timelineMaps = mapsFromTimeline(events ?? []);
  const byNode = new Map();
  for (const b of branches) {
    if (!byNode.has(b.nodeId)) byNode.set(b.nodeId, []);
    byNode.get(b.nodeId).push(b);
  }
  for (const [nodeId, here] of byNode) {
    const classes = new Set();
    if (live) classes.add('current');
    for (const b of here) if (live || b.status === 'FAILED') classes.add(STATUS_CLASS[b.status] ?? 'running');
    const lines = here.map(
      (b) =>
        `${b.branchId}: ${b.status}${b.attempt ? `, attempt ${b.attempt}` : ''}${b.waitReason ? ` — ${b.waitReason}` : ''}${b.error ? ` — ${b.error.code}: ${b.error.message}` : ''}`,
    );
    let badge;
    let kind = STATUS_CLASS[here[0].status] ?? 'running';
    const mapped = here.find((b) => b.map);
    const joining = here.filter((b) => b.status === 'JOINING');
    const targets = here.map(waitTarget).filter(Boolean);
    if (mapped) {
      const counts = branchMapCounts(mapped.map, mapped.status);
      badge = mapProgressText(counts);
      if (counts.failed) kind = 'failed';
      for (const item of counts.failedItems)
        lines.push(`item ${item.index}: ${item.status}${item.error ? ` — ${item.error.code}: ${item.error.message}` : ''}`);
      const kids = childItems(run, mapped.map);
      if (kids.length > 0) {
        if (live) classes.add('child-wait');
        if (!counts.failed) kind = 'child';
        badge = `${badge} · ${kids.length} child${kids.length === 1 ? '' : 'ren'}`;
        for (const k of kids) lines.push(`item ${k.index}: child run ${k.runId}${k.status ? ` (${k.status})` : ''}`);
      }
    } else if (targets.length > 0 && targets.length === here.length && live) {
      // Every branch here waits for an event or a child run: say which.
      const first = targets[0];
      if (first.kind === 'event') {
        classes.add('event-wait');
        kind = 'event';
        badge = targets.length > 1 ? `${targets.length}× event ${first.name}` : `event ${first.name}`;
      } else {
        classes.add('child-wait');
        kind = 'child';
        const status = childStatus(run, { runId: first.runId, status: first.status });
        badge = targets.length > 1 ? `${targets.length} children` : `child ${status ? status.toLowerCase() : 'run'}`;
      }
      for (const t of targets) {
        lines.push(
          t.kind === 'event'
            ? `waits for event ${t.name}${t.key === null ? ' (any key)' : ` key ${t.key}`}${t.timeoutAt ? `; timeout at ${t.timeoutAt}` : ''}`
            : `waits for child run ${t.runId}${t.flow ? ` (${t.flow})` : ''}${childStatus(run, t) ? `: ${childStatus(run, t)}` : ''}`,
        );
      }
      badge = shorten(badge, 30);
    } else if (joining.length > 0) {
      const join = joinProgress(graph, branches, nodeId);
      badge = `joining ${join.arrived} of ${join.expected}`;
      kind = 'joining';
      if (join.pending.length) lines.push(`waiting for ${join.pending.join(', ')}`);
    } else {
      const words = new Map();
      for (const b of here) {
        const word = STATUS_WORD[b.status] ?? b.status.toLowerCase();
        words.set(word, (words.get(word) ?? 0) + 1);
      }
      badge = [...words].map(([word, n]) => (n > 1 ? `${n}× ${word}` : word)).join(' · ');
    }
    if (!live && !classes.has('failed') && !mapped) continue;
    activity.set(nodeId, { classes: [...classes], badge, kind, lines });
  }
  // Maps that ended (or whose branch is gone): their final count, from the timeline.
  for (const [nodeId, map] of timelineMaps) {
    if (activity.has(nodeId)) continue;
    const failed = map.failing.size;
    activity.set(nodeId, {
      classes: [],
      badge: mapProgressText({ done: map.done, total: map.total, failed }),
      kind: failed ? 'failed' : map.done === map.total ? 'ok' : 'idle',
      lines: failed ? [`items whose last attempt failed: ${[...map.failing].sort((a, b) => a - b).join(', ')}`] : [],
    });
  }
  return activity;
}
