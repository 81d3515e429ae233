/**
 * `lockRuns` (session mode: the store's lock session, see lock-session.ts): `pg_try_advisory_lock`
 * on each run asked for, and its read, in one statement for all the lock requests of the moment.
 *
 * With `only_if_due` the lock is only tried on a run that is due (the rule of storage/due.ts) by
 * the statement's snapshot: a run that is not is never held, not even for the statement, and gets
 * no row. The locked row is read by `flow_run_fresh`, its outputs by `flow_run_outputs` and
 * `has_inbox` by `flow_run_has_inbox` — volatile functions, so their snapshots are taken AFTER the
 * lock is granted: a plain join would read with the statement's snapshot, taken before the lock,
 * and could miss the commit of the holder that just let go. Tables made by someone else's
 * migrations lack those functions: `freshReadFn: false` reads them plainly (the commit fence still
 * catches a stale row, but not stale outputs).
 *
 * A run with flow control (`flow_control_json`) is admitted under its limits by `flow_admit_run`
 * (the flow_control migration) once its lock is granted: executing slots are session locks taken
 * here, beside the run's own; a refused run's locks are let go by the function, and it gets no
 * row (`locked` false). Runs without flow control never call it.
 *
 * $1 a JSON array of `{run_id, only_if_due}`. Rows: `asked` (the run id), `locked`, `admit` (what
 * `flow_admit_run` said, null without flow control) and the run as read (`RunReadRow`, rows.ts;
 * NULLs when it was not locked or does not exist).
 */
import { dueSql } from '../../due.js';
import type { SqlNames } from '../names.js';
import { hasInboxSql, outputsSql, runReadSql } from '../rows.js';

export function lockRunsSql(n: SqlNames, mode: { freshReadFn: boolean }): string {
  const read = mode.freshReadFn
    ? `LEFT JOIN LATERAL ${n.freshRunFn}(ids.run_id, l.locked) r ON true`
    : `LEFT JOIN ${n.runs} r ON l.locked AND r.run_id = ids.run_id`;
  const columns = runReadSql(n, 'r', { outputs: outputsSql(n, 'r', mode.freshReadFn), inbox: hasInboxSql(n, 'r', mode.freshReadFn) });
  return `SELECT ids.run_id AS asked, l.locked, l.admit, ${columns}
    FROM jsonb_to_recordset($1::jsonb) AS ids(run_id text, only_if_due boolean)
    CROSS JOIN LATERAL (
      SELECT pg_try_advisory_lock(${n.lockKey('ids.run_id')}) AS locked
      WHERE NOT ids.only_if_due OR EXISTS (
        SELECT 1 FROM ${n.runs} q WHERE q.run_id = ids.run_id AND ${dueSql('q', 'clock_timestamp()', hasInboxSql(n, 'q'))})
      OFFSET 0
    ) l0
    CROSS JOIN LATERAL (
      SELECT a.admit, l0.locked AND COALESCE((a.admit ->> 'ok')::boolean, true) AS locked
      FROM (SELECT CASE WHEN l0.locked AND EXISTS (SELECT 1 FROM ${n.runs} c WHERE c.run_id = ids.run_id AND c.flow_control_json IS NOT NULL)
                   THEN ${n.admitRunFn}(ids.run_id, ${n.slotNamespace}, 'session', true, ${n.lockKey('ids.run_id')}) END AS admit OFFSET 0) a
    ) l
    ${read}`;
}
