/**
 * fast-check arbitraries for hostile values: everything a handler or caller might hand the
 * engine that JSON cannot hold faithfully (BigInt, Date, Map, Set, undefined, NaN, ±Infinity,
 * functions, symbols, class instances, cycles, sparse arrays), text Postgres refuses (U+0000,
 * lone surrogates), keys that are traps for naive object code ('__proto__', 'constructor'),
 * deep nesting and huge strings — mixed in among ordinary JSON so that most cases are valid.
 */
import fc from 'fast-check';

/** The size limit the property tests give their engines, so "huge" stays cheap. */
export const TEST_MAX_JSON_BYTES = 4096;

/** Strings that break naive code, each on its own or spliced into ordinary text. */
const NASTY_TEXT = [
  '\u0000',
  'a\u0000b',
  '\uD800',
  'x\uDC00',
  '\uDBFF\uD800',
  '\uD83D\uDE00',
  '\u2028\u2029',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '',
  ' ',
  '"\'\\',
  '\u00e9\u0301',
  '\uFEFF',
  '%s%n',
  'null',
];

/** Ordinary text of any code point (no lone surrogates), with a nasty fragment spliced in now and then. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 4, arbitrary: fc.tuple(fc.string({ maxLength: 4 }), fc.constantFrom(...NASTY_TEXT), fc.string({ maxLength: 4 })).map((p) => p.join('')) },
  // Around and far beyond the size limit (2 MiB), without generating them character by character.
  { weight: 1, arbitrary: fc.constantFrom(1000, TEST_MAX_JSON_BYTES - 10, TEST_MAX_JSON_BYTES + 10, 2 * 1024 * 1024).map((n) => 'h'.repeat(n)) },
  // Multi-byte text: short in UTF-16 code units, over the limit in UTF-8 bytes.
  { weight: 1, arbitrary: fc.constant('\u20AC'.repeat(Math.ceil(TEST_MAX_JSON_BYTES / 3) + 5)) },
);

export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('a', 'b', 'n', '__proto__', 'constructor', 'toString', '_resumePayload', '') },
  { weight: 2, arbitrary: hostileString.filter((s) => s.length < 64) },
);

class Money {
  constructor(readonly cents: number) {}
}

/** Values JSON cannot hold as they are (each must be refused, never silently changed). */
const exoticLeaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.bigInt().map((n) => n),
  fc.integer().map((ms) => new Date(ms)),
  fc.constantFrom(undefined, NaN, Infinity, -Infinity),
  fc.constantFrom(() => 1, Symbol('s'), new Money(5), new Map([['k', 1]]), new Set([1]), /re/, new Uint8Array(2)),
  fc.constant(null).map(() => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    return cyclic;
  }),
  // eslint-disable-next-line no-sparse-arrays -- the hole is the point: it would read back as null
  fc.constant(null).map(() => [1, , 3]),
  fc.constant(null).map(() => ({ [Symbol('k')]: 1 })),
);

const plainLeaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(-0, 0, Number.MAX_VALUE, Number.MIN_VALUE, Number.MAX_SAFE_INTEGER + 2, 1e21, 5e-324),
  hostileString,
);

/** An object built key by key with defineProperty, so "__proto__" becomes an own key as JSON.parse makes it. */
export function recordOf(entries: ReadonlyArray<readonly [string, unknown]>, nullPrototype = false): Record<string, unknown> {
  const out: Record<string, unknown> = nullPrototype ? Object.create(null) : {};
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

/** `levels` nested arrays or objects around a leaf: deep nesting on both sides of the limit. */
function nested(levels: number, asObject: boolean): unknown {
  let value: unknown = 'deep';
  for (let i = 0; i < levels; i++) value = asObject ? { d: value } : [value];
  return value;
}
const deepValue = fc.tuple(fc.constantFrom(20, 300, 600), fc.boolean()).map(([levels, asObject]) => nested(levels, asObject));

export const { hostileValue } = fc.letrec<{ hostileValue: unknown }>((tie) => ({
  hostileValue: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 6, arbitrary: plainLeaf },
    { weight: 2, arbitrary: exoticLeaf },
    { weight: 1, arbitrary: deepValue },
    { weight: 3, arbitrary: fc.array(tie('hostileValue'), { maxLength: 4 }) },
    { weight: 3, arbitrary: hostileRecordOf(tie('hostileValue')) },
  ),
}));

function hostileRecordOf(values: fc.Arbitrary<unknown>): fc.Arbitrary<Record<string, unknown>> {
  return fc.tuple(fc.array(fc.tuple(hostileKey, values), { maxLength: 4 }), fc.boolean()).map(([entries, nullPrototype]) => recordOf(entries, nullPrototype));
}

/** A patch: usually a record (hostile inside), sometimes not an object at all. */
export const hostilePatch: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: hostileRecordOf(hostileValue) },
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom(null, [], 5, 'patch', new Date(0), new Map()) },
);

/** What a handler may throw. */
export const thrownValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString.map((m) => new Error(m)),
  fc.tuple(hostileString, hostileString).map(([code, m]) => Object.assign(new Error(m), { code })),
  hostileValue,
);

/** Handler results of the wrong shape: each must fail the node with INVALID_NODE_RESULT. */
export const malformedResult: fc.Arbitrary<unknown> = fc.constantFrom(
  null,
  undefined,
  5,
  'ok',
  [],
  { status: 'nope' },
  { status: 'ok', patch: [] },
  { status: 'ok', patch: new Date(0) },
  { status: 'wait', reason: 5 },
  { status: 'wait', until: 7 },
  { status: 'wait', reason: 'r\u0000' },
  { status: 'wait', until: '\uD800' },
  { status: 'error' },
  { status: 'error', error: { code: 1, message: 'm' } },
  { status: 'error', error: { code: 'c', message: 'm', retryable: 'yes' } },
);
