// The run's live branches as a table: where each one is, its status, attempt, due time, why it
// waits (and for what: an event, a child run), a map's progress (with the items that failed and
// the child runs its items wait for), and a resume button on each waiting branch
// (POST …/resume?nodeId=<its node>, with the payload of the Resume form).
import { html } from './html.js';
import { StatusBadge, formatTime, shortId } from './format.js';
import { branchMapCounts, childItems, childStatus, joinProgress, mapProgressText, waitTarget } from './run-path.js';

export const runHref = (runId) => `#/runs/${encodeURIComponent(runId)}`;

/** A link to a child run with its status badge. */
export function ChildLink({ runId, status }) {
  return html`<span class="child-ref" data-child=${runId}>
    <a class="child-link" href=${runHref(runId)} title=${runId}><code>${shortId(runId)}</code></a>
    ${status && html` <${StatusBadge} status=${status} />`}
  </span>`;
}

/** What a waiting branch waits for: the event (name, key, timeout) or the child run (link, status). */
export function WaitTarget({ run, branch }) {
  const t = waitTarget(branch);
  if (!t) return null;
  if (t.kind === 'event') {
    return html`<div class="wait-target event-wait" data-testid="event-wait" data-event=${t.name} data-key=${t.key ?? ''}>
      waits for event <strong>${t.name}</strong>${t.key === null ? html` <span class="muted">(any key)</span>` : html` · key <code>${t.key}</code>`}
      ${t.timeoutAt ? html` · <span title=${t.timeoutAt}>timeout at ${formatTime(t.timeoutAt)}</span>` : html` · <span class="muted">no timeout</span>`}
    </div>`;
  }
  return html`<div class="wait-target child-wait" data-testid="child-wait">
    waits for child run <${ChildLink} runId=${t.runId} status=${childStatus(run, branch.child)} />${t.flow ? html` <span class="muted">${t.flow}</span>` : ''}
  </div>`;
}

const STATUS_CHIP = { READY: 'run', RUNNING: 'run', RETRY: 'wait', WAITING: 'wait', JOINING: 'branch', FAILED: 'bad' };

function MapCell({ run, branch }) {
  const counts = branchMapCounts(branch.map, branch.status);
  if (!counts) return null;
  const kids = childItems(run, branch.map);
  const pct = counts.total ? Math.round((counts.done / counts.total) * 100) : 100;
  return html`<div class="map-progress" title=${`${counts.done} of ${counts.total} items done, ${branch.map.concurrency} at once`}>
    <div class="bar"><i style=${`width:${pct}%`}></i></div>
    <span class=${counts.failed ? 'error-text' : ''}>${mapProgressText(counts)}</span>
    ${counts.failedItems.map(
      (item) => html`<div class="map-item" data-item=${item.index}>
        item ${item.index}: <strong>${item.status.toLowerCase()}</strong>${item.dueAt ? ` until ${formatTime(item.dueAt)}` : ''}
        ${item.error && html`<span class="error-text"> ${item.error.code}: ${item.error.message}</span>`}
      </div>`,
    )}
    ${kids.map(
      (k) => html`<div class="map-item child-item" data-item=${k.index}>item ${k.index}: child <${ChildLink} runId=${k.runId} status=${k.status} /></div>`,
    )}
  </div>`;
}

/**
 * `run` with `branches`; `graph` (the flow's definitionJson) for join progress; `onResume(nodeId)`
 * resumes one waiting branch, or null when the run cannot be resumed (finished).
 */
export function BranchesTable({ run, graph, onResume, busy }) {
  const branches = run.branches ?? [];
  if (branches.length === 0) return html`<p class="muted">No live branches: the run has ended.</p>`;
  const waiting = branches.filter((b) => b.status === 'WAITING' && !b.child);
  return html`
    <table class="branches" data-testid="branches">
      <thead>
        <tr><th>branch</th><th>node</th><th>status</th><th class="num">attempt</th><th>due</th><th>wait reason / error</th><th>map</th><th></th></tr>
      </thead>
      <tbody>
        ${branches.map((b) => {
          const join = b.status === 'JOINING' && graph ? joinProgress(graph, branches, b.nodeId) : null;
          return html`<tr key=${b.branchId} data-branch=${b.branchId} data-node=${b.nodeId} data-status=${b.status}>
            <td><code>${b.branchId}</code></td>
            <td>${b.nodeId}</td>
            <td>
              <span class=${`chip ${STATUS_CHIP[b.status] ?? 'other'}`}>${b.status}</span>
              ${join && html`<div class="muted small">${join.arrived} of ${join.expected} arrived${join.pending.length ? `; waiting for ${join.pending.join(', ')}` : ''}</div>`}
            </td>
            <td class="num">${b.attempt}</td>
            <td class="nowrap" title=${b.dueAt ?? ''}>${b.dueAt ? formatTime(b.dueAt) : ''}</td>
            <td class="note">
              ${b.waitReason ?? ''}
              <${WaitTarget} run=${run} branch=${b} />
              ${b.waitTimedOut && html`<div class="muted small">the event wait timed out: the node runs again with ctx.meta.waitTimedOut</div>`}
              ${b.error && html`<div class="error-text"><strong>${b.error.code}</strong> ${b.error.message}</div>`}
            </td>
            <td><${MapCell} run=${run} branch=${b} /></td>
            <td class="nowrap">
              ${
                b.status === 'WAITING' &&
                !b.child &&
                onResume &&
                html`<button
                type="button"
                class=${waiting.length > 1 ? 'primary small-button' : 'small-button'}
                aria-label=${`Resume ${b.nodeId}`}
                title=${`Resume branch ${b.branchId} at ${b.nodeId} with the payload above (…/resume?nodeId=${b.nodeId})`}
                disabled=${busy}
                onClick=${() => onResume(b.nodeId)}
              >Resume</button>`
              }
            </td>
          </tr>`;
        })}
      </tbody>
    </table>
  `;
}
