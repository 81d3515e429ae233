/**
 * `recordWorker`: a worker's refresh of its own row — inserted at its start, updated at every
 * heartbeat, `last_seen_at` by the database's clock (so that workers on machines with skewed
 * clocks are judged alike). The same statement deletes the rows of workers silent for longer than
 * `WORKER_DROP_AFTER_BEATS` of their own heartbeats: any live worker tidies up after the dead.
 *
 * $1 worker id, $2 host, $3 pid, $4 started at, $5 heartbeat ms, $6 flow keys (JSON array),
 * $7 concurrency, $8 in flight, $9 the drop bound in heartbeats. No rows.
 */
import type { SqlNames } from '../names.js';

export function recordWorkerSql(n: SqlNames): string {
  return `WITH gone AS (
      DELETE FROM ${n.workers} w
      WHERE w.worker_id <> $1 AND w.last_seen_at < clock_timestamp() - w.heartbeat_ms * $9::int * interval '1 millisecond'
    )
    INSERT INTO ${n.workers} (worker_id, host, pid, started_at, last_seen_at, heartbeat_ms, flow_keys, concurrency, in_flight)
    VALUES ($1, $2, $3::int, $4::timestamptz, clock_timestamp(), $5::int, $6::jsonb, $7::int, $8::int)
    ON CONFLICT (worker_id) DO UPDATE SET last_seen_at = clock_timestamp(), heartbeat_ms = EXCLUDED.heartbeat_ms,
      flow_keys = EXCLUDED.flow_keys, concurrency = EXCLUDED.concurrency, in_flight = EXCLUDED.in_flight`;
}
