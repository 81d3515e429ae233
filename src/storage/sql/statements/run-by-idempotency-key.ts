/**
 * `runByIdempotencyKey`: the run that holds a `startRun` idempotency key (unique index).
 * $1 key. Rows: at most one `RunReadRow` (rows.ts).
 */
import type { SqlNames } from '../names.js';
import { runReadSql } from '../rows.js';

export function runByIdempotencyKeySql(n: SqlNames): string {
  return `SELECT ${runReadSql(n, 'r')} FROM ${n.runs} r WHERE r.idempotency_key = $1`;
}
