// One run: its graph with the path taken and every live branch, the actions a person can take
// (resume the run or one waiting branch with a JSON payload, send the event a branch waits for,
// cancel), its parent and child runs, the branches, the timeline, and the run's input, state and
// outputs. Refreshes live while the run can still change.
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { flowKey } from './flow-key.js';
import { getRun, listFlows, resumeRun, cancelRun, tickRun } from './api.js';
import { usePolling } from './hooks.js';
import { FlowGraph, GraphLegend } from './flow-graph.js';
import { liveBranches, pathFromTimeline, waitTarget } from './run-path.js';
import { BranchesTable, ChildLink, WaitTarget, runHref } from './branches.js';
import { EventResult, SendEventForm, eventWaits } from './send-event.js';
import { Timeline } from './timeline.js';
import { useTimelineData } from './timeline-data.js';
import { heldReason } from './flow-control.js';
import { JsonEditor, parseJson } from './json-editor.js';
import { CompensationBadge, ErrorNote, JsonView, StatusBadge, TERMINAL, formatTime, relativeTime, shortId } from './format.js';
import { NodeActions, RetryButton } from './rerun.js';

export function RunPage({ runId, navigate = (hash) => (location.hash = hash) }) {
  const [active, setActive] = useState(true);
  // The node picked on the graph (Fork from here, Retry from here).
  const [picked, setPicked] = useState(null);
  // The last event sent from this page: its answer stays in the header after the run moved on.
  const [eventSent, setEventSent] = useState(null);
  // The run every second; its timeline a page at a time, only what is new since the last read.
  const view = usePolling(() => getRun(runId), active ? 1000 : null, [runId]);
  const flows = usePolling(listFlows, null, []);
  const run = view.data?.run;
  const timeline = useTimelineData(runId, run?.runId === runId ? run.lastSeq : undefined);
  const actions = useActions(() => {
    setActive(true);
    view.refresh();
  });
  // Stop polling once the run can no longer change by itself; actions turn it back on.
  useEffect(() => {
    if (run && TERMINAL.has(run.status)) setActive(false);
  }, [run?.status]);
  if (!run) {
    return html`<section class="card">${view.error ? html`<${ErrorNote} error=${view.error} />` : html`<p class="muted">Loading run…</p>`}</section>`;
  }
  // The graph's path and the children's order come from the events read: all of them for a run
  // of up to 10,000 events, else the first 10,000 and the last 1,000 (how it began and how it ends).
  const events = timeline.tail.length ? timeline.head.concat(timeline.tail) : timeline.head;
  const flow = flows.data?.flows.find((f) => f.flowId === run.flowId && f.version === run.flowVersion);
  const path = pathFromTimeline(events, run);
  const branches = liveBranches(run);
  const refresh = () => {
    setActive(true);
    view.refresh();
  };
  const resume = (nodeId) => actions.act(() => resumeRun(run.runId, actions.parsed.value, nodeId));
  const waits = eventWaits(branches);
  const targeted = branches.filter((b) => waitTarget(b));
  const children = run.children ?? [];
  return html`
    <section class="card run-header">
      <div class="run-title">
        <h2><span class="flow-key">${flowKey(run.flowId, run.flowVersion)}</span> <${StatusBadge} status=${run.status} /> <${CompensationBadge} run=${run} /></h2>
        <code class="run-id" title="Run id">${run.runId}</code>
      </div>
      <dl class="facts">
        ${run.outcome && html`<div data-testid="outcome"><dt>outcome</dt><dd><a class="outcome-link" href=${`#/runs?outcome=${encodeURIComponent(run.outcome)}`} title="Show the runs with this outcome">${run.outcome}</a></dd></div>`}
        <div><dt>${branches.length > 1 ? 'current nodes' : 'current node'}</dt><dd>${branches.length > 1 ? [...new Set(branches.map((b) => b.nodeId))].join(', ') : (run.currentNodeId ?? '—')}</dd></div>
        ${branches.length > 1 && html`<div><dt>branches</dt><dd>${branches.length}</dd></div>`}
        <div><dt>created</dt><dd title=${run.createdAt}>${formatTime(run.createdAt)}</dd></div>
        <div><dt>updated</dt><dd title=${run.updatedAt}>${relativeTime(run.updatedAt)}</dd></div>
        <div><dt>attempt</dt><dd>${run.attempt}</dd></div>
        ${run.tenantId && html`<div><dt>tenant</dt><dd>${run.tenantId}</dd></div>`}
        ${run.traceUrl && html`<div data-testid="trace"><dt>trace</dt><dd><a class="trace-link" href=${run.traceUrl} target="_blank" rel="noopener noreferrer">${run.traceparent.slice(3, 11)}… ↗</a></dd></div>`}
        ${
          run.parentRunId &&
          html`<div data-testid="parent">
          <dt>parent run</dt>
          <dd><a class="parent-link" href=${runHref(run.parentRunId)} title=${run.parentRunId}><code>${shortId(run.parentRunId)}</code></a>${run.parentNodeId ? html` <span class="muted">at ${run.parentNodeId}</span>` : ''}</dd>
        </div>`
        }
        ${
          run.failureOf &&
          html`<div data-testid="failure-of">
          <dt>handles failure of</dt>
          <dd><a class="failure-link" href=${runHref(run.failureOf)} title=${run.failureOf}><code>${shortId(run.failureOf)}</code></a></dd>
        </div>`
        }
        ${
          run.failureHandlerRunId &&
          html`<div data-testid="failure-handler">
          <dt>failure handler</dt>
          <dd><a class="failure-link" href=${runHref(run.failureHandlerRunId)} title=${run.failureHandlerRunId}><code>${shortId(run.failureHandlerRunId)}</code></a></dd>
        </div>`
        }
        ${
          run.forkedFrom &&
          html`<div data-testid="forked-from">
          <dt>forked from</dt>
          <dd><a class="fork-link" href=${runHref(run.forkedFrom.runId)} title=${run.forkedFrom.runId}><code>${shortId(run.forkedFrom.runId)}</code></a> <span class="muted">at ${run.forkedFrom.nodeId}</span></dd>
        </div>`
        }
        ${children.length > 0 && html`<div><dt>children</dt><dd>${children.length}${run.childrenNextCursor ? '+' : ''}</dd></div>`}
        ${run.nextAttemptAt && html`<div><dt>${dueLabel(run, branches)}</dt><dd title=${run.nextAttemptAt}>${formatTime(run.nextAttemptAt)}</dd></div>`}
      </dl>
      ${run.waitReason && branches.filter((b) => b.status === 'WAITING').length <= 1 && html`<p class="wait-reason"><strong>Waiting:</strong> ${run.waitReason}</p>`}
      ${heldReason(run) && html`<p class="wait-reason" data-testid="held-reason"><strong>Held back:</strong> ${heldReason(run)}</p>`}
      ${
        targeted.length > 0 &&
        html`<div class="header-waits">
        ${targeted.map((b) => html`<div class="header-wait" data-node=${b.nodeId}><span class="muted">${b.nodeId}:</span> <${WaitTarget} run=${run} branch=${b} /></div>`)}
      </div>`
      }
      ${eventSent && html`<${EventResult} result=${eventSent} />`}
      ${run.hasInbox && !TERMINAL.has(run.status) && html`<${InboxNote} runId=${run.runId} onDone=${refresh} />`}
      <${ErrorNote} error=${run.error} />
      <${RetryButton} run=${run} onDone=${refresh} />
      ${view.error && html`<${ErrorNote} error=${view.error} />`}
    </section>
    ${
      waits.length > 0 &&
      !TERMINAL.has(run.status) &&
      html`<section class="card" data-testid="send-event-card">
      <h3>Send event <span class="muted small">POST /v1/events: answers every run waiting for it, this one included</span></h3>
      <${SendEventForm}
        waits=${waits}
        idPrefix="run-event"
        showResult=${false}
        onSent=${(result) => {
          setEventSent(result);
          refresh();
        }}
      />
    </section>`
    }
    ${!TERMINAL.has(run.status) && html`<${RunActions} run=${run} branches=${branches} actions=${actions} onResume=${resume} />`}
    ${children.length > 0 && html`<${ChildrenCard} run=${run} children=${children} events=${events} />`}
    ${
      branches.length > 0 &&
      html`<section class="card" data-testid="branches-card">
      <h3>Branches <span class="muted small">${liveCount(branches)} live${waitingCount(branches) ? `, ${waitingCount(branches)} waiting` : ''}</span></h3>
      <${BranchesTable}
        run=${{ ...run, branches }}
        graph=${flow?.definitionJson}
        busy=${actions.busy || !actions.parsed.ok}
        onResume=${TERMINAL.has(run.status) ? null : resume}
      />
    </section>`
    }
    <section class="card">
      <h3>Graph</h3>
      ${
        flow
          ? html`<div class="graph-scroll">
                <${FlowGraph} graph=${flow.definitionJson} run=${run} path=${path} events=${events} onSelect=${setPicked} selected=${picked} />
              </div>
              <${NodeActions} run=${run} nodeId=${picked} onRetried=${refresh} navigate=${navigate} />
              <${GraphLegend} />`
          : html`<p class="muted">${flows.loading ? 'Loading graph…' : 'This flow’s graph is not known to the server.'}</p>`
      }
    </section>
    <section class="card">
      <h3>Timeline <span class="muted small">${run.lastSeq ?? events.length} events</span></h3>
      ${timeline.error && html`<${ErrorNote} error=${timeline.error} />`}
      <${Timeline} events=${events} gap=${timeline.gap} total=${run.lastSeq ?? events.length} loading=${timeline.loading} onLoadMore=${timeline.loadMore} />
    </section>
    <div class="grid-3">
      <section class="card" data-testid="state"><h3>State</h3><${JsonView} value=${run.stateJson} /></section>
      <section class="card" data-testid="outputs"><h3>Outputs</h3><${JsonView} value=${run.outputsJson} /></section>
      <section class="card" data-testid="input"><h3>Input</h3><${JsonView} value=${run.inputJson} /></section>
    </div>
  `;
}

/** What the run's `nextAttemptAt` is: a retry, a timer, or an event wait's timeout. */
function dueLabel(run, branches) {
  if (run.status !== 'WAITING') return 'next attempt';
  const first = branches.find((b) => b.dueAt && Date.parse(b.dueAt) === Date.parse(run.nextAttemptAt));
  return first?.status === 'WAITING' && first.event ? 'event timeout' : 'timer';
}

/**
 * The run's child runs (the API's first page): link, flow, status, and the node (and map item)
 * that started each, in the order they were started (the timeline's CHILD_STARTED events).
 */
function ChildrenCard({ run, children, events }) {
  const started = new Map();
  for (const e of events) if (e.type === 'CHILD_STARTED' && typeof e.payloadJson?.childRunId === 'string') started.set(e.payloadJson.childRunId, e);
  const order = (c) => started.get(c.runId)?.seq ?? Number.MAX_SAFE_INTEGER;
  const shown = [...children].reverse().sort((a, b) => order(a) - order(b));
  return html`<section class="card" data-testid="children-card">
    <h3>Child runs <span class="muted small">${children.length}${run.childrenNextCursor ? '+' : ''}</span></h3>
    <table class="children" data-testid="children">
      <thead><tr><th>run</th><th>flow</th><th>status</th><th>started by node</th><th class="num">item</th></tr></thead>
      <tbody>
        ${shown.map(
          (c) => html`<tr key=${c.runId} data-run-id=${c.runId} data-status=${c.status}>
            <td><${ChildLink} runId=${c.runId} /></td>
            <td>${c.flowId}<span class="muted">@${c.flowVersion}</span></td>
            <td><${StatusBadge} status=${c.status} /></td>
            <td>${c.parentNodeId ?? ''}</td>
            <td class="num">${started.get(c.runId)?.itemIndex ?? ''}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${run.childrenNextCursor && html`<p class="hint"><a href=${`#/runs?parent=${encodeURIComponent(run.runId)}`}>All child runs →</a></p>`}
  </section>`;
}

/** Answers (a resume, an event, a child's end) wait in the run's inbox: a worker applies them; without one, "Apply now" ticks the run. */
function InboxNote({ runId, onDone }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  return html`<div class="inbox-note" data-testid="inbox-note">
    An answer waits in the run’s inbox: a worker applies it.
    <button
      type="button"
      class="small-button"
      disabled=${busy}
      title="Runs the run's next step here (POST …/tick): for a server without a worker"
      onClick=${async () => {
        setBusy(true);
        setError(null);
        try {
          await tickRun(runId);
          onDone();
        } catch (err) {
          setError(err);
        } finally {
          setBusy(false);
        }
      }}
    >Apply now</button>
    ${error && html`<${ErrorNote} error=${error} />`}
  </div>`;
}

const waitingCount = (branches) => branches.filter((b) => b.status === 'WAITING').length;
// A FAILED branch stays only to record where the run failed: it is not live.
const liveCount = (branches) => branches.filter((b) => b.status !== 'FAILED').length;

/** The state the run's actions share: the resume payload (used by the form and the branches' buttons), busy, the last error. */
function useActions(onDone) {
  const [payload, setPayload] = useState('{\n  "approved": true\n}');
  const [confirmCancel, setConfirmCancel] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const parsed = parseJson(payload);
  const act = async (fn) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      setConfirmCancel(false);
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { payload, setPayload, parsed, confirmCancel, setConfirmCancel, busy, error, act };
}

function RunActions({ run, branches, actions, onResume }) {
  const [reason, setReason] = useState('');
  const { payload, setPayload, parsed, confirmCancel, setConfirmCancel, busy, error, act } = actions;
  // A branch that waits for its child run is answered by the child, not by a resume.
  const waiting = branches.filter((b) => b.status === 'WAITING' && !b.child);

  return html`
    <section class="card actions">
      ${
        waiting.length > 0 &&
        html`<form
        class="resume-form"
        onSubmit=${(e) => {
          e.preventDefault();
          // One waiting branch: the form resumes it. Several: each has its own button below.
          if (parsed.ok && waiting.length <= 1) onResume(waiting[0]?.nodeId);
        }}
      >
        <h3>Resume</h3>
        ${
          waiting.every((b) => b.event) &&
          html`<p class="hint resume-event">A resume answers the event wait for this run only, as if the event came (or send the event above).</p>`
        }
        <${JsonEditor}
          id="resume-payload"
          label="Payload (lands at ctx.state._resumePayload)"
          text=${payload}
          onInput=${setPayload}
          rows=${5}
        />
        ${
          waiting.length > 1
            ? html`<p class="hint resume-several">
              ${waiting.length} branches wait (${waiting.map((b) => b.nodeId).join(', ')}): each is resumed on its own, with this payload, from
              its <strong>Resume</strong> button in the Branches list below.
            </p>`
            : html`<button type="submit" class="primary" disabled=${busy || !parsed.ok}>Resume run</button>`
        }
      </form>`
      }
      <div class="cancel-box">
        <h3>Cancel</h3>
        <div class="field">
          <label for="cancel-reason">Reason (optional)</label>
          <input id="cancel-reason" value=${reason} onInput=${(e) => setReason(e.currentTarget.value)} placeholder="e.g. duplicate order" />
        </div>
        ${
          confirmCancel
            ? html`<button type="button" class="danger" disabled=${busy} onClick=${() => act(() => cancelRun(run.runId, reason.trim()))}>Confirm cancel</button>
              <button type="button" onClick=${() => setConfirmCancel(false)}>Keep running</button>`
            : html`<button type="button" class="danger-outline" onClick=${() => setConfirmCancel(true)}>Cancel run…</button>`
        }
      </div>
      ${error && html`<${ErrorNote} error=${error} />`}
    </section>
  `;
}
