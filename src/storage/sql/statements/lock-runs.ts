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
 * $1 a JSON array of `{run_id, only_if_due}`. Rows: `asked` (the run id), `locked`, and the run
 * as read (`RunReadRow`, rows.ts; NULLs when it was not locked or does not exist).
 */
import { dueSql } from '../../due.js';
import type { SqlNames } from '../names.js';
import { hasInboxSql, outputsSql, runReadSql } from '../rows.js';

export function lockRunsSql(n: SqlNames, mode: { freshReadFn: boolean }): string {
  const read = mode.freshReadFn
    ? `LEFT JOIN LATERAL ${n.freshRunFn}(ids.run_id, l.locked) r ON true`
    : `LEFT JOIN ${n.runs} r ON l.locked AND r.run_id = ids.run_id`;
  const columns = runReadSql(n, 'r', { outputs: outputsSql(n, 'r', mode.freshReadFn), inbox: hasInboxSql(n, 'r', mode.freshReadFn) });
  return `SELECT ids.run_id AS asked, l.locked, ${columns}
    FROM jsonb_to_recordset($1::jsonb) AS ids(run_id text, only_if_due boolean)
    CROSS JOIN LATERAL (
      SELECT pg_try_advisory_lock(${n.lockKey('ids.run_id')}) AS locked
      WHERE NOT ids.only_if_due OR EXISTS (
        SELECT 1 FROM ${n.runs} q WHERE q.run_id = ids.run_id AND ${dueSql('q', 'clock_timestamp()', hasInboxSql(n, 'q'))})
      OFFSET 0
    ) l
    ${read}`;
}
