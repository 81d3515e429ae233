/**
 * `countRuns`: how many runs there are per flow, version and status — the `hazel_flow_runs` gauge
 * of `engine.metrics()`, read at most every few seconds (the metrics cache it). One pass over the
 * runs table: cheap next to a scrape interval, and the labels stay bounded (no run ids).
 *
 * No parameters. Rows: `flow_id`, `flow_version`, `status` (text), `count` (float8).
 */
import type { SqlNames } from '../names.js';

export function countRunsSql(n: SqlNames): string {
  return `SELECT r.flow_id, r.flow_version, r.status::text AS status, count(*)::float8 AS count
    FROM ${n.runs} r
    GROUP BY r.flow_id, r.flow_version, r.status`;
}
