/**
 * `countDueRuns`: the runs due now (storage/due.ts `dueSql`, by the database clock) per flow and
 * version, and how long the oldest has waited — the `hazel_flow_runs_due` and
 * `hazel_flow_oldest_due_seconds` gauges, and the runs no live worker serves (`listWorkers`' view).
 *
 * A run became due at its due time (`next_attempt_at`) when it has one that is past; a run with
 * answers in its inbox (a resume, an event, a child's end) when the oldest arrived; a RUNNING run
 * with no due time (something can begin at once) at its last write. Only live runs are read (the
 * status index), so finished history costs nothing.
 *
 * No parameters. Rows: `flow_id`, `flow_version`, `due` (float8), `oldest_due_seconds` (float8, >= 0).
 */
import { LIVE_STATUSES, sqlStatusList } from '../../../core/states.js';
import { dueSql } from '../../due.js';
import type { SqlNames } from '../names.js';

export function countDueRunsSql(n: SqlNames): string {
  return `SELECT d.flow_id, d.flow_version, count(*)::float8 AS due,
           GREATEST(0, EXTRACT(EPOCH FROM (clock_timestamp() - min(d.due_since))))::float8 AS oldest_due_seconds
    FROM (
      SELECT r.flow_id, r.flow_version,
             CASE WHEN i.first_at IS NOT NULL AND (r.next_attempt_at IS NULL OR r.next_attempt_at > clock_timestamp() OR i.first_at < r.next_attempt_at)
                    THEN i.first_at
                  ELSE COALESCE(r.next_attempt_at, r.updated_at) END AS due_since
      FROM ${n.runs} r
      LEFT JOIN LATERAL (SELECT min(x.created_at) AS first_at FROM ${n.inbox} x WHERE x.run_id = r.run_id) i ON true
      WHERE r.status IN (${sqlStatusList(LIVE_STATUSES)})
        AND ${dueSql('r', 'clock_timestamp()', 'i.first_at IS NOT NULL')}
    ) d
    GROUP BY d.flow_id, d.flow_version`;
}
