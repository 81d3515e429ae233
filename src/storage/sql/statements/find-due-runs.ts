/**
 * `findDueRuns`: the ids of runs a worker should take now, in claim order — the rule and the
 * order of storage/due.ts, spelled here in the form the indexes can serve.
 *
 * Two kinds of due runs, one statement. Runs with entries in their inbox are found from the
 * inbox (a handful of rows: answers wait there only until their run's holder applies them), each
 * run by its primary key, whatever its due time; they come first. Runs due by the clock are found
 * with the (status, next_attempt_at) index, less those listed already: the clock is read once, as
 * an init plan (`(SELECT clock_timestamp())`), so that it bounds the index scans instead of
 * filtering every live run. The inner query is an optimization fence (OFFSET 0): the lock filter
 * then runs on due rows only.
 *
 * With `skipLocked` (a database other sessions share), runs whose advisory lock someone holds
 * right now are left out (int8 keys appear split into classid/objid in pg_locks): one read of the
 * lock table per call, which spares workers a lockRun that would fail.
 *
 * $1 limit, $2 flow keys (`flowId@version`, a JSON array) or null for any. Rows: `run_id`.
 */
import { LIVE_STATUSES, sqlStatusList } from '../../../core/states.js';
import type { SqlNames } from '../names.js';

export function findDueRunsSql(n: SqlNames, mode: { skipLocked: boolean }): string {
  const live = sqlStatusList(LIVE_STATUSES);
  const notLocked = mode.skipLocked
    ? `AND ${n.lockKey('d.run_id')} NOT IN (
         SELECT (l.classid::int8 << 32) | l.objid::int8 FROM pg_locks l
         WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))`
    : '';
  return `SELECT d.run_id FROM (
      SELECT r.run_id, 0 AS rank, r.next_attempt_at, r.created_at FROM ${n.runs} r
      WHERE r.run_id IN (SELECT i.run_id FROM ${n.inbox} i)
        AND r.status IN (${live})
        AND ($2::jsonb IS NULL OR (r.flow_id || '@' || r.flow_version) IN (SELECT jsonb_array_elements_text($2::jsonb)))
      UNION ALL
      SELECT r.run_id, 1 AS rank, r.next_attempt_at, r.created_at FROM ${n.runs} r
      WHERE ((r.status = 'RUNNING' AND r.next_attempt_at IS NULL)
          OR (r.status IN (${live}) AND r.next_attempt_at <= (SELECT clock_timestamp())))
        AND ($2::jsonb IS NULL OR (r.flow_id || '@' || r.flow_version) IN (SELECT jsonb_array_elements_text($2::jsonb)))
        AND NOT EXISTS (SELECT 1 FROM ${n.inbox} i WHERE i.run_id = r.run_id)
      ORDER BY rank, next_attempt_at ASC NULLS FIRST, created_at, run_id
      OFFSET 0
    ) d
    WHERE true ${notLocked}
    LIMIT $1::int`;
}
