/**
 * `countLiveRuns`: the unfinished runs of each `flowId@version` — what `listFlows` shows per
 * version (how many are due, and so stranded when no process serves the version, is
 * count-due-runs.ts's). Only versions with unfinished runs have a row. Reads the live runs only
 * (by status), never the finished ones.
 *
 * No parameters. Rows: `flow_id`, `flow_version`, `unfinished`.
 */
import { LIVE_STATUSES, sqlStatusList } from '../../../core/states.js';
import type { SqlNames } from '../names.js';

export function countLiveRunsSql(n: SqlNames): string {
  return `SELECT r.flow_id, r.flow_version, count(*)::int AS unfinished
    FROM ${n.runs} r
    WHERE r.status IN (${sqlStatusList(LIVE_STATUSES)})
    GROUP BY r.flow_id, r.flow_version
    ORDER BY r.flow_id, r.flow_version`;
}
