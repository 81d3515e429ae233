/** `getSchedule`: $1 schedule id. Rows: at most one schedule row (schedule-rows.ts). */
import type { SqlNames } from '../names.js';
import { scheduleColumnsSql } from '../schedule-rows.js';

export function getScheduleSql(n: SqlNames): string {
  return `SELECT ${scheduleColumnsSql('s')} FROM ${n.schedules} s WHERE s.schedule_id = $1`;
}
