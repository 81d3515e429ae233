/**
 * `msUntilNextDue`: how long until the earliest due time still in the future among live runs, by
 * the database clock — what an idle worker sleeps. Due times already past are left out: they
 * belong to runs that are due now (claimable, or held by a holder whose release wakes the
 * workers), and counting them would make idle workers spin.
 *
 * $1 flow keys (`flowId@version`, a JSON array) or null for any. Rows: one `ms` (whole
 * milliseconds), or none when nothing is due later.
 */
import { LIVE_STATUSES, sqlStatusList } from '../../../core/states.js';
import type { SqlNames } from '../names.js';

export function msUntilNextDueSql(n: SqlNames): string {
  return `SELECT GREATEST(0, CEIL(EXTRACT(EPOCH FROM (m.next_attempt_at - clock_timestamp())) * 1000))::float8 AS ms FROM (
      SELECT min(r.next_attempt_at) AS next_attempt_at FROM ${n.runs} r
      WHERE r.status IN (${sqlStatusList(LIVE_STATUSES)}) AND r.next_attempt_at > clock_timestamp()
        AND ($1::jsonb IS NULL OR (r.flow_id || '@' || r.flow_version) IN (SELECT jsonb_array_elements_text($1::jsonb)))
    ) m WHERE m.next_attempt_at IS NOT NULL`;
}
