/**
 * `findDueRuns`: the ids of runs a worker should take now, in claim order — the rule and the
 * order of storage/due.ts, spelled here in the form the indexes can serve.
 *
 * Two kinds of due runs, one statement. Runs with entries in their inbox are found from the
 * inbox (a handful of rows: answers wait there only until their run's holder applies them), each
 * run by its primary key, whatever its due time. Runs due by the clock are found with the
 * (status, next_attempt_at) index, less those listed already: the clock is read once, as an init
 * plan (`(SELECT clock_timestamp())`), so that it bounds the index scans instead of filtering
 * every live run. The inner query is an optimization fence (OFFSET 0): the filters after it run on
 * due rows only. Claim order (storage/due.ts): priority, higher first, then how long the run has
 * been due (`due_since`: its oldest inbox entry, else its due time, else its last write — its
 * creation, or the last commit of a holder that let go or died), then the oldest run, the run id.
 *
 * With `skipLocked` (a database other sessions share), runs whose advisory lock someone holds
 * right now are left out (int8 keys appear split into classid/objid in pg_locks): one read of the
 * lock table per call, which spares workers a lockRun that would fail.
 *
 * Flow control: a run that could not be admitted now is left out, so that it never takes a
 * worker's slot from runs of other keys (they come after it in the order, and are found): a
 * concurrency limit whose key has all its slots taken — executing slots counted in pg_locks
 * (two-int keys, objsubid 2, see lock-runs.ts) on a shared database, or given as $3 (the full
 * slots' `flow_id:index:key`, counted in-process on PGlite); active slots counted in their rows,
 * held by live runs, unless the run holds one. A rate-limited run is not due until its window
 * opens (its next_attempt_at was moved there when it was refused).
 *
 * $1 limit, $2 flow keys (`flowId@version`, a JSON array) or null for any, $3 (without
 * `skipLocked`) the full executing slots, a JSON array. Rows: `run_id`.
 */
import { LIVE_STATUSES, sqlStatusList } from '../../../core/states.js';
import type { SqlNames } from '../names.js';

export function findDueRunsSql(n: SqlNames, mode: { skipLocked: boolean }): string {
  const live = sqlStatusList(LIVE_STATUSES);
  const ourDatabase = `l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
  const notLocked = mode.skipLocked
    ? `AND ${n.lockKey('d.run_id')} NOT IN (
         SELECT (l.classid::int8 << 32) | l.objid::int8 FROM pg_locks l
         WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted AND ${ourDatabase})`
    : '';
  const slotName = `d.flow_id || ':' || (c.ord - 1) || ':' || (c.v ->> 'key')`;
  // The two-int advisory locks held now, counted per first int, read once per call (only when a
  // due run has flow control): executing slots, and event-name locks, which never match a slot's key.
  const slotLocks = mode.skipLocked
    ? `WITH slot_locks AS MATERIALIZED (
        SELECT l.classid::int8 AS k, count(*) AS n FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted AND ${ourDatabase} GROUP BY 1)
    `
    : '';
  const executingFull = mode.skipLocked
    ? `COALESCE((SELECT s.n FROM slot_locks s WHERE s.k = (hashtext(${n.slotNamespace} || ${slotName})::int8 & 4294967295)), 0) >= (c.v ->> 'limit')::int`
    : `(${slotName}) IN (SELECT jsonb_array_elements_text($3::jsonb))`;
  const activeSlot = `s.flow_id = d.flow_id AND s.slot_key = (c.ord - 1) || ':' || (c.v ->> 'key')`;
  const admissible = `AND (d.flow_control_json IS NULL OR NOT EXISTS (
        SELECT 1 FROM jsonb_array_elements(COALESCE(d.flow_control_json -> 'concurrency', '[]')) WITH ORDINALITY AS c(v, ord)
        WHERE CASE WHEN c.v ->> 'scope' = 'active' THEN
            NOT EXISTS (SELECT 1 FROM ${n.concurrencySlots} s WHERE ${activeSlot} AND s.run_id = d.run_id)
            AND (SELECT count(*) FROM ${n.concurrencySlots} s JOIN ${n.runs} o ON o.run_id = s.run_id AND o.status IN (${live})
                 WHERE ${activeSlot}) >= (c.v ->> 'limit')::int
          ELSE ${executingFull} END))`;
  return `${slotLocks}SELECT d.run_id FROM (
      SELECT r.run_id, r.flow_id, r.flow_control_json, r.priority, r.created_at,
             (SELECT min(i.created_at) FROM ${n.inbox} i WHERE i.run_id = r.run_id) AS due_since FROM ${n.runs} r
      WHERE r.run_id IN (SELECT i.run_id FROM ${n.inbox} i)
        AND r.status IN (${live})
        AND ($2::jsonb IS NULL OR (r.flow_id || '@' || r.flow_version) IN (SELECT jsonb_array_elements_text($2::jsonb)))
      UNION ALL
      SELECT r.run_id, r.flow_id, r.flow_control_json, r.priority, r.created_at, COALESCE(r.next_attempt_at, r.updated_at) AS due_since
      FROM ${n.runs} r
      WHERE ((r.status = 'RUNNING' AND r.next_attempt_at IS NULL)
          OR (r.status IN (${live}) AND r.next_attempt_at <= (SELECT clock_timestamp())))
        AND ($2::jsonb IS NULL OR (r.flow_id || '@' || r.flow_version) IN (SELECT jsonb_array_elements_text($2::jsonb)))
        AND NOT EXISTS (SELECT 1 FROM ${n.inbox} i WHERE i.run_id = r.run_id)
      ORDER BY priority DESC, due_since, created_at, run_id
      OFFSET 0
    ) d
    WHERE true ${notLocked}
      ${admissible}
    LIMIT $1::int`;
}
