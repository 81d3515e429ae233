// The schedules: each with its timetable, its next fire times, what it did last (the last skip
// and why), its last runs, and buttons to pause, resume or trigger it.
import { useState } from 'preact/hooks';
import { html } from './html.js';
import { listRuns, listSchedules, scheduleAction } from './api.js';
import { usePolling } from './hooks.js';
import { ErrorNote, StatusBadge, formatTime, relativeTime, shortId } from './format.js';

/** Last runs each schedule card shows. */
const LAST_RUNS = 5;

export function SchedulesPage() {
  const schedules = usePolling(listSchedules, 5_000, []);
  if (schedules.error && !schedules.data) return html`<section class="card"><${ErrorNote} error=${schedules.error} /></section>`;
  if (!schedules.data) return html`<section class="card"><p class="muted">Loading schedules…</p></section>`;
  if (schedules.data.schedules.length === 0)
    return html`<section class="card">
      <p class="muted empty">No schedules. Declare them with a flow (<code>schedules: [{ scheduleId, cron }]</code>), or set one with
      <code>engine.schedules.set()</code>, <code>PUT /v1/schedules/:id</code> or <code>hazel-flow schedules set</code>.</p>
    </section>`;
  return html`<div class="schedules">
    ${schedules.data.schedules.map((s) => html`<${ScheduleCard} key=${s.scheduleId} schedule=${s} onChanged=${schedules.refresh} />`)}
  </div>`;
}

function timetable(s) {
  return s.cron !== null ? html`cron <code>${s.cron}</code> <span class="muted">(${s.timezone})</span>` : html`every <code>${formatEvery(s.every)}</code>`;
}

function formatEvery(ms) {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ])
    if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms} ms`;
}

function ScheduleCard({ schedule: s, onChanged }) {
  const runs = usePolling(() => listRuns({ scheduleId: s.scheduleId, limit: LAST_RUNS }), 5_000, [s.scheduleId]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [triggered, setTriggered] = useState(null);
  const act = (action) => async () => {
    setBusy(true);
    setError(null);
    try {
      const result = await scheduleAction(s.scheduleId, action);
      if (action === 'trigger') setTriggered(result.runId);
      onChanged();
      runs.refresh();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const flow = s.version === null ? html`${s.flowId} <span class="muted">(newest version)</span>` : html`${s.flowId}<span class="muted">@${s.version}</span>`;
  return html`
    <section class="card schedule-card" data-schedule=${s.scheduleId}>
      <div class="flow-card-head">
        <h2 class="flow-key">${s.scheduleId}</h2>
        <span class=${`badge ${s.paused ? 'status-cancelled' : 'status-running'}`} data-testid="schedule-state">${s.paused ? 'PAUSED' : 'ACTIVE'}</span>
        <span class="muted small">${flow} · ${timetable(s)}</span>
        <span class="spacer"></span>
        ${
          s.paused
            ? html`<button type="button" disabled=${busy} onClick=${act('resume')}>Resume</button>`
            : html`<button type="button" disabled=${busy} onClick=${act('pause')}>Pause</button>`
        }
        <button type="button" class="primary" disabled=${busy} onClick=${act('trigger')}>Trigger now</button>
      </div>
      ${error && html`<${ErrorNote} error=${error} />`}
      ${triggered && html`<p class="small">Started <a href=${`#/runs/${encodeURIComponent(triggered)}`}><code>${shortId(triggered)}</code></a></p>`}
      <div class="schedule-body">
        <div>
          <h3>Next fire times</h3>
          ${
            s.upcoming.length === 0
              ? html`<p class="muted">${s.paused ? 'None while paused.' : 'None: the expression never fires again.'}</p>`
              : html`<ol class="upcoming" data-testid="upcoming">${s.upcoming.map((at) => html`<li title=${at}>${formatTime(at)}</li>`)}</ol>`
          }
          <dl class="facts">
            <dt>overlap</dt><dd>${s.overlap}</dd>
            <dt>catch-up</dt><dd>${s.catchup} (window ${formatEvery(s.catchupWindowMs)})</dd>
            ${s.jitterMs > 0 && html`<dt>jitter</dt><dd>up to ${s.jitterMs} ms</dd>`}
            <dt>last fired</dt><dd title=${s.lastFireAt ?? ''}>${s.lastFireAt ? formatTime(s.lastFireAt) : '—'}</dd>
            ${
              s.lastSkip &&
              html`<dt>last skip</dt><dd data-testid="last-skip" title=${s.lastSkip.scheduledAt}>${formatTime(s.lastSkip.scheduledAt)}: ${s.lastSkip.reason} — ${s.lastSkip.message}</dd>`
            }
            ${s.buffered.length > 0 && html`<dt>buffered</dt><dd>${s.buffered.length} tick(s) waiting for the previous run</dd>`}
          </dl>
        </div>
        <div>
          <h3>Last runs <a class="small" href=${`#/runs?scheduleId=${encodeURIComponent(s.scheduleId)}`}>all →</a></h3>
          ${
            !runs.data
              ? html`<p class="muted">Loading…</p>`
              : runs.data.runs.length === 0
                ? html`<p class="muted">No runs yet.</p>`
                : html`<table class="runs" data-testid="schedule-runs">
                  <tbody>
                    ${runs.data.runs.map(
                      (r) => html`<tr>
                        <td><a class="run-link" href=${`#/runs/${encodeURIComponent(r.runId)}`} title=${r.runId}><code>${shortId(r.runId)}</code></a></td>
                        <td><${StatusBadge} status=${r.status} /></td>
                        <td class="nowrap" title=${r.scheduledAt}>tick ${formatTime(r.scheduledAt)}</td>
                        <td class="nowrap muted">${relativeTime(r.updatedAt)}</td>
                      </tr>`,
                    )}
                  </tbody>
                </table>`
          }
        </div>
      </div>
    </section>
  `;
}
