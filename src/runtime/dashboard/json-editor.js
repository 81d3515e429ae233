// A JSON text area that checks its text as you type: the submit button of its form stays
// disabled until the text parses, and the parse error says where the problem is.
import { html } from './html.js';

/** { ok: true, value } or { ok: false, error }. Empty text counts as invalid unless `allowEmpty`. */
export function parseJson(text, allowEmpty = false) {
  if (text.trim() === '') return allowEmpty ? { ok: true, value: undefined } : { ok: false, error: 'Enter a JSON value' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: err.message };
  }
}

export function JsonEditor({ id, label, text, onInput, rows = 6, allowEmpty = false, hint }) {
  const parsed = parseJson(text, allowEmpty);
  return html`
    <div class="field">
      <label for=${id}>${label}</label>
      <textarea
        id=${id}
        class=${parsed.ok ? 'json-input' : 'json-input invalid'}
        rows=${rows}
        spellcheck="false"
        aria-invalid=${parsed.ok ? 'false' : 'true'}
        value=${text}
        onInput=${(e) => onInput(e.currentTarget.value)}
      ></textarea>
      ${parsed.ok ? hint && html`<div class="hint">${hint}</div>` : html`<div class="hint invalid" role="status">Invalid JSON: ${parsed.error}</div>`}
    </div>
  `;
}
