/**
 * Validation of `pruneRuns` queries, shared by every store so that all of them accept the same
 * queries and refuse the same bad ones: only finished runs may be deleted, ever.
 */
import { FINISHED_STATUSES } from '../core/states.js';
import { InvalidArgumentError } from '../errors.js';
import type { FlowRunStatus } from '../definitions/types.js';
import { unstorableTextReason } from '../core/json.js';
import type { PruneRunsQuery } from './types.js';

/** The statuses of a finished run: the only runs `pruneRuns` deletes. */
export { FINISHED_STATUSES };
/** Largest batch of one `pruneRuns` call. */
export const MAX_PRUNE_BATCH = 10_000;
/** Longest age a prune may name: what a Postgres interval and a JavaScript date both hold comfortably (1,000 years). */
const MAX_AGE_MS = 1000 * 365.25 * 24 * 60 * 60 * 1000;

export interface NormalizedPruneQuery {
  statuses: FlowRunStatus[];
  /** The cutoff as a time, or null when it is an age (`ageMs`) reckoned by the store's clock. */
  before: Date | null;
  ageMs: number | null;
  flowId?: string;
  flowVersion?: string;
  exceptFlowKeys: string[] | null;
  limit: number;
}

export function normalizePruneQuery(query: PruneRunsQuery): NormalizedPruneQuery {
  if (query === null || typeof query !== 'object') throw new InvalidArgumentError('pruneRuns: expected { olderThan, status?, flowId?, limit }');
  const { olderThan } = query;
  let before: Date | null = null;
  let ageMs: number | null = null;
  if (olderThan instanceof Date) {
    if (!Number.isFinite(olderThan.getTime())) throw new InvalidArgumentError('pruneRuns: olderThan is an invalid Date');
    before = new Date(olderThan.getTime());
  } else if (typeof olderThan === 'number' && Number.isFinite(olderThan) && olderThan >= 0 && olderThan <= MAX_AGE_MS) {
    ageMs = olderThan;
  } else {
    throw new InvalidArgumentError(`pruneRuns: olderThan must be a Date or a number of milliseconds from 0 to ${MAX_AGE_MS} (got ${String(olderThan)})`);
  }
  const statuses = query.status === undefined ? [...FINISHED_STATUSES] : Array.isArray(query.status) ? [...query.status] : [query.status];
  if (statuses.length === 0) throw new InvalidArgumentError('pruneRuns: status must name at least one of COMPLETED, FAILED, CANCELLED');
  for (const s of statuses) {
    if (!FINISHED_STATUSES.includes(s)) {
      throw new InvalidArgumentError(`pruneRuns: only finished runs can be pruned: status ${JSON.stringify(s)} is not one of ${FINISHED_STATUSES.join(', ')}`);
    }
  }
  for (const key of ['flowId', 'flowVersion'] as const) {
    const v = query[key];
    if (v !== undefined && (typeof v !== 'string' || v.length === 0)) throw new InvalidArgumentError(`pruneRuns: ${key} must be a non-empty string`);
    const problem = v === undefined ? null : unstorableTextReason(v);
    if (problem) throw new InvalidArgumentError(`pruneRuns: ${key} ${problem}`);
  }
  const except = query.exceptFlowKeys;
  if (except !== undefined && (!Array.isArray(except) || except.some((k) => typeof k !== 'string' || unstorableTextReason(k) !== null))) {
    throw new InvalidArgumentError('pruneRuns: exceptFlowKeys must be an array of flowId@version strings');
  }
  const limit = query.limit;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PRUNE_BATCH) {
    throw new InvalidArgumentError(`pruneRuns: limit must be an integer from 1 to ${MAX_PRUNE_BATCH}`);
  }
  return {
    statuses: [...new Set(statuses)],
    before,
    ageMs,
    flowId: query.flowId,
    flowVersion: query.flowVersion,
    exceptFlowKeys: except && except.length > 0 ? [...except] : null,
    limit,
  };
}
