/**
 * `wakeRun`: tells sleeping workers (NOTIFY) that a run just let go has work left — sent once its
 * lock is free, in the modes whose unlock cannot carry it (see `SqlLease.release`).
 * $1 run id. One row: `woke`.
 */
import type { SqlNames } from '../names.js';
import { quoteLiteral } from '../names.js';

export function wakeRunSql(n: SqlNames, mode: { notify: boolean }): string {
  return `WITH wake AS (SELECT $1::text AS run_id),
    woke AS (SELECT pg_notify(${quoteLiteral(n.wakeChannel)}, wake.run_id) FROM wake WHERE ${mode.notify})
    SELECT (SELECT count(*) FROM woke)::int AS woke`;
}
