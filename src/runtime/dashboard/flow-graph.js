// Draws a flow's graph as SVG: dagre computes the layout, Preact renders it. The run's story
// is painted on top: nodes visited, edges taken, every node a live branch is at (running,
// retrying, waiting, joining) with a badge saying what it does there, maps' progress, the
// node that failed.
import { graphlib, layout } from '@dagrejs/dagre';
import { useMemo } from 'preact/hooks';
import { html } from './html.js';
import { flowKey } from './flow-key.js';
import { catchKey, edgeKey, nodeActivity } from './run-path.js';

const NODE_HEIGHT = 42;
const CHAR_WIDTH = 7.4;

/** Layout of a graph description ({ entry, nodes: [{id, name, retry, timeoutMs}], edges: [{from, to, priority, conditional, when}] }). */
export function layoutGraph(graph) {
  const g = new graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 36, ranksep: 46, edgesep: 16, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) {
    const label = node.name ?? node.id;
    // A map's node is wider: its badge ("12 of 40 items · 1 failed") sits on it.
    const minWidth = node.forEach ? 168 : node.join ? 132 : 116;
    g.setNode(node.id, { width: Math.max(minWidth, label.length * CHAR_WIDTH + 40), height: NODE_HEIGHT, node });
  }
  graph.edges.forEach((edge, i) => {
    const label = edgeLabel(edge);
    g.setEdge(edge.from, edge.to, { edge, label, width: label ? label.length * 6.2 + 10 : 0, height: label ? 16 : 0, labelpos: 'c' }, `e${i}`);
  });
  // A node's catch is drawn as an edge of its own: where its failure for good goes.
  for (const edge of catchEdges(graph)) {
    const label = edge.codes ? `on ${edge.codes.join(', ')}` : 'on failure';
    const shown = label.length > 26 ? `${label.slice(0, 25)}…` : label;
    g.setEdge(edge.from, edge.to, { edge, label: shown, width: shown.length * 6.2 + 10, height: 16, labelpos: 'c' }, `c-${edge.from}`);
  }
  layout(g);
  const box = g.graph();
  return {
    width: Math.ceil(box.width ?? 200),
    height: Math.ceil(box.height ?? 100),
    nodes: g.nodes().map((id) => ({ id, ...g.node(id) })),
    edges: g.edges().map((e) => g.edge(e)),
  };
}

/** Each node's `catch` as an edge `{ from, to, codes, catch: true }`. */
export function catchEdges(graph) {
  return graph.nodes.filter((n) => n.catch).map((n) => ({ from: n.id, to: n.catch.to, codes: n.catch.codes ?? null, catch: true }));
}

/** "approved === true" from "(ctx) => ctx.state.approved === true", shortened; priority shown when set. */
function edgeLabel(edge) {
  const parts = [];
  if (edge.conditional && edge.when) {
    const body = edge.when.replace(/^(async\s+)?(\(?[\w\s,{}]*\)?|function\s*\w*\s*\([^)]*\))\s*=>\s*/, '').replace(/\bctx\.(state|outputs)\./g, '');
    parts.push(body.length > 26 ? `${body.slice(0, 25)}…` : body);
  } else if (edge.conditional) parts.push('if …');
  if (edge.priority) parts.push(`p${edge.priority}`);
  return parts.join(' · ');
}

/** A smooth path through dagre's points: straight ends, quadratic bends through the midpoints. */
function edgePath(points) {
  if (points.length < 2) return '';
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const mid = { x: (points[i].x + points[i + 1].x) / 2, y: (points[i].y + points[i + 1].y) / 2 };
    d += ` Q${points[i].x},${points[i].y} ${mid.x},${mid.y}`;
  }
  const last = points[points.length - 1];
  return `${d} L${last.x},${last.y}`;
}

function nodeClass(id, graph, path, act) {
  const classes = ['node'];
  if (id === graph.entry) classes.push('entry');
  if (path?.visits.includes(id)) classes.push('visited');
  if (path?.finished.has(id)) classes.push('finished');
  if (path?.failedNode === id) classes.push('failed');
  if (path?.retrying.has(id)) classes.push('retrying');
  if (path?.caught.has(id)) classes.push('caught');
  if (path?.compensated.has(id)) classes.push('compensated');
  if (path?.compensationFailed.has(id)) classes.push('compensation-failed');
  for (const c of act?.classes ?? []) if (!classes.includes(c)) classes.push(c);
  return classes.join(' ');
}

/** Small corner note: ↻3 = up to 3 attempts; 2s = timeout; split (to all); join all|any; map ×3 = 3 items at once. */
function nodeFlags(node) {
  const flags = [];
  if (node.forEach) flags.push(`map ×${node.concurrency ?? ''}`);
  if (node.join) flags.push(`join ${node.join}`);
  if (node.split === 'all') flags.push('split');
  if (node.compensate) flags.push('undo');
  if (node.retry) flags.push(`↻${node.retry.maxAttempts}`);
  if (node.timeoutMs) flags.push(node.timeoutMs >= 1000 ? `${node.timeoutMs / 1000}s` : `${node.timeoutMs}ms`);
  return flags.join(' ');
}

function nodeTitle(node, act) {
  const lines = [node.name === node.id ? node.id : `${node.name} (${node.id})`];
  if (node.split === 'all') lines.push('split: every matching edge starts a branch');
  if (node.join)
    lines.push(node.join === 'all' ? 'join all: runs once every branch that can reach it has arrived' : 'join any: runs with the first branch to arrive');
  if (node.forEach) lines.push(`forEach: one call per item, ${node.concurrency ?? 'default'} at once`);
  if (node.retry) lines.push(`retry: ${node.retry.maxAttempts} attempts, ${node.retry.backoff} from ${node.retry.baseDelayMs} ms`);
  if (node.timeoutMs) lines.push(`timeout: ${node.timeoutMs} ms`);
  if (node.hasIdempotencyKey) lines.push('idempotent');
  if (node.catch) lines.push(`catch: ${node.catch.codes ? node.catch.codes.join(', ') : 'any failure'} → ${node.catch.to}`);
  if (node.compensate) lines.push('compensate: undone if the run fails');
  if (act?.badge) lines.push('', act.badge, ...act.lines);
  return lines.join('\n');
}

const BADGE_CHAR_WIDTH = 6.1;

/** A pill on the node's lower edge: what the branches there are doing, or a map's progress. */
function NodeBadge({ act, width, height }) {
  if (!act?.badge) return null;
  const w = Math.ceil(act.badge.length * BADGE_CHAR_WIDTH + 14);
  return html`<g class=${`node-badge ${act.kind}`} transform=${`translate(${(width - w) / 2},${height - 8})`} data-badge=${act.badge}>
    <rect width=${w} height="16" rx="8" ry="8" />
    <text x=${w / 2} y="12" text-anchor="middle">${act.badge}</text>
  </g>`;
}

/**
 * `graph` = a flow's definitionJson; `run`, `path` (from pathFromTimeline) and `events` (the
 * timeline) are optional. `onSelect(nodeId)` makes the nodes clickable (`selected` is outlined).
 */
export function FlowGraph({ graph, run, path, events, compact = false, onSelect = null, selected = null }) {
  const laid = useMemo(() => layoutGraph(graph), [graph]);
  const activity = run ? nodeActivity(graph, run, events ?? []) : new Map();
  const markerId = compact ? 'arrow-compact' : 'arrow';
  return html`
    <svg
      class=${compact ? 'flow-graph compact' : 'flow-graph'}
      viewBox=${`0 0 ${laid.width} ${laid.height}`}
      width=${laid.width}
      height=${laid.height}
      role="img"
      aria-label=${`Graph of ${flowKey(graph.flowId, graph.version)}`}
    >
      <defs>
        <marker id=${markerId} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" class="arrow-head" />
        </marker>
        <marker id=${`${markerId}-taken`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" class="arrow-head taken" />
        </marker>
      </defs>
      ${laid.edges.map(({ edge, points, x, y, label }) => {
        const key = edge.catch ? catchKey(edge.from, edge.to) : edgeKey(edge.from, edge.to);
        const taken = path?.takenEdges.has(key);
        const cls = `edge${taken ? ' taken' : ''}${edge.conditional ? ' conditional' : ''}${edge.catch ? ' catch' : ''}`;
        const title = edge.catch ? `catch: a failure for good of ${edge.from}${edge.codes ? ` (${edge.codes.join(', ')})` : ''}` : (edge.when ?? 'always');
        return html`<g class=${cls} data-edge=${key}>
          <path d=${edgePath(points)} marker-end=${`url(#${markerId}${taken ? '-taken' : ''})`}><title>${title}</title></path>
          ${label && !compact && html`<text x=${x} y=${y + 4} class="edge-label">${label}</text>`}
        </g>`;
      })}
      ${laid.nodes.map(({ id, x, y, width, height, node }) => {
        const act = activity.get(id);
        const flags = nodeFlags(node);
        return html`
        <g
          class=${`${nodeClass(id, graph, path, act)}${onSelect ? ' selectable' : ''}${selected === id ? ' selected' : ''}`}
          data-node=${id}
          transform=${`translate(${x - width / 2},${y - height / 2})`}
          onClick=${onSelect ? () => onSelect(id) : undefined}
        >
          <title>${nodeTitle(node, act)}</title>
          <rect width=${width} height=${height} rx="8" ry="8" />
          <text x=${width / 2} y=${height / 2 + 4} text-anchor="middle">${node.name ?? id}</text>
          ${flags && !compact && html`<text x=${width - 8} y="12" text-anchor="end" class="node-flags">${flags}</text>`}
          ${!compact && html`<${NodeBadge} act=${act} width=${width} height=${height} />`}
        </g>`;
      })}
    </svg>
  `;
}

export function GraphLegend() {
  return html`<div class="legend">
    <span><i class="swatch visited"></i>visited</span>
    <span><i class="swatch current"></i>current</span>
    <span><i class="swatch waiting"></i>waiting</span>
    <span><i class="swatch joining"></i>joining</span>
    <span><i class="swatch event-wait"></i>waits for an event</span>
    <span><i class="swatch child-wait"></i>waits for a child run</span>
    <span><i class="swatch failed"></i>failed</span>
    <span><i class="line taken"></i>path taken</span>
    <span><i class="line conditional"></i>conditional edge</span>
    <span><i class="line catch"></i>catch (on failure)</span>
    <span><i class="swatch compensated"></i>compensated</span>
  </div>`;
}
