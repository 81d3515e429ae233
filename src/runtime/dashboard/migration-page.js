// A migration plan for two versions of a flow (#/flows/<flowId>/migrate?from=&to=): which of the
// unfinished runs of `from` would move to `to` and why the others would not (POST …/migrate with
// dryRun: nothing is written), then the migration itself on request.
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { flowKey } from './flow-key.js';
import { listFlows, migrateRuns } from './api.js';
import { usePolling } from './hooks.js';
import { ErrorNote } from './format.js';
import { ChildLink } from './branches.js';
import { FlowGraph } from './flow-graph.js';

export function MigrationPlanPage({ flowId, query, navigate }) {
  const flows = usePolling(listFlows, null, []);
  const versions = (flows.data?.flows ?? []).filter((f) => f.flowId === flowId);
  const [from, setFrom] = useState(query.get('from') ?? '');
  const [to, setTo] = useState(query.get('to') ?? '');
  const [plan, setPlan] = useState(null);
  const [done, setDone] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  const run = async (dryRun) => {
    setBusy(true);
    setError(null);
    try {
      const result = await migrateRuns(flowId, { fromVersion: from, toVersion: to, dryRun });
      if (dryRun) setPlan(result);
      else {
        setDone(result);
        setPlan(null);
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  // The plan of the versions in the URL, as soon as they are known.
  useEffect(() => {
    if (from && to && from !== to) void run(true);
  }, [from, to]);
  const choose = (f, t) => {
    setFrom(f);
    setTo(t);
    setDone(null);
    navigate(`#/flows/${encodeURIComponent(flowId)}/migrate?${new URLSearchParams({ from: f, to: t })}`);
  };

  const select = (id, label, value, onChange, only) => html`<div class="field">
    <label for=${id}>${label}</label>
    <select id=${id} value=${value} onChange=${(e) => onChange(e.currentTarget.value)}>
      <option value="">—</option>
      ${versions
        .filter(only)
        .map((f) => html`<option value=${f.version}>${f.version} (${f.unfinishedRuns} unfinished${f.registered ? '' : ', not served here'})</option>`)}
    </select>
  </div>`;

  const shown = done ?? plan;
  const fromFlow = versions.find((f) => f.version === from);
  const toFlow = versions.find((f) => f.version === to);
  return html`<section class="card migration-plan" data-testid="migration-plan">
    <h2>Migrate runs of <span class="flow-key">${flowId}</span></h2>
    <p class="muted small">Runs move when every place they are at exists in the new version and means the same there; the others stay, untouched, with why.</p>
    <div class="migration-versions">
      ${select(
        'migrate-from',
        'From version',
        from,
        (v) => choose(v, to),
        () => true,
      )}
      ${select(
        'migrate-to',
        'To version (served here)',
        to,
        (v) => choose(from, v),
        (f) => f.registered,
      )}
    </div>
    ${fromFlow && toFlow && html`<${GraphsCompared} from=${fromFlow} to=${toFlow} />`}
    ${error && html`<${ErrorNote} error=${error} />`}
    ${
      shown &&
      html`<p data-testid="migration-summary">
        ${`${done ? 'Migrated' : 'Would migrate'} ${shown.migrated.length} run${shown.migrated.length === 1 ? '' : 's'} of ${flowKey(flowId, from)} to ${to}; ${shown.blocked.length} blocked.`}
      </p>
      <table data-testid="migration-runs">
        <thead><tr><th>run</th><th>result</th><th>why</th></tr></thead>
        <tbody>
          ${shown.migrated.map((runId) => html`<tr key=${runId} data-run-id=${runId} data-result="moved"><td><${ChildLink} runId=${runId} /></td><td>${done ? 'moved' : 'would move'}</td><td></td></tr>`)}
          ${shown.blocked.map((b) => html`<tr key=${b.runId} data-run-id=${b.runId} data-result="blocked"><td><${ChildLink} runId=${b.runId} /></td><td>blocked</td><td class="reason">${b.reason}</td></tr>`)}
        </tbody>
      </table>`
    }
    ${
      plan &&
      !done &&
      html`<button type="button" class="primary" data-testid="migrate-now" disabled=${busy || plan.migrated.length === 0} onClick=${() => run(false)}>
        Migrate ${plan.migrated.length} run${plan.migrated.length === 1 ? '' : 's'}
      </button>`
    }
  </section>`;
}

/** The two versions' graphs side by side, with the nodes only one of them has: where runs can be blocked (or need a nodeMap). */
function GraphsCompared({ from, to }) {
  const ids = (f) => new Set(f.definitionJson.nodes.map((n) => n.id));
  const [a, b] = [ids(from), ids(to)];
  const onlyFrom = [...a].filter((id) => !b.has(id));
  const onlyTo = [...b].filter((id) => !a.has(id));
  return html`<div class="grid-2 graphs-compared" data-testid="graphs-compared">
    <div>
      <h3>${flowKey(from.flowId, from.version)}</h3>
      <div class="graph-scroll"><${FlowGraph} graph=${from.definitionJson} /></div>
      ${onlyFrom.length > 0 && html`<p class="small" data-testid="only-from">Not in ${to.version}: ${onlyFrom.join(', ')} (runs there are blocked unless mapped)</p>`}
    </div>
    <div>
      <h3>${flowKey(to.flowId, to.version)}</h3>
      <div class="graph-scroll"><${FlowGraph} graph=${to.definitionJson} /></div>
      ${onlyTo.length > 0 && html`<p class="small" data-testid="only-to">New in ${to.version}: ${onlyTo.join(', ')}</p>`}
    </div>
  </div>`;
}
