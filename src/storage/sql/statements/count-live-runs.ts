/**
 * `countLiveRuns`: the unfinished runs of each `flowId@version`, and how many of them are due now
 * by the database clock (the rule of storage/due.ts) — what `listFlows` shows per version, and
 * what makes a version's runs "stranded" when no process serves it. Only versions with unfinished
 * runs have a row. Reads the live runs only (by status), never the finished ones.
 *
 * No parameters. Rows: `flow_id`, `flow_version`, `unfinished`, `due`.
 */
import { LIVE_STATUSES, sqlStatusList } from '../../../core/states.js';
import { dueSql } from '../../due.js';
import type { SqlNames } from '../names.js';
import { hasInboxSql } from '../rows.js';

export function countLiveRunsSql(n: SqlNames): string {
  return `SELECT r.flow_id, r.flow_version, count(*)::int AS unfinished,
      (count(*) FILTER (WHERE ${dueSql('r', 'clock_timestamp()', hasInboxSql(n, 'r'))}))::int AS due
    FROM ${n.runs} r
    WHERE r.status IN (${sqlStatusList(LIVE_STATUSES)})
    GROUP BY r.flow_id, r.flow_version
    ORDER BY r.flow_id, r.flow_version`;
}
