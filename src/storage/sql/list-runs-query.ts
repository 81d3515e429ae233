/**
 * `listRuns` as one keyset-paginated query: newest first, ties broken by run id descending (the
 * order every store uses, see run-filter.ts). The WHERE clause is assembled from fixed fragments;
 * every value — statuses, ids, the cursor position, the limit — is a parameter. A summary leaves
 * out the JSON columns (all but the branches) and each run's outputs (a subquery per run).
 */
import type { NormalizedRunFilter } from '../run-filter.js';
import { decodeCursor } from '../run-filter.js';
import type { SqlParam } from './executor.js';
import type { SqlNames } from './names.js';
import { runReadSql, runSummaryReadSql } from './rows.js';

export function buildListRunsQuery(names: SqlNames, f: NormalizedRunFilter, summary = false): { sql: string; params: SqlParam[] } {
  const params: SqlParam[] = [];
  const param = (value: SqlParam) => {
    params.push(value);
    return `$${params.length}`;
  };
  const where: string[] = [];
  if (f.statuses) {
    where.push(`r.status IN (SELECT jsonb_array_elements_text(${param(JSON.stringify(f.statuses))}::jsonb)::${names.statusType})`);
  }
  if (f.flowId !== undefined) where.push(`r.flow_id = ${param(f.flowId)}`);
  if (f.flowVersion !== undefined) where.push(`r.flow_version = ${param(f.flowVersion)}`);
  if (f.tenantId !== undefined) where.push(`r.tenant_id = ${param(f.tenantId)}`);
  if (f.parentRunId !== undefined) where.push(`r.parent_run_id = ${param(f.parentRunId)}`);
  if (f.cursor !== undefined) {
    const after = decodeCursor(f.cursor);
    where.push(`(r.created_at, r.run_id) < (${param(after.createdAt.toISOString())}::timestamptz, ${param(after.runId)}::text)`);
  }
  // One row more than the page: its presence says whether there is a next page.
  const limit = param(f.limit + 1);
  const sql = `SELECT ${summary ? runSummaryReadSql(names, 'r') : runReadSql(names, 'r')} FROM ${names.runs} r
    ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY r.created_at DESC, r.run_id DESC
    LIMIT ${limit}::int`;
  return { sql, params };
}
