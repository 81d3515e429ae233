// The "Send event" form: a name, an optional key and a JSON payload, sent with POST /v1/events.
// Every run branch waiting for that name (and key) gets it once; the answer says how many did.
// On a run page it is pre-filled with the event the run waits for; on the runs page it is blank.
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { sendEvent } from './api.js';
import { JsonEditor, parseJson } from './json-editor.js';
import { ErrorNote } from './format.js';

// What a wait and `sendEvent` accept (the server says why anything else is refused).
const NAME_PATTERN = /^[A-Za-z0-9_.:/-]{1,200}$/;

/**
 * `waits`: the event waits to offer ([{ branchId, nodeId, name, key }], the first pre-filled);
 * `idPrefix` keeps element ids unique when the form appears twice; `onSent(result)` after a send.
 */
export function SendEventForm({ waits = [], idPrefix = 'event', onSent, compact = false, showResult = true }) {
  const first = waits[0];
  const [name, setName] = useState(first?.name ?? '');
  const [key, setKey] = useState(first?.key ?? '');
  const [payload, setPayload] = useState('{\n  "amount": 100\n}');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [result, setResult] = useState(null);
  const parsed = parseJson(payload, true);
  // A run that moves on to another event wait: offer that one.
  const signature = first ? `${first.branchId}|${first.name}|${first.key ?? ''}` : '';
  useEffect(() => {
    if (first) {
      setName(first.name);
      setKey(first.key ?? '');
    }
  }, [signature]);
  const nameOk = NAME_PATTERN.test(name.trim());

  const fill = (index) => {
    const w = waits[Number(index)];
    if (!w) return;
    setName(w.name);
    setKey(w.key ?? '');
  };
  const submit = async (e) => {
    e.preventDefault();
    if (!parsed.ok || !nameOk) return;
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const sent = await sendEvent(name.trim(), key, parsed.value);
      const shown = { ...sent, name: name.trim(), key };
      setResult(shown);
      onSent?.(shown);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return html`<form class=${`send-event-form${compact ? ' compact' : ''}`} data-testid="send-event" onSubmit=${submit}>
    ${
      waits.length > 1 &&
      html`<div class="field">
      <label for=${`${idPrefix}-wait`}>Fill in from a wait</label>
      <select id=${`${idPrefix}-wait`} onChange=${(e) => fill(e.currentTarget.value)}>
        ${waits.map((w, i) => html`<option value=${i}>${w.nodeId} (${w.branchId}): ${w.name}${w.key ? ` · ${w.key}` : ''}</option>`)}
      </select>
    </div>`
    }
    <div class="event-fields">
      <div class="field">
        <label for=${`${idPrefix}-name`}>Name</label>
        <input id=${`${idPrefix}-name`} value=${name} onInput=${(e) => setName(e.currentTarget.value)} placeholder="e.g. payment.received" spellcheck="false" />
      </div>
      <div class="field">
        <label for=${`${idPrefix}-key`}>Key (optional)</label>
        <input id=${`${idPrefix}-key`} value=${key} onInput=${(e) => setKey(e.currentTarget.value)} placeholder="e.g. an order id" spellcheck="false" />
      </div>
    </div>
    ${name.trim() !== '' && !nameOk && html`<div class="hint invalid">A name is 1 to 200 letters, digits and _ . : / -</div>`}
    <${JsonEditor}
      id=${`${idPrefix}-payload`}
      label="Payload (JSON; lands at ctx.state._resumePayload; empty = null)"
      text=${payload}
      onInput=${setPayload}
      rows=${compact ? 3 : 4}
      allowEmpty=${true}
    />
    <button type="submit" class="primary" disabled=${busy || !parsed.ok || !nameOk}>Send event</button>
    ${result && showResult && html`<${EventResult} result=${result} />`}
    ${error && html`<${ErrorNote} error=${error} />`}
  </form>`;
}

/** The event waits of a run's live branches, for the form. */
export function eventWaits(branches) {
  return branches
    .filter((b) => b.status === 'WAITING' && b.event)
    .map((b) => ({ branchId: b.branchId, nodeId: b.nodeId, name: b.event.name, key: b.event.key }));
}

/** What a send did: "Sent payment.received (key o-7): delivered to 1 waiting branch." */
export function EventResult({ result }) {
  return html`<p class="hint event-result" data-testid="event-result" data-delivered=${result.delivered} title=${`event id ${result.eventId}`}>
    Sent <strong>${result.name}</strong>${result.key ? ` (key ${result.key})` : ''}: delivered to ${result.delivered} waiting branch${result.delivered === 1 ? '' : 'es'}.${' '}
    ${result.delivered > 0 ? 'Each run moves on when a worker (or a tick) applies it.' : 'Runs created before it that reach a wait for it later still get it.'}
  </p>`;
}
