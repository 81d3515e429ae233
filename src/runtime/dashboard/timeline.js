// The run's audit timeline as a table: every event in order, with its branch and map item,
// attempt, duration, error and payload, and the time since the run started so gaps (backoff,
// waiting for a human) stand out. A run with several branches can be narrowed to one.
import { useState } from 'preact/hooks';
import { html } from './html.js';
import { formatDuration } from './format.js';

const KIND = {
  RUN_STARTED: 'run',
  RUN_RESUMED: 'run',
  RUN_WAITING: 'wait',
  RUN_COMPLETED: 'ok',
  RUN_ABORTED: 'bad',
  RUN_CANCELLED: 'bad',
  NODE_STARTED: 'node',
  NODE_FINISHED: 'ok',
  NODE_FAILED: 'bad',
  NODE_INTERRUPTED: 'bad',
  NODE_RETRY_SCHEDULED: 'wait',
  BRANCH_STARTED: 'branch',
  BRANCH_ENDED: 'branch',
  BRANCH_ABORTED: 'bad',
  JOIN_ARRIVED: 'wait',
  JOIN_COMPLETED: 'branch',
  MAP_STARTED: 'branch',
  EVENT_RECEIVED: 'event',
  CHILD_STARTED: 'child',
  CHILD_FINISHED: 'child',
  NODE_CAUGHT: 'caught',
  RUN_COMPENSATING: 'undo',
  COMPENSATION_STARTED: 'undo',
  NODE_COMPENSATED: 'ok',
  COMPENSATION_FAILED: 'bad',
  FAILURE_HANDLER_STARTED: 'child',
  FAILURE_HANDLER_SKIPPED: 'bad',
};

/** A CHILD_STARTED / CHILD_FINISHED event links to its child run, a FAILURE_HANDLER_STARTED to the handler run. */
function ChildRunLink({ event }) {
  if (event.type === 'FAILURE_HANDLER_STARTED' && typeof event.payloadJson?.handlerRunId === 'string') {
    const id = event.payloadJson.handlerRunId;
    return html`<a class="child-link" href=${`#/runs/${encodeURIComponent(id)}`} title=${id}>failure handler run →</a> `;
  }
  const id = event.payloadJson?.childRunId;
  if ((event.type !== 'CHILD_STARTED' && event.type !== 'CHILD_FINISHED') || typeof id !== 'string') return null;
  return html`<a class="child-link" href=${`#/runs/${encodeURIComponent(id)}`} title=${id}>child run →</a> `;
}

/** Each branch named in the timeline, in order of appearance, with the node it started at. */
function branchesOf(events) {
  const seen = new Map();
  for (const e of events) if (e.branchId && !seen.has(e.branchId)) seen.set(e.branchId, e.nodeId);
  return [...seen];
}

function Payload({ value }) {
  if (value === null || value === undefined) return null;
  const text = JSON.stringify(value);
  if (text.length <= 60) return html`<code class="payload-inline">${text}</code>`;
  return html`<details><summary><code>${text.slice(0, 56)}…</code></summary><pre class="json">${JSON.stringify(value, null, 2)}</pre></details>`;
}

/** Rows in the table at once: a long timeline is shown a page at a time (a table of 8,000 rows takes seconds to draw). */
export const ROWS_PER_PAGE = 200;

/**
 * `events`: what the page has read of the timeline (timeline-data.js), in seq order; `gap`: the
 * events between its head and its tail not read (yet), with `onLoadMore` to read on; `total`: the
 * run's last seq.
 */
export function Timeline({ events, gap = null, total = events.length, loading = false, onLoadMore = null }) {
  const [branch, setBranch] = useState('');
  const [page, setPage] = useState(0);
  if (!events.length) return html`<p class="muted">${loading ? 'Loading the timeline…' : 'No events yet.'}</p>`;
  const start = new Date(events[0].at).getTime();
  const branches = branchesOf(events);
  // A branch no longer in the list (another run's page) shows everything.
  const selected = branches.some(([id]) => id === branch) ? branch : '';
  const shown = selected ? events.filter((e) => e.branchId === selected) : events;
  const pages = Math.max(1, Math.ceil(shown.length / ROWS_PER_PAGE));
  const current = Math.min(page, pages - 1);
  const rows = shown.slice(current * ROWS_PER_PAGE, (current + 1) * ROWS_PER_PAGE);
  const first = rows[0]?.seq;
  const last = rows[rows.length - 1]?.seq;
  return html`
    <div class="toolbar timeline-toolbar">
      ${
        branches.length > 1 &&
        html`<label>Branch
          <select id="timeline-branch" value=${selected} onChange=${(e) => {
            setBranch(e.currentTarget.value);
            setPage(0);
          }}>
            <option value="">all branches</option>
            ${branches.map(([id, nodeId]) => html`<option value=${id}>${id}${nodeId ? ` · ${nodeId}` : ''}</option>`)}
          </select>
        </label>`
      }
      <span class="muted small" data-testid="timeline-range">
        ${rows.length ? `events ${first}–${last}` : 'no events'}${selected ? ` (${shown.length} of ${events.length} read on this branch)` : ''} of ${total}${events.length < total ? ` · ${events.length} read` : ''}
      </span>
      ${
        pages > 1 &&
        html`<span class="pager timeline-pager">
          <button type="button" class="small-button" disabled=${current === 0} onClick=${() => setPage(0)}>⇤ First</button>
          <button type="button" class="small-button" disabled=${current === 0} onClick=${() => setPage(current - 1)}>← Previous</button>
          <button type="button" class="small-button" disabled=${current >= pages - 1} onClick=${() => setPage(current + 1)}>Next →</button>
          <button type="button" class="small-button" disabled=${current >= pages - 1} onClick=${() => setPage(pages - 1)}>Last ⇥</button>
        </span>`
      }
    </div>
    <table class="timeline" data-testid="timeline">
      <thead>
        <tr><th>#</th><th>at</th><th>+</th><th>event</th><th>node</th><th>branch</th><th>item</th><th>attempt</th><th>duration</th><th>details</th></tr>
      </thead>
      <tbody>
        ${rows.map(
          (e, i) => html`${afterGap(shown, current * ROWS_PER_PAGE + i, gap) && html`<${GapRow} gap=${gap} loading=${loading} onLoadMore=${onLoadMore} />`}
          <tr key=${e.seq} class=${`ev-${KIND[e.type] ?? 'other'}`} data-seq=${e.seq} data-branch=${e.branchId ?? ''}>
            <td class="num">${e.seq}</td>
            <td class="nowrap">${new Date(e.at).toLocaleTimeString(undefined, { hour12: false })}</td>
            <td class="nowrap muted">${formatDuration(new Date(e.at).getTime() - start) || '0 ms'}</td>
            <td><span class=${`chip ${KIND[e.type] ?? 'other'}`}>${e.type}</span></td>
            <td>${e.nodeId ?? ''}</td>
            <td>${e.branchId && html`<code class="branch-id">${e.branchId}</code>`}</td>
            <td class="num">${e.itemIndex ?? ''}</td>
            <td class="num">${e.attempt ?? ''}</td>
            <td class="num nowrap">${formatDuration(e.durationMs)}</td>
            <td>
              ${e.error && html`<div class="error-text"><strong>${e.error.code}</strong> ${e.error.message}</div>`}
              <${ChildRunLink} event=${e} />
              <${Payload} value=${e.payloadJson} />
            </td>
          </tr>`,
        )}
      </tbody>
    </table>
  `;
}

/** Whether the unread events come just before `shown[index]`. */
const afterGap = (shown, index, gap) => gap !== null && index > 0 && shown[index - 1].seq < gap.from && shown[index].seq > gap.to;

/** The events between what was read from the start and the run's last events: read on demand. */
function GapRow({ gap, loading, onLoadMore }) {
  return html`<tr class="timeline-gap" data-testid="timeline-gap">
    <td colspan="10">
      <span class="muted">events ${gap.from}–${gap.to} not read yet</span>
      ${onLoadMore && html` <button type="button" class="small-button" disabled=${loading} onClick=${onLoadMore}>Read ${Math.min(1000, gap.to - gap.from + 1)} more</button>`}
    </td>
  </tr>`;
}
