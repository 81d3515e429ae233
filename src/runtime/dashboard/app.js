// The dashboard shell: a hash router (#/runs, #/runs/<id>, #/flows, #/schedules), the header with the
// server's health, and the token prompt shown when the API answers 401.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { getHealth, getToken, setToken } from './api.js';
import { usePolling } from './hooks.js';
import { RunsPage } from './runs-page.js';
import { RunPage } from './run-page.js';
import { FlowsPage } from './flows-page.js';
import { SchedulesPage } from './schedules-page.js';
import { MigrationPlanPage } from './migration-page.js';
import { WorkersPage } from './workers-page.js';

function parseRoute(hash) {
  const [path, search = ''] = hash.replace(/^#/, '').split('?');
  const query = new URLSearchParams(search);
  const parts = path.split('/').filter(Boolean);
  if (parts[0] === 'runs' && parts[1]) return { page: 'run', runId: decodeURIComponent(parts[1]), query };
  if (parts[0] === 'flows' && parts[1] && parts[2] === 'migrate') return { page: 'migrate', flowId: decodeURIComponent(parts[1]), query };
  if (parts[0] === 'flows') return { page: 'flows', query };
  if (parts[0] === 'schedules') return { page: 'schedules', query };
  if (parts[0] === 'workers') return { page: 'workers', query };
  return { page: 'runs', query };
}

function useHashRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const onChange = () => setHash(location.hash);
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return parseRoute(hash);
}

const navigate = (hash) => {
  location.hash = hash;
};

function HealthBadge() {
  const health = usePolling(getHealth, 10_000, []);
  if (health.error) return html`<span class="health down" title=${health.error.message}>server unreachable</span>`;
  const h = health.data;
  if (!h) return null;
  return html`<span class="health" title="Storage and worker of this server">
    ${h.storage.kind}${h.storage.durable ? '' : ' (not durable)'}${h.storage.status === 'busy' ? ' (busy)' : ''} · worker ${h.worker.status}
  </span>`;
}

function TokenPrompt({ onSaved }) {
  const [value, setValue] = useState(getToken());
  return html`<div class="token-overlay" role="dialog" aria-modal="true" aria-labelledby="token-title">
    <form
      class="card token-card"
      onSubmit=${(e) => {
        e.preventDefault();
        setToken(value.trim());
        onSaved();
      }}
    >
      <h2 id="token-title">API token required</h2>
      <p class="muted">This server needs the token it was started with (FLOW_API_TOKEN). It is kept in this browser only.</p>
      <input id="api-token" type="password" autocomplete="off" value=${value} onInput=${(e) => setValue(e.currentTarget.value)} />
      <button type="submit" class="primary">Save token</button>
    </form>
  </div>`;
}

function App() {
  const route = useHashRoute();
  const [needToken, setNeedToken] = useState(false);
  const [epoch, setEpoch] = useState(0);
  useEffect(() => {
    const onUnauthorized = () => setNeedToken(true);
    window.addEventListener('flow:unauthorized', onUnauthorized);
    return () => window.removeEventListener('flow:unauthorized', onUnauthorized);
  }, []);

  let page;
  if (route.page === 'run') page = html`<${RunPage} key=${`${route.runId}:${epoch}`} runId=${route.runId} />`;
  else if (route.page === 'schedules') page = html`<${SchedulesPage} key=${epoch} />`;
  else if (route.page === 'migrate')
    page = html`<${MigrationPlanPage} key=${`${route.flowId}:${epoch}`} flowId=${route.flowId} query=${route.query} navigate=${navigate} />`;
  else if (route.page === 'workers') page = html`<${WorkersPage} key=${epoch} />`;
  else if (route.page === 'flows') page = html`<${FlowsPage} key=${epoch} navigate=${navigate} />`;
  else page = html`<${RunsPage} key=${epoch} query=${route.query} navigate=${navigate} />`;

  return html`
    <header class="topbar">
      <a class="brand" href="#/runs"><span class="logo">◆</span> hazel-flow</a>
      <nav>
        <a class=${route.page === 'runs' || route.page === 'run' ? 'active' : ''} href="#/runs">Runs</a>
        <a class=${route.page === 'flows' ? 'active' : ''} href="#/flows">Flows</a>
        <a class=${route.page === 'schedules' ? 'active' : ''} href="#/schedules">Schedules</a>
        <a class=${route.page === 'workers' ? 'active' : ''} href="#/workers">Workers</a>
      </nav>
      <span class="spacer"></span>
      <${HealthBadge} />
    </header>
    <main>${page}</main>
    ${
      needToken &&
      html`<${TokenPrompt}
      onSaved=${() => {
        setNeedToken(false);
        setEpoch(epoch + 1);
      }}
    />`
    }
  `;
}

const root = document.getElementById('app');
// Replace the static "Loading…" placeholder (Preact's render would keep it beside the app).
root.textContent = '';
render(html`<${App} />`, root);
