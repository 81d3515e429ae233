/**
 * `saveSchedule`: creates a schedule, or replaces one still at the revision its writer read — one
 * statement for both, so that `engine.schedules.set` is a compare-and-set whichever it turns out
 * to be. A replace keeps what the schedule did (`last_fire_at`, `last_skip_json`, the buffered
 * ticks, `created_at`) and drops any claim: a worker holding the old row is fenced out by the
 * revision, and the next claim reads the new one.
 *
 * $1 schedule id, $2 flow id, $3 flow version (null = newest), $4 cron, $5 every (ms), $6 time
 * zone, $7 input (JSON text), $8 overlap, $9 catch-up, $10 catch-up window (ms), $11 jitter (ms),
 * $12 paused, $13 next fire (ISO), $14 due (ISO), $15 the revision read, or null to create.
 * Rows: the schedule as written; none when it exists already ($15 null) or has moved on.
 */
import type { SqlNames } from '../names.js';
import { scheduleColumnsSql } from '../schedule-rows.js';

export function saveScheduleSql(n: SqlNames): string {
  return `WITH ins AS (
      INSERT INTO ${n.schedules} AS s (schedule_id, flow_id, flow_version, cron, every_ms, timezone, input_json, overlap, catchup,
                                       catchup_window_ms, jitter_ms, paused, next_fire_at, due_at, created_at, updated_at)
      SELECT $1, $2, $3, $4, $5::bigint, $6, $7::jsonb, $8, $9, $10::bigint, $11::bigint, $12::boolean, $13::timestamptz, $14::timestamptz,
             statement_timestamp(), statement_timestamp()
      WHERE $15::int IS NULL
      ON CONFLICT (schedule_id) DO NOTHING
      RETURNING ${scheduleColumnsSql('s')}
    ), upd AS (
      UPDATE ${n.schedules} s SET flow_id = $2, flow_version = $3, cron = $4, every_ms = $5::bigint, timezone = $6, input_json = $7::jsonb,
             overlap = $8, catchup = $9, catchup_window_ms = $10::bigint, jitter_ms = $11::bigint, paused = $12::boolean,
             next_fire_at = $13::timestamptz, due_at = $14::timestamptz, claimed_until = NULL, revision = s.revision + 1,
             updated_at = statement_timestamp()
      WHERE s.schedule_id = $1 AND s.revision = $15::int
      RETURNING ${scheduleColumnsSql('s')}
    )
    SELECT * FROM ins UNION ALL SELECT * FROM upd`;
}
