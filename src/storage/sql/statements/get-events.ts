/**
 * `getEvents`: a run's timeline in order.
 * $1 run id. Rows: `EventRow` (rows.ts `toEventRecord`), by `seq`.
 */
import type { SqlNames } from '../names.js';

export function getEventsSql(n: SqlNames): string {
  return `SELECT run_id, seq, at, type, node_id, branch_id, item_index, attempt, duration_ms, error_json, payload_json
    FROM ${n.events} WHERE run_id = $1 ORDER BY seq`;
}
