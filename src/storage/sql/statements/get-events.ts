/**
 * `getEvents`: a run's timeline in order, or a page of it: the events after a `seq`, at most so
 * many. A keyset page on the primary key (run_id, seq): each page is an index range scan that
 * starts where the previous one ended, however long the timeline, and events appended meanwhile
 * (always with higher seqs) come on later pages, never twice.
 * $1 run id, $2 the seq after which to start (0: from the first event), $3 at most this many rows
 * (null: all). Rows: `EventRow` (rows.ts `toEventRecord`), by `seq`.
 */
import type { SqlNames } from '../names.js';

export function getEventsSql(n: SqlNames): string {
  return `SELECT run_id, seq, at, type, node_id, branch_id, item_index, attempt, duration_ms, error_json, payload_json
    FROM ${n.events} WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`;
}
