/**
 * `listWorkers`: the workers' registry as an operator sees it, oldest first. A worker is `silent`
 * once it missed `WORKER_SILENT_AFTER_BEATS` refreshes by the database's clock; one silent for
 * `WORKER_DROP_AFTER_BEATS` is left out (the next refresh of any worker deletes it).
 *
 * $1 the silent bound, $2 the drop bound, both in heartbeats. Rows: the columns of flow_workers
 * and `silent` (boolean).
 */
import type { SqlNames } from '../names.js';

export function listWorkersSql(n: SqlNames): string {
  return `SELECT w.worker_id, w.host, w.pid, w.started_at, w.last_seen_at, w.heartbeat_ms, w.flow_keys, w.concurrency, w.in_flight,
           w.last_seen_at < clock_timestamp() - w.heartbeat_ms * $1::int * interval '1 millisecond' AS silent
    FROM ${n.workers} w
    WHERE w.last_seen_at >= clock_timestamp() - w.heartbeat_ms * $2::int * interval '1 millisecond'
    ORDER BY w.started_at, w.worker_id`;
}
