// The run's audit timeline as a table: every event in order, with attempt, duration, error and
// payload, and the time since the run started so gaps (backoff, waiting for a human) stand out.
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
};

function Payload({ value }) {
  if (value === null || value === undefined) return null;
  const text = JSON.stringify(value);
  if (text.length <= 60) return html`<code class="payload-inline">${text}</code>`;
  return html`<details><summary><code>${text.slice(0, 56)}…</code></summary><pre class="json">${JSON.stringify(value, null, 2)}</pre></details>`;
}

export function Timeline({ events }) {
  if (!events.length) return html`<p class="muted">No events yet.</p>`;
  const start = new Date(events[0].at).getTime();
  return html`
    <table class="timeline" data-testid="timeline">
      <thead>
        <tr><th>#</th><th>at</th><th>+</th><th>event</th><th>node</th><th>attempt</th><th>duration</th><th>details</th></tr>
      </thead>
      <tbody>
        ${events.map(
          (e) => html`<tr key=${e.seq} class=${`ev-${KIND[e.type] ?? 'other'}`}>
            <td class="num">${e.seq}</td>
            <td class="nowrap">${new Date(e.at).toLocaleTimeString(undefined, { hour12: false })}</td>
            <td class="nowrap muted">${formatDuration(new Date(e.at).getTime() - start) || '0 ms'}</td>
            <td><span class=${`chip ${KIND[e.type] ?? 'other'}`}>${e.type}</span></td>
            <td>${e.nodeId ?? ''}</td>
            <td class="num">${e.attempt ?? ''}</td>
            <td class="num nowrap">${formatDuration(e.durationMs)}</td>
            <td>
              ${e.error && html`<div class="error-text"><strong>${e.error.code}</strong> ${e.error.message}</div>`}
              <${Payload} value=${e.payloadJson} />
            </td>
          </tr>`,
        )}
      </tbody>
    </table>
  `;
}
