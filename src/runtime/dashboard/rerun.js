// Re-running a run from the dashboard: Retry (a FAILED or CANCELLED run back to RUNNING, from the
// node(s) it stopped at, or from a node picked on the graph) and Fork from here (a new run from a
// node picked on the graph; the source is untouched), through POST /v1/runs/:id/retry and /fork.
import { useState } from 'preact/hooks';
import { html } from './html.js';
import { forkRun, retryRun } from './api.js';
import { ErrorNote } from './format.js';

export const RETRYABLE = new Set(['FAILED', 'CANCELLED']);

function useCall(onDone) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const call = async (fn) => {
    setBusy(true);
    setError(null);
    try {
      onDone(await fn());
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, call };
}

/** The header's Retry button of a FAILED or CANCELLED run. */
export function RetryButton({ run, onDone }) {
  const { busy, error, call } = useCall(onDone);
  if (!RETRYABLE.has(run.status)) return null;
  return html`<div class="retry-box">
    <button
      type="button"
      class="primary"
      data-testid="retry"
      disabled=${busy}
      title="Back to RUNNING from where it stopped: finished nodes are not run again (POST …/retry)"
      onClick=${() => call(() => retryRun(run.runId))}
    >Retry</button>
    ${error && html`<${ErrorNote} error=${error} />`}
  </div>`;
}

/** Under the graph: what can be done from the node picked on it. `navigate` goes to the fork. */
export function NodeActions({ run, nodeId, onRetried, navigate }) {
  const { busy, error, call } = useCall(() => undefined);
  if (!nodeId)
    return html`<p class="hint" data-testid="node-actions-hint">Click a node of the graph to fork the run from it${RETRYABLE.has(run.status) ? ' or retry from it' : ''}.</p>`;
  return html`<div class="node-actions" data-testid="node-actions" data-node=${nodeId}>
    <strong>${nodeId}</strong>
    <button
      type="button"
      data-testid="fork-from-here"
      disabled=${busy}
      title="A new run from this node, with the outputs this run had when it first started it (POST …/fork)"
      onClick=${() =>
        call(async () => {
          const { runId } = await forkRun(run.runId, { fromNodeId: nodeId });
          navigate(`#/runs/${encodeURIComponent(runId)}`);
        })}
    >Fork from here</button>
    ${
      RETRYABLE.has(run.status) &&
      html`<button
        type="button"
        data-testid="retry-from-here"
        disabled=${busy}
        onClick=${() =>
          call(async () => {
            await retryRun(run.runId, { fromNodeId: nodeId });
            onRetried();
          })}
      >Retry from here</button>`
    }
    ${error && html`<${ErrorNote} error=${error} />`}
  </div>`;
}
