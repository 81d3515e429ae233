/**
 * The reference model the property tests judge the engine by: which values a durable store can
 * hold, what they read back as, and how a patch merges. Written from the spec (docs/concepts.md,
 * Run lifecycle, "Values are JSON"), not from src/core/json.ts, so that a bug there shows up as a
 * disagreement instead of being copied into the oracle.
 */

/** The serializer's nesting limit (documented as 512 levels below the root). */
export const MAX_DEPTH = 512;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Text Postgres can store: no U+0000 (refused by text and jsonb), no lone surrogate (refused by jsonb). */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && !LONE_SURROGATE.test(text);
}

/** Each unstorable code unit replaced by U+FFFD: how the engine records handler-made error text. */
export function storableText(text: string): string {
  return text.replace(/\u0000/g, '\uFFFD').replace(new RegExp(LONE_SURROGATE.source, 'g'), '\uFFFD');
}

export function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * True when `value` is plain JSON that survives a round trip unchanged: null, booleans, finite
 * numbers, storable strings, dense arrays and plain objects of those, no cycles, at most
 * MAX_DEPTH levels. (-0 counts: it reads back as 0, which is what JSON means by it.)
 */
export function isStorable(value: unknown, depth = 0, ancestors: Set<object> = new Set()): boolean {
  switch (typeof value) {
    case 'string':
      return isStorableText(value);
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      break;
    default:
      return false; // undefined, bigint, function, symbol
  }
  if (value === null) return true;
  if (depth > MAX_DEPTH || ancestors.has(value)) return false;
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        if (!(i in value) || !isStorable(value[i], depth + 1, ancestors)) return false;
      }
      return true;
    }
    if (!isPlainRecord(value) || Object.getOwnPropertySymbols(value).length > 0) return false;
    return Object.keys(value).every((k) => isStorableText(k) && isStorable(value[k], depth + 1, ancestors));
  } finally {
    ancestors.delete(value);
  }
}

/** What any store gives back for a storable value. */
export function roundTrip<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** UTF-8 bytes of the value's JSON text (what the size limit counts). */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/** Own-key-safe copy-and-set (so "__proto__" is a key like any other). */
export function withKey<T>(record: Record<string, T>, key: string, value: T): Record<string, T> {
  const out = { ...record };
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

export function withoutKey<T>(record: Record<string, T>, key: string): Record<string, T> {
  const out = { ...record };
  delete out[key];
  return out;
}

/** DESIGN §2: a patch deep-merges into state; plain objects merge key by key, anything else replaces. */
export function mergePatch(state: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  let out = { ...state };
  for (const key of Object.keys(patch)) {
    const current = Object.hasOwn(out, key) ? out[key] : undefined;
    const next = patch[key];
    out = withKey(out, key, isPlainRecord(current) && isPlainRecord(next) ? mergePatch(current, next) : next);
  }
  return out;
}
