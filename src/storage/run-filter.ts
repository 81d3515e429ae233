/**
 * Validation and paging helpers for `listRuns`, shared by every store so that all of them
 * accept the same filters, reject the same bad ones, and page in the same order
 * (newest first, ties broken by run id descending).
 */
import { RUN_STATUSES } from '../core/states.js';
import { InvalidArgumentError } from '../errors.js';
import type { FlowRunStatus } from '../definitions/types.js';
import type { RunFilter } from './types.js';
import { unstorableTextReason } from '../core/json.js';
import { outcomeProblem } from '../core/outcome.js';

export { RUN_STATUSES };
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

export interface NormalizedRunFilter {
  statuses: FlowRunStatus[] | null;
  flowId?: string;
  flowVersion?: string;
  tenantId?: string;
  parentRunId?: string;
  scheduleId?: string;
  /** Runs whose business outcome is one of these (null: any outcome, or none). */
  outcomes: string[] | null;
  limit: number;
  cursor?: string;
}

export function normalizeRunFilter(filter: RunFilter = {}): NormalizedRunFilter {
  if (filter === null || typeof filter !== 'object') throw new InvalidArgumentError('listRuns: filter must be an object');
  let statuses: FlowRunStatus[] | null = null;
  if (filter.status !== undefined) {
    statuses = Array.isArray(filter.status) ? [...filter.status] : [filter.status];
    for (const s of statuses) {
      if (!RUN_STATUSES.includes(s)) {
        throw new InvalidArgumentError(`listRuns: unknown status ${JSON.stringify(s)} (expected one of ${RUN_STATUSES.join(', ')})`);
      }
    }
  }
  for (const key of ['flowId', 'flowVersion', 'tenantId', 'parentRunId', 'scheduleId', 'cursor'] as const) {
    const v = filter[key];
    if (v !== undefined && (typeof v !== 'string' || v.length === 0)) {
      throw new InvalidArgumentError(`listRuns: ${key} must be a non-empty string`);
    }
    const problem = v === undefined ? null : unstorableTextReason(v);
    if (problem) throw new InvalidArgumentError(`listRuns: ${key} ${problem}`);
  }
  let outcomes: string[] | null = null;
  if (filter.outcome !== undefined) {
    outcomes = Array.isArray(filter.outcome) ? [...filter.outcome] : [filter.outcome];
    if (outcomes.length === 0) throw new InvalidArgumentError('listRuns: outcome must be a string or a non-empty array of strings');
    for (const o of outcomes) {
      const problem = outcomeProblem(o);
      if (problem) throw new InvalidArgumentError(`listRuns: outcome ${problem}`);
    }
  }
  const limit = filter.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new InvalidArgumentError(`listRuns: limit must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  }
  if (filter.cursor !== undefined) decodeCursor(filter.cursor);
  return {
    statuses,
    flowId: filter.flowId,
    flowVersion: filter.flowVersion,
    tenantId: filter.tenantId,
    parentRunId: filter.parentRunId,
    scheduleId: filter.scheduleId,
    outcomes,
    limit,
    cursor: filter.cursor,
  };
}

/**
 * Cursor = base64url of "<createdAt ms>:<runId>" of the last row of the previous page.
 * SQL stores keep created_at at millisecond precision (timestamptz(3)) so the cursor is exact.
 */
export function encodeCursor(createdAt: Date, runId: string): string {
  return Buffer.from(`${createdAt.getTime()}:${runId}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; runId: string } {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const sep = text.indexOf(':');
  const ms = Number(text.slice(0, sep));
  const runId = text.slice(sep + 1);
  if (sep <= 0 || !Number.isFinite(ms) || runId.length === 0) {
    throw new InvalidArgumentError('listRuns: cursor is not one this engine produced');
  }
  return { createdAt: new Date(ms), runId };
}
