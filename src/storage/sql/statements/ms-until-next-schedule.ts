/**
 * `msUntilNextSchedule`: how long until the earliest due time still in the future among active
 * schedules, by the database clock — how long a worker's schedule loop may sleep. Due times
 * already past belong to schedules that are claimable now or claimed (a buffered tick waiting for
 * a run, a worker firing it): the loop's poll finds those, so they are left out, as
 * ms-until-next-due.ts does for runs. Served by "flow_schedules_due_idx".
 *
 * No parameters. Rows: one `ms` (whole milliseconds), or none when nothing is due later.
 */
import type { SqlNames } from '../names.js';

export function msUntilNextScheduleSql(n: SqlNames): string {
  return `SELECT GREATEST(0, CEIL(EXTRACT(EPOCH FROM (m.due_at - clock_timestamp())) * 1000))::float8 AS ms FROM (
      SELECT min(s.due_at) AS due_at FROM ${n.schedules} s WHERE s.paused = false AND s.due_at > clock_timestamp()
    ) m WHERE m.due_at IS NOT NULL`;
}
