/**
 * `listRuns` as one keyset-paginated query: newest first, ties broken by run id descending (the
 * order every store uses, see run-filter.ts). The WHERE clause is assembled from fixed fragments;
 * every value — statuses, ids, the cursor position, the limit — is a parameter. A summary leaves
 * out the JSON columns (all but the branches) and each run's outputs (a subquery per run), and
 * comes back as one JSON text (see `parseSummaryPage`).
 */
import type { NormalizedRunFilter } from '../run-filter.js';
import { decodeCursor } from '../run-filter.js';
import type { SqlParam, SqlRow } from './executor.js';
import type { SqlNames } from './names.js';
import { runReadSql, runSummaryReadSql, type RunSummaryRow } from './rows.js';

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
  if (f.scheduleId !== undefined) where.push(`r.schedule_id = ${param(f.scheduleId)}`);
  // Outcomes: an equality, so that the partial index on (outcome, created_at, run_id) (the
  // outcomes migration) is read in the list's order; for several, once per outcome (below).
  const outcomes = f.outcomes && f.outcomes.length > 1 ? param(JSON.stringify(f.outcomes)) : null;
  if (f.outcomes?.length === 1) where.push(`r.outcome = ${param(f.outcomes[0]!)}`);
  else if (outcomes) where.push('r.outcome = wanted.outcome');
  if (f.cursor !== undefined) {
    const after = decodeCursor(f.cursor);
    where.push(`(r.created_at, r.run_id) < (${param(after.createdAt.toISOString())}::timestamptz, ${param(after.runId)}::text)`);
  }
  // One row more than the page: its presence says whether there is a next page.
  const limit = param(f.limit + 1);
  const page = (columns: string) => `SELECT ${columns} FROM ${names.runs} r
    ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY r.created_at DESC, r.run_id DESC
    LIMIT ${limit}::int`;
  // Several outcomes: one page per outcome, each read in order from the index, and the newest of
  // them. (`outcome IN (…)` would be planned as a walk of all runs newest first, filtered: a
  // whole-table read for outcomes that few runs have.)
  const rows = (columns: string) =>
    outcomes === null
      ? page(columns)
      : `SELECT ${columns}
    FROM (SELECT DISTINCT w.outcome FROM jsonb_array_elements_text(${outcomes}::jsonb) AS w(outcome)) wanted
    CROSS JOIN LATERAL (${page('r.*')}) r
    ORDER BY r.created_at DESC, r.run_id DESC
    LIMIT ${limit}::int`;
  if (!summary) return { sql: rows(runReadSql(names, 'r')), params };
  // A summary page comes back as ONE value, the JSON text of its rows: a driver decodes one value
  // instead of twenty per run (on PGlite, whose decoding runs in JavaScript, 2.5 times faster).
  const sql = `SELECT COALESCE(json_agg(p ORDER BY p.created_at DESC, p.run_id DESC), '[]')::text AS page
    FROM (${rows(runSummaryReadSql(names, 'r'))}) p`;
  return { sql, params };
}

/** The rows of a summary page: the query's one row holds them as JSON text (times as ISO-8601 text). */
export function parseSummaryPage(rows: readonly SqlRow[]): RunSummaryRow[] {
  const text = rows[0]?.page;
  return typeof text === 'string' ? (JSON.parse(text) as RunSummaryRow[]) : [];
}
