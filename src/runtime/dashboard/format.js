// Small display helpers shared by the pages.
import { html } from './html.js';

export const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
export const STATUSES = ['RUNNING', 'WAITING', 'COMPLETED', 'FAILED', 'CANCELLED'];

export function shortId(id) {
  return id.length > 13 ? `${id.slice(0, 8)}…` : id;
}

export function formatTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  const time = d.toLocaleTimeString(undefined, { hour12: false });
  return today ? time : `${d.toLocaleDateString()} ${time}`;
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined) return '';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function relativeTime(iso) {
  if (!iso) return '';
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

export function StatusBadge({ status }) {
  return html`<span class=${`badge status-${status.toLowerCase()}`} data-status=${status}>${status}</span>`;
}

/**
 * How a run's compensation went: "compensated" / "compensation failed" once it ended by undoing
 * what it did, "compensating" while it does (a RUNNING run with an error is undoing its work).
 */
export function CompensationBadge({ run }) {
  // Only a run undoing its work is RUNNING with an error (the failure or cancel it will end with).
  const undoing = run.status === 'RUNNING' && run.error;
  if (run.compensated === true) return html`<span class="badge compensated" data-compensated="true" title="every compensation succeeded">compensated</span>`;
  if (run.compensated === false)
    return html`<span class="badge compensation-failed" data-compensated="false" title="a compensation failed for good">compensation failed</span>`;
  if (undoing) {
    const left = run.compensation?.phase?.steps?.length;
    return html`<span class="badge compensating" data-compensated="running">compensating${left ? ` (${left} left)` : ''}</span>`;
  }
  return null;
}

export function JsonView({ value }) {
  return html`<pre class="json">${JSON.stringify(value, null, 2)}</pre>`;
}

export function ErrorNote({ error }) {
  if (!error) return null;
  return html`<div class="error-note" role="alert"><strong>${error.code ?? 'ERROR'}</strong> ${error.message}</div>`;
}
