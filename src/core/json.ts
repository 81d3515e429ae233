/**
 * The one serializer every value passes through on its way to storage (input, state, outputs,
 * resume payloads, idempotent results). It accepts plain JSON only and refuses, with the path of
 * the offending value, anything JSON would silently change or that Postgres jsonb cannot hold:
 * BigInt, functions, symbols, undefined inside arrays or objects, NaN/±Infinity, Date, Map, Set,
 * class instances, cycles, and strings containing U+0000 or a lone UTF-16 surrogate half (both
 * refused by jsonb; JSON.stringify would happily write them). A Date could be accepted as an ISO
 * string, but then `state.at instanceof Date` would be true in memory and false after a reload,
 * which is exactly the surprise a durable engine must not have.
 */
import { SerializationError } from '../errors.js';

/** A JSON document produced by `serializeJson` below: the only text a store accepts as a value. */
export type JsonText = string & { readonly __json: true };

/** Default upper bound of one serialized value (1 MiB). */
export const DEFAULT_MAX_JSON_BYTES = 1024 * 1024;

export interface SerializeOptions {
  /** What the value is, for messages: 'state', 'output', 'resume payload' … */
  what: string;
  nodeId?: string;
  maxBytes?: number;
}

const MAX_DEPTH = 512;

/** Cheap pre-check: only text with U+0000 or a surrogate code unit needs the exact test below. */
const SUSPECT_TEXT = /[\u0000\uD800-\uDFFF]/;
/** U+0000, or a surrogate half without its partner (a valid pair is fine). */
const UNSTORABLE_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Why `text` cannot be stored by Postgres (null when it can): jsonb refuses U+0000 and lone
 * surrogates, a text column refuses U+0000 and silently turns a lone surrogate into U+FFFD —
 * so memory and Postgres would disagree unless every store refuses them alike.
 */
export function unstorableTextReason(text: string): string | null {
  if (!SUSPECT_TEXT.test(text)) return null;
  UNSTORABLE_TEXT.lastIndex = 0;
  const found = UNSTORABLE_TEXT.exec(text);
  if (!found) return null;
  if (found[0] === '\u0000') return 'contains U+0000, which Postgres cannot store';
  const unit = found[0].charCodeAt(0).toString(16).toUpperCase();
  return `contains a lone UTF-16 surrogate (U+${unit}), which is not valid Unicode and which Postgres cannot store`;
}

/** Diagnostic text (error messages) made storable: each offending code unit becomes U+FFFD. */
export function toStorableText(text: string): string {
  return SUSPECT_TEXT.test(text) ? text.replace(UNSTORABLE_TEXT, '\uFFFD') : text;
}

export function serializeJson(value: unknown, options: SerializeOptions): JsonText {
  checkJsonValue(value, options.what, options, new Set(), 0);
  return checkJsonSize(JSON.stringify(value), options);
}

/** Enforces the size limit on JSON text already known to be valid (e.g. state after a checked patch). */
export function checkJsonSize(text: string, options: SerializeOptions): JsonText {
  const max = options.maxBytes ?? DEFAULT_MAX_JSON_BYTES;
  // Byte length, not string length: the limit protects the database row. UTF-8 is at most 3 bytes per UTF-16 unit.
  const bytes = text.length * 3 > max ? Buffer.byteLength(text, 'utf8') : text.length;
  if (bytes > max) {
    throw new SerializationError(`${options.what} is ${bytes} bytes of JSON, over the limit of ${max} bytes`, options.what, options.nodeId);
  }
  return text as JsonText;
}

function fail(message: string, path: string, options: SerializeOptions): never {
  throw new SerializationError(`${message} at ${path}`, path, options.nodeId);
}

function checkJsonValue(value: unknown, path: string, options: SerializeOptions, ancestors: Set<object>, depth: number): void {
  switch (typeof value) {
    case 'string': {
      const problem = unstorableTextReason(value);
      if (problem) fail(`string ${problem}`, path, options);
      return;
    }
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(`${value} is not representable in JSON`, path, options);
      return;
    case 'bigint':
      fail('BigInt is not representable in JSON (store it as a string)', path, options);
    // eslint-disable-next-line no-fallthrough
    case 'function':
      fail('a function cannot be stored', path, options);
    // eslint-disable-next-line no-fallthrough
    case 'symbol':
      fail('a symbol cannot be stored', path, options);
    // eslint-disable-next-line no-fallthrough
    case 'undefined':
      fail('undefined is not representable in JSON (omit the key or use null)', path, options);
  }
  if (value === null) return;
  const obj = value as object;
  if (depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH} levels`, path, options);
  if (ancestors.has(obj)) fail('circular reference', path, options);
  ancestors.add(obj);
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) {
      if (!(i in obj)) fail('sparse array hole (becomes null in JSON)', `${path}[${i}]`, options);
      checkJsonValue(obj[i], `${path}[${i}]`, options, ancestors, depth + 1);
    }
  } else {
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      const kind = (obj as { constructor?: { name?: string } }).constructor?.name || 'object with a prototype';
      const hint = obj instanceof Date ? ' (store date.toISOString())' : obj instanceof Map ? ' (store Object.fromEntries(map))' : '';
      fail(`${kind} is not plain JSON${hint}`, path, options);
    }
    if (Object.getOwnPropertySymbols(obj).length > 0) fail('symbol-keyed property cannot be stored', path, options);
    for (const key of Object.keys(obj)) {
      const keyProblem = unstorableTextReason(key);
      if (keyProblem) fail(`key ${keyProblem}`, path, options);
      checkJsonValue((obj as Record<string, unknown>)[key], `${path}.${key}`, options, ancestors, depth + 1);
    }
  }
  ancestors.delete(obj);
}
