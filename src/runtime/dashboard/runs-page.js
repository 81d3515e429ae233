// The runs list: newest first, filtered by status, flow, business outcome and parent run,
// refreshed every two seconds. Filters live in the URL hash so a filtered view can be bookmarked or shared. Below it,
// a form to send an event to whichever runs wait for it.
import { useState } from 'preact/hooks';
import { html } from './html.js';
import { flowKey, parseFlowKey } from './flow-key.js';
import { listFlows, listRuns } from './api.js';
import { usePolling } from './hooks.js';
import { CompensationBadge, ErrorNote, STATUSES, StatusBadge, formatTime, relativeTime, shortId } from './format.js';
import { SendEventForm } from './send-event.js';
import { heldReason } from './flow-control.js';

const PAGE_SIZE = 50;

export function RunsPage({ query, navigate }) {
  const status = query.get('status') ?? '';
  const flow = query.get('flow') ?? '';
  const parent = query.get('parent') ?? '';
  const scheduleId = query.get('scheduleId') ?? '';
  const outcome = query.get('outcome') ?? '';
  const [cursors, setCursors] = useState([]);
  const cursor = cursors[cursors.length - 1];
  const { flowId, version } = parseFlowKey(flow);
  const runs = usePolling(
    () => listRuns({ status, flowId, flowVersion: version, parentRunId: parent, scheduleId, outcome, limit: PAGE_SIZE, cursor }),
    // Older pages do not change much; only the first page follows new runs live.
    cursor ? null : 2000,
    [status, flow, parent, scheduleId, outcome, cursor],
  );
  const flows = usePolling(listFlows, 10_000, []);

  const setFilter = (key, value) => {
    const next = new URLSearchParams(query);
    if (value) next.set(key, value);
    else next.delete(key);
    setCursors([]);
    navigate(`#/runs${next.toString() ? `?${next}` : ''}`);
  };

  return html`
    <section class="card">
      <div class="toolbar">
        <h2>Runs</h2>
        <label>Status
          <select id="filter-status" value=${status} onChange=${(e) => setFilter('status', e.currentTarget.value)}>
            <option value="">all</option>
            ${STATUSES.map((s) => html`<option value=${s}>${s.toLowerCase()}</option>`)}
          </select>
        </label>
        <label>Flow
          <select id="filter-flow" value=${flow} onChange=${(e) => setFilter('flow', e.currentTarget.value)}>
            <option value="">all</option>
            ${(flows.data?.flows ?? []).map((f) => html`<option value=${flowKey(f.flowId, f.version)}>${flowKey(f.flowId, f.version)}</option>`)}
          </select>
        </label>
        <label title="Runs whose nodes set this business outcome (a result's outcome), e.g. refunded">Outcome
          <input id="filter-outcome" type="search" placeholder="any" maxlength="200" value=${outcome}
            onChange=${(e) => setFilter('outcome', e.currentTarget.value.trim())} />
        </label>
        ${
          parent &&
          html`<span class="filter-chip" data-testid="parent-filter">
          children of <a href=${`#/runs/${encodeURIComponent(parent)}`} title=${parent}><code>${shortId(parent)}</code></a>
          <a href="#" title="Show all runs" onClick=${(e) => {
            e.preventDefault();
            setFilter('parent', '');
          }}>✕</a>
        </span>`
        }
        ${
          scheduleId &&
          html`<span class="filter-chip" data-testid="schedule-filter">
          started by schedule <a href="#/schedules"><code>${scheduleId}</code></a>
          <a href="#" title="Show all runs" onClick=${(e) => {
            e.preventDefault();
            setFilter('scheduleId', '');
          }}>✕</a>
        </span>`
        }
        <span class="spacer"></span>
        <span class=${`live ${cursor ? 'paused' : ''}`} title="Refreshes every 2 seconds">${cursor ? 'paged' : 'live'}</span>
        <a class="button primary" href="#/flows">Start a run</a>
      </div>
      ${runs.error && html`<${ErrorNote} error=${runs.error} />`}
      <${RunsTable} runs=${runs.data?.runs} loading=${runs.loading} />
      <div class="pager">
        ${cursors.length > 0 && html`<button type="button" onClick=${() => setCursors([])}>⇤ Newest</button>`}
        ${runs.data?.nextCursor && html`<button type="button" onClick=${() => setCursors([...cursors, runs.data.nextCursor])}>Older →</button>`}
      </div>
    </section>
    <details class="card send-event-card">
      <summary>Send an event</summary>
      <p class="hint">Every run branch waiting for this name (and key) gets it once, at ctx.state._resumePayload.</p>
      <${SendEventForm} idPrefix="event" compact=${true} onSent=${() => runs.refresh()} />
    </details>
  `;
}

/** The node of each live branch ("legal, finance (2 branches)"), or the seed's one current node. */
function currentNodes(run) {
  const branches = run.branches ?? [];
  if (branches.length <= 1) return run.currentNodeId ?? '';
  const nodes = [...new Set(branches.map((b) => b.nodeId))];
  return html`${nodes.join(', ')} <span class="muted small">(${branches.length} branches)</span>`;
}

function RunsTable({ runs, loading }) {
  if (!runs) return html`<p class="muted">${loading ? 'Loading runs…' : ''}</p>`;
  if (runs.length === 0) return html`<p class="muted empty">No runs match. <a href="#/flows">Start one</a>.</p>`;
  return html`
    <table class="runs" data-testid="runs-table">
      <thead>
        <tr><th>run</th><th>flow</th><th>status</th><th>outcome</th><th>current node</th><th>created</th><th>updated</th><th>note</th></tr>
      </thead>
      <tbody>
        ${runs.map(
          (r) => html`<tr key=${r.runId} data-run-id=${r.runId} data-status=${r.status}>
            <td><a class="run-link" href=${`#/runs/${encodeURIComponent(r.runId)}`} title=${r.runId}><code>${shortId(r.runId)}</code></a></td>
            <td>
              ${r.flowId}<span class="muted">@${r.flowVersion}</span>
              ${
                r.parentRunId &&
                html`<div class="muted small">↳ child of <a class="parent-link" href=${`#/runs/${encodeURIComponent(r.parentRunId)}`} title=${r.parentRunId}><code>${shortId(r.parentRunId)}</code></a></div>`
              }
            </td>
            <td><${StatusBadge} status=${r.status} /> <${CompensationBadge} run=${r} /></td>
            <td class="outcome">${
              r.outcome
                ? html`<a class="outcome-link" href=${`#/runs?outcome=${encodeURIComponent(r.outcome)}`} title="Show the runs with this outcome">${r.outcome}</a>`
                : html`<span class="muted">—</span>`
            }</td>
            <td>${currentNodes(r)}</td>
            <td class="nowrap" title=${r.createdAt}>${formatTime(r.createdAt)}</td>
            <td class="nowrap" title=${r.updatedAt}>${relativeTime(r.updatedAt)}</td>
            <td class="note">${r.error ? html`<span class="error-text">${r.error.code}: ${r.error.message}</span>` : (r.waitReason ?? heldReason(r) ?? '')}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  `;
}
