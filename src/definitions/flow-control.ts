/**
 * Flow control options (`concurrency`, `rateLimit`, `debounce`): what a valid option is, and what a
 * run of the flow carries of them — each limit with the key its key function gave for the run's
 * input, computed once at `startRun` (`flowControlOf`). Where the limits are enforced: the claim,
 * in each store (docs/flow-control.md).
 */
import { FlowControlKeyError } from '../errors.js';
import type { FlowControlRecord, FlowDefinition } from './types.js';

type Loose = Record<string, unknown>;
const isObject = (v: unknown): v is Loose => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => (typeof v === 'function' ? 'a function' : (JSON.stringify(v) ?? String(v)));
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1;
const isMs = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isFinite(v) && v >= min;

/** Longest delay or period a flow control option may ask for (100 years, as retention). */
const MAX_MS = 100 * 365 * 24 * 60 * 60 * 1000;
/** Longest key a key function may return (it is stored on the run and hashed into lock keys). */
export const MAX_FLOW_CONTROL_KEY_LENGTH = 512;

function unknownKeys(where: string, o: Loose, known: readonly string[]): string[] {
  return Object.keys(o)
    .filter((k) => !known.includes(k))
    .map((k) => `${where}: unknown option ${JSON.stringify(k)} (the options are ${known.join(', ')})`);
}

function keyProblem(where: string, key: unknown, required: boolean): string[] {
  if (key === undefined && !required) return [];
  return typeof key === 'function' ? [] : [`${where}.key must be a function (input) => string (got ${show(key)})`];
}

/** Problems with a definition's `concurrency`, `rateLimit` and `debounce` (empty when valid or absent). */
export function flowControlProblems(def: Loose): string[] {
  const problems: string[] = [];
  const { concurrency, rateLimit, debounce } = def;
  if (concurrency !== undefined) {
    const list = Array.isArray(concurrency) ? concurrency : [concurrency];
    if (Array.isArray(concurrency) && concurrency.length === 0) problems.push('concurrency: an empty array (give at least one { limit })');
    list.forEach((c: unknown, i) => {
      const where = Array.isArray(concurrency) ? `concurrency[${i}]` : 'concurrency';
      if (!isObject(c)) return void problems.push(`${where} must be an object like { limit, key?, scope? } (got ${show(c)})`);
      problems.push(...unknownKeys(where, c, ['limit', 'key', 'scope']));
      if (!isCount(c.limit)) problems.push(`${where}.limit must be an integer ≥ 1 (got ${show(c.limit)})`);
      problems.push(...keyProblem(where, c.key, false));
      if (c.scope !== undefined && c.scope !== 'executing' && c.scope !== 'active') {
        problems.push(`${where}.scope must be 'executing' or 'active' (got ${show(c.scope)})`);
      }
    });
  }
  if (rateLimit !== undefined) {
    if (!isObject(rateLimit)) problems.push(`rateLimit must be an object like { limit, periodMs, key? } (got ${show(rateLimit)})`);
    else {
      problems.push(...unknownKeys('rateLimit', rateLimit, ['limit', 'periodMs', 'key']));
      if (!isCount(rateLimit.limit)) problems.push(`rateLimit.limit must be an integer ≥ 1 (got ${show(rateLimit.limit)})`);
      if (!(isMs(rateLimit.periodMs, 0) && rateLimit.periodMs > 0 && rateLimit.periodMs <= MAX_MS)) {
        problems.push(`rateLimit.periodMs must be a number of milliseconds > 0 (got ${show(rateLimit.periodMs)})`);
      }
      problems.push(...keyProblem('rateLimit', rateLimit.key, false));
    }
  }
  if (debounce !== undefined) {
    if (!isObject(debounce)) problems.push(`debounce must be an object like { delayMs, key, maxWaitMs? } (got ${show(debounce)})`);
    else {
      problems.push(...unknownKeys('debounce', debounce, ['delayMs', 'key', 'maxWaitMs']));
      if (!(isMs(debounce.delayMs, 0) && debounce.delayMs <= MAX_MS)) {
        problems.push(`debounce.delayMs must be a number of milliseconds ≥ 0 (got ${show(debounce.delayMs)})`);
      }
      problems.push(...keyProblem('debounce', debounce.key, true));
      if (debounce.maxWaitMs !== undefined && !(isMs(debounce.maxWaitMs, 0) && debounce.maxWaitMs <= MAX_MS)) {
        problems.push(`debounce.maxWaitMs must be a number of milliseconds ≥ 0 (got ${show(debounce.maxWaitMs)})`);
      } else if (isMs(debounce.maxWaitMs, 0) && isMs(debounce.delayMs, 0) && debounce.maxWaitMs < debounce.delayMs) {
        problems.push(`debounce.maxWaitMs (${debounce.maxWaitMs}) must be at least delayMs (${debounce.delayMs})`);
      }
    }
  }
  return problems;
}

/** A key function's result for `input`: a non-empty string, or a FlowControlKeyError naming the option. */
function keyOf(def: FlowDefinition, option: string, key: ((input: unknown) => string) | undefined, input: unknown): string {
  if (key === undefined) return '';
  let value: unknown;
  try {
    value = key(input);
  } catch (err) {
    throw new FlowControlKeyError(def.flowId, def.version, option, `threw: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  if (typeof value !== 'string') throw new FlowControlKeyError(def.flowId, def.version, option, `returned ${show(value)}, not a string`);
  if (value.length > MAX_FLOW_CONTROL_KEY_LENGTH) {
    throw new FlowControlKeyError(def.flowId, def.version, option, `returned a key of ${value.length} characters (at most ${MAX_FLOW_CONTROL_KEY_LENGTH})`);
  }
  return value;
}

/**
 * What a run of `def` with `input` carries of the flow's flow control (null when it has none):
 * every key function called once, here. Throws FlowControlKeyError when one throws or returns
 * something other than a string.
 */
export function flowControlOf(def: FlowDefinition, input: unknown): FlowControlRecord | null {
  const { concurrency, rateLimit, debounce } = def;
  if (concurrency === undefined && rateLimit === undefined && debounce === undefined) return null;
  const limits = concurrency === undefined ? [] : Array.isArray(concurrency) ? concurrency : [concurrency];
  return {
    concurrency: limits.map((c, i) => ({
      limit: c.limit,
      key: keyOf(def, limits.length > 1 ? `concurrency[${i}].key` : 'concurrency.key', c.key, input),
      scope: c.scope ?? 'executing',
    })),
    rateLimit: rateLimit ? { limit: rateLimit.limit, periodMs: rateLimit.periodMs, key: keyOf(def, 'rateLimit.key', rateLimit.key, input) } : null,
    debounce: debounce ? { key: keyOf(def, 'debounce.key', debounce.key, input), delayMs: debounce.delayMs, maxWaitMs: debounce.maxWaitMs ?? null } : null,
  };
}
