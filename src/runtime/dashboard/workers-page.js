// The workers: every worker process recorded in the store (live, or silent once it missed 3
// refreshes), what each serves and holds, and the runs due for flows no live worker serves —
// at a glance, what is not being worked on.
import { html } from './html.js';
import { listWorkers } from './api.js';
import { usePolling } from './hooks.js';
import { ErrorNote, formatTime, relativeTime } from './format.js';

export function WorkersPage() {
  const view = usePolling(listWorkers, 3_000, []);
  if (view.error && !view.data) return html`<section class="card"><${ErrorNote} error=${view.error} /></section>`;
  if (!view.data) return html`<section class="card"><p class="muted">Loading workers…</p></section>`;
  const { workers, unserved } = view.data;
  return html`<div class="workers">
    ${
      unserved.length > 0 &&
      html`<section class="card unserved" data-testid="unserved">
      <h2>Not being worked on</h2>
      <p class="muted">Runs due for flows no live worker serves: start a worker that registers them.</p>
      <table>
        <thead><tr><th>flow</th><th>due</th><th>oldest due</th></tr></thead>
        <tbody>
          ${unserved.map(
            (u) => html`<tr key=${u.flowKey} data-flow=${u.flowKey}>
              <td><a href=${`#/runs?flow=${encodeURIComponent(u.flowKey)}`}>${u.flowKey}</a></td>
              <td>${u.due}</td>
              <td>${Math.round(u.oldestDueSeconds)} s</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </section>`
    }
    <section class="card">
      <h2>Workers</h2>
      ${
        workers.length === 0
          ? html`<p class="muted empty">No worker is recorded. Start one: <code>hazel-flow worker</code>, <code>engine.startWorker()</code>.</p>`
          : html`<table data-testid="workers-table">
            <thead>
              <tr><th>worker</th><th>status</th><th>host</th><th>pid</th><th>in flight</th><th>last seen</th><th>started</th><th>flows</th></tr>
            </thead>
            <tbody>
              ${workers.map(
                (w) => html`<tr key=${w.workerId} data-worker=${w.workerId}>
                  <td><code title=${w.workerId}>${w.workerId.slice(0, 8)}</code></td>
                  <td>
                    <span class=${`badge worker-${w.status}`} data-testid="worker-status" title=${w.status === 'silent' ? `no refresh for ${relativeTime(w.lastSeenAt)}` : `refreshes every ${w.heartbeatMs} ms`}
                      >${w.status}</span
                    >
                  </td>
                  <td>${w.host}</td>
                  <td>${w.pid}</td>
                  <td>${w.inFlight} / ${w.concurrency}</td>
                  <td title=${w.lastSeenAt}>${relativeTime(w.lastSeenAt)}</td>
                  <td title=${w.startedAt}>${formatTime(w.startedAt)}</td>
                  <td class="flow-keys">${w.flowKeys.join(', ')}</td>
                </tr>`,
              )}
            </tbody>
          </table>`
      }
    </section>
  </div>`;
}
