/**
 * `claimDueSchedules`: takes up to $1 due schedules for $2 ms, across processes, and reads in the
 * same statement what deciding their ticks needs. Due: active, `due_at` past by the database
 * clock, and no live claim (`claimed_until` unset or past: a worker that died holding a claim
 * loses it when it runs out). `FOR UPDATE SKIP LOCKED` lets concurrent claimers pass each other's
 * rows instead of queueing behind them, so each schedule goes to one worker; the claim is only an
 * economy — the step that fires a tick is fenced by the revision, and the run insert by the
 * unique (schedule_id, scheduled_at) index — so a claim that outlived its lease costs a wasted
 * step, never a second run. Served by "flow_schedules_due_idx" (paused, due_at).
 *
 * Per schedule it reads: its RUNNING/WAITING runs (`live_run_ids`, for the overlap rule: one
 * index probe on "flow_runs_schedule_status_idx"), and the version a run would start with that
 * version's entry node (`resolved_version`, `entry_node_id`): the pinned version, or the newest
 * the store knows (latest created, ties by version in byte order, as the memory store does).
 *
 * $1 limit, $2 lease (ms). Rows: the schedule columns (schedule-rows.ts), `live_run_ids`,
 * `resolved_version`, `entry_node_id`, and `claimed_at` (the database clock the claim reckoned
 * by), earliest due first.
 */
import { LIVE_STATUSES, sqlStatusList } from '../../../core/states.js';
import type { SqlNames } from '../names.js';
import { scheduleColumnsSql } from '../schedule-rows.js';

export function claimDueSchedulesSql(n: SqlNames): string {
  return `WITH now AS MATERIALIZED (SELECT clock_timestamp() AS t),
    picked AS (
      SELECT s.schedule_id FROM ${n.schedules} s, now
      WHERE s.paused = false AND s.due_at <= now.t AND (s.claimed_until IS NULL OR s.claimed_until <= now.t)
      ORDER BY s.due_at, s.schedule_id
      LIMIT $1::int
      FOR UPDATE OF s SKIP LOCKED
    ), claimed AS (
      UPDATE ${n.schedules} s SET claimed_until = now.t + $2::float8 * interval '1 millisecond'
      FROM picked, now WHERE s.schedule_id = picked.schedule_id
      RETURNING ${scheduleColumnsSql('s')}
    )
    SELECT ${scheduleColumnsSql('c')},
      ARRAY(SELECT r.run_id FROM ${n.runs} r WHERE r.schedule_id = c.schedule_id AND r.status IN (${sqlStatusList(LIVE_STATUSES)})
            ORDER BY r.created_at, r.run_id) AS live_run_ids,
      d.version AS resolved_version, d.graph_json ->> 'entry' AS entry_node_id, (SELECT t FROM now) AS claimed_at
    FROM claimed c LEFT JOIN LATERAL (
      SELECT v.version, v.graph_json FROM ${n.definitions} v
      WHERE v.flow_id = c.flow_id AND (c.flow_version IS NULL OR v.version = c.flow_version)
      ORDER BY v.created_at DESC, v.version COLLATE "C" DESC LIMIT 1
    ) d ON true
    ORDER BY c.due_at, c.schedule_id`;
}
