/**
 * `getIdempotency`: a node's committed result under its idempotency key.
 * $1 key. Rows: at most one `key, run_id, node_id, result_json, created_at`.
 */
import type { SqlNames } from '../names.js';

export function getIdempotencySql(n: SqlNames): string {
  return `SELECT key, run_id, node_id, result_json, created_at FROM ${n.idempotency} WHERE key = $1`;
}
