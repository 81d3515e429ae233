/**
 * What a run's business outcome may be (`NodeResult.outcome`, `FlowRunRecord.outcome`): one rule
 * for the engine, which fails a node whose result carries a bad one, and for every store's
 * `listRuns({ outcome })`, which refuses a filter no outcome could match.
 *
 * An outcome is a short label shown in lists and typed into filters (URLs, the CLI): a non-empty
 * string of at most `MAX_OUTCOME_LENGTH` characters that Postgres can store (see json.ts).
 */
import { unstorableTextReason } from './json.js';

/** Longest business outcome, in UTF-16 code units (`string.length`). */
export const MAX_OUTCOME_LENGTH = 200;

/** Why `value` is not an acceptable outcome (null when it is). */
export function outcomeProblem(value: unknown): string | null {
  if (typeof value !== 'string') return `must be a string, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`;
  if (value.length === 0) return 'must not be empty';
  if (value.length > MAX_OUTCOME_LENGTH) return `must be at most ${MAX_OUTCOME_LENGTH} characters, got ${value.length}`;
  return unstorableTextReason(value);
}
