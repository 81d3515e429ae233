/**
 * `listSchedules`: every schedule, or those of one flow, by id. Schedules are few (one per job,
 * or per tenant and job): a page is not worth its cursor.
 * $1 flow id or null for all. Rows: schedule rows (schedule-rows.ts).
 */
import type { SqlNames } from '../names.js';
import { scheduleColumnsSql } from '../schedule-rows.js';

export function listSchedulesSql(n: SqlNames): string {
  return `SELECT ${scheduleColumnsSql('s')} FROM ${n.schedules} s
    WHERE $1::text IS NULL OR s.flow_id = $1
    ORDER BY s.schedule_id COLLATE "C"`;
}
