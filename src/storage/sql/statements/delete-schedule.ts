/**
 * `deleteSchedule`: $1 schedule id. Rows: the deleted id, or none. Its runs stay, with their
 * `schedule_id`: a schedule set again under the same id still cannot start a second run for a
 * tick that already has one (the unique index on runs' (schedule_id, scheduled_at)).
 */
import type { SqlNames } from '../names.js';

export function deleteScheduleSql(n: SqlNames): string {
  return `DELETE FROM ${n.schedules} WHERE schedule_id = $1 RETURNING schedule_id`;
}
