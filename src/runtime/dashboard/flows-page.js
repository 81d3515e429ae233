// The flows the server knows, each with its graph and a form to start a run of it.
import { useState } from 'preact/hooks';
import { html } from './html.js';
import { flowKey } from './flow-key.js';
import { listFlows, startRun } from './api.js';
import { usePolling } from './hooks.js';
import { FlowGraph } from './flow-graph.js';
import { JsonEditor, parseJson } from './json-editor.js';
import { ErrorNote, relativeTime } from './format.js';
import { limitsLine } from './flow-control.js';

export function FlowsPage({ navigate }) {
  const flows = usePolling(listFlows, null, []);
  if (flows.error) return html`<section class="card"><${ErrorNote} error=${flows.error} /></section>`;
  if (!flows.data) return html`<section class="card"><p class="muted">Loading flows…</p></section>`;
  if (flows.data.flows.length === 0) return html`<section class="card"><p class="muted">No flows are registered.</p></section>`;
  return html`<div class="flows">
    <${StrandedBanner} flows=${flows.data.flows} />
    ${flows.data.flows.map((f) => html`<${FlowCard} key=${flowKey(f.flowId, f.version)} flow=${f} flows=${flows.data.flows} navigate=${navigate} />`)}
  </div>`;
}

/**
 * Runs due for a version no process serves (left behind by a deploy): a banner naming each such
 * version, with a link to plan their migration to a version this server registers.
 */
function StrandedBanner({ flows }) {
  const stranded = flows.filter((f) => f.strandedRuns > 0);
  if (stranded.length === 0) return null;
  return html`<section class="card stranded-banner" data-testid="stranded-banner" role="alert">
    <h3>Stranded runs</h3>
    ${stranded.map((f) => {
      const target = newestRegistered(flows, f.flowId);
      return html`<p data-flow=${flowKey(f.flowId, f.version)}>
        ${`${f.strandedRuns} due run${f.strandedRuns === 1 ? '' : 's'} of ${flowKey(f.flowId, f.version)}, a version no process serves.`}
        ${
          target
            ? html`<a href=${migrateHref(f.flowId, f.version, target.version)}>Plan a migration to ${target.version} →</a>`
            : html`<span class="muted">Serve the version again, or register a newer one to migrate them to.</span>`
        }
      </p>`;
    })}
  </section>`;
}

/** The version of `flowId` registered here that sorts last (numeric-aware): where a migration most likely goes. */
function newestRegistered(flows, flowId) {
  const mine = flows.filter((f) => f.flowId === flowId && f.registered);
  return mine.sort((a, b) => a.version.localeCompare(b.version, undefined, { numeric: true })).at(-1) ?? null;
}

const migrateHref = (flowId, from, to) => `#/flows/${encodeURIComponent(flowId)}/migrate?${new URLSearchParams({ from, to })}`;

function FlowCard({ flow, navigate, flows }) {
  const key = flowKey(flow.flowId, flow.version);
  const [input, setInput] = useState('{}');
  const [tenantId, setTenantId] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const parsed = parseJson(input);
  const domId = key.replace(/[^\w-]/g, '_');

  const submit = async (e) => {
    e.preventDefault();
    if (!parsed.ok) return;
    setBusy(true);
    setError(null);
    try {
      const body = { flowId: flow.flowId, version: flow.version, input: parsed.value };
      if (tenantId.trim()) body.tenantId = tenantId.trim();
      const { runId } = await startRun(body);
      navigate(`#/runs/${encodeURIComponent(runId)}`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return html`
    <section class="card flow-card" data-flow=${key}>
      <div class="flow-card-head">
        <h2 class="flow-key">${key}</h2>
        <span class="muted small">${flow.definitionJson.nodes.length} nodes · registered ${relativeTime(flow.createdAt)}</span>
        ${!flow.registered && html`<span class="badge status-failed" title="No process serving this API can execute it">not executable here</span>`}
        <span class="small" data-testid="unfinished-runs">${flow.unfinishedRuns} unfinished${flow.strandedRuns > 0 ? html` · <strong>${flow.strandedRuns} stranded</strong>` : ''}</span>
        ${
          flow.unfinishedRuns > 0 &&
          newestRegistered(flows, flow.flowId) &&
          newestRegistered(flows, flow.flowId).version !== flow.version &&
          html`<a class="small" data-testid="plan-migration" href=${migrateHref(flow.flowId, flow.version, newestRegistered(flows, flow.flowId).version)}>plan a migration →</a>`
        }
        ${flow.flowControl && html`<span class="muted small" data-testid="flow-limits">${limitsLine(flow.flowControl)}</span>`}
        <a class="small" href=${`#/runs?flow=${encodeURIComponent(key)}`}>runs →</a>
      </div>
      <div class="flow-card-body">
        <div class="graph-scroll"><${FlowGraph} graph=${flow.definitionJson} compact=${false} /></div>
        <form class="start-form" onSubmit=${submit}>
          <h3>Start a run</h3>
          <${JsonEditor} id=${`input-${domId}`} label="Input (JSON)" text=${input} onInput=${setInput} rows=${5} />
          <div class="field">
            <label for=${`tenant-${domId}`}>Tenant (optional)</label>
            <input id=${`tenant-${domId}`} value=${tenantId} onInput=${(e) => setTenantId(e.currentTarget.value)} />
          </div>
          <button type="submit" class="primary" disabled=${busy || !parsed.ok || !flow.registered}>Start run</button>
          ${error && html`<${ErrorNote} error=${error} />`}
        </form>
      </div>
    </section>
  `;
}
