/**
 * `unlockRuns` (session mode): lets go of the advisory locks of the runs named, then NOTIFYs those
 * to wake — delivered when the statement ends, so a worker woken by it finds the run's lock
 * already free (the NOTIFY CTE reads the count of `unlocked`, which orders it after the unlocks).
 *
 * A run admitted under executing-scope concurrency limits holds slot locks beside its own
 * (`slots`: `[k1, k2]` pairs, see lock-runs.ts): they are let go with it.
 *
 * $1 a JSON array of `{run_id, unlock, wake, slots?}`. One row: `unlocked`, `woke` (counts).
 */
import type { SqlNames } from '../names.js';
import { quoteLiteral } from '../names.js';

export function unlockRunsSql(n: SqlNames, mode: { notify: boolean }): string {
  return `WITH ids AS MATERIALIZED (SELECT * FROM jsonb_to_recordset($1::jsonb) AS ids(run_id text, unlock boolean, wake boolean, slots jsonb)),
    unlocked AS MATERIALIZED (
      SELECT ids.run_id, CASE WHEN ids.unlock THEN pg_advisory_unlock(${n.lockKey('ids.run_id')}) END AS unlocked,
             CASE WHEN ids.unlock AND ids.slots IS NOT NULL THEN
               (SELECT count(*) FROM jsonb_array_elements(ids.slots) AS p WHERE pg_advisory_unlock((p ->> 0)::int, (p ->> 1)::int)) END AS slots
      FROM ids),
    woke AS (
      SELECT pg_notify(${quoteLiteral(n.wakeChannel)}, ids.run_id) FROM ids
      WHERE ${mode.notify} AND ids.wake AND (SELECT count(*) FROM unlocked) >= 0
    )
    SELECT (SELECT count(*) FROM unlocked)::int AS unlocked, (SELECT count(*) FROM woke)::int AS woke`;
}
