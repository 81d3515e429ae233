/**
 * `getRun`: one run as every read shows it (columns, outputs, inbox, due time, the clock).
 * $1 run id. Rows: at most one `RunReadRow` (rows.ts).
 */
import type { SqlNames } from '../names.js';
import { runReadSql } from '../rows.js';

export function getRunSql(n: SqlNames): string {
  return `SELECT ${runReadSql(n, 'r')} FROM ${n.runs} r WHERE r.run_id = $1`;
}
