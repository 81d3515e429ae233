/**
 * `removeWorker`: a stopping worker deletes its row, so that the workers' view shows it gone at
 * once rather than silent.
 *
 * $1 worker id. No rows.
 */
import type { SqlNames } from '../names.js';

export function removeWorkerSql(n: SqlNames): string {
  return `DELETE FROM ${n.workers} WHERE worker_id = $1`;
}
