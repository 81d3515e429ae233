/**
 * `addToInbox`: an answer to one of a run's waits, written without the run's lock (a resume; an
 * event's or a child's end are written by `sendEvent` and the commit).
 *
 * From the run's row: an unknown run gets no entry (and no foreign-key error). An answer to a
 * wait goes in only while the branch still waits there — read FOR SHARE, so a commit of the run
 * in progress (one that may consume an earlier answer and end the wait) is waited for and the
 * condition checked again on the row it leaves. ON CONFLICT on (run_id, wait_id): of concurrent
 * answers to one wait, exactly one is inserted. The run is announced to sleeping workers.
 *
 * $1 run id, $2 kind, $3 wait id (null: an entry that answers no wait), $4 branch id, $5 payload
 * JSON. One row: `inserted` (0 when the wait already has an entry, is over, or the run does not
 * exist), `woke`.
 */
import type { SqlNames } from '../names.js';
import { quoteLiteral } from '../names.js';

export function addToInboxSql(n: SqlNames, mode: { notify: boolean }): string {
  return `WITH r AS (
      SELECT q.run_id FROM ${n.runs} q
      WHERE q.run_id = $1
        AND ($3::int IS NULL OR EXISTS (
          SELECT 1 FROM jsonb_array_elements(q.branches_json) b
          WHERE b ->> 'branchId' = $4 AND b ->> 'status' = 'WAITING' AND COALESCE((b ->> 'waitId')::int, 0) = $3::int
        ))
      FOR SHARE
    ), ins AS (
      INSERT INTO ${n.inbox} (run_id, kind, wait_id, branch_id, payload_json, created_at)
      SELECT r.run_id, $2, $3::int, $4, $5::jsonb, statement_timestamp() FROM r
      ON CONFLICT (run_id, wait_id) DO NOTHING
      RETURNING run_id
    ), woke AS (
      SELECT pg_notify(${quoteLiteral(n.wakeChannel)}, ins.run_id) FROM ins WHERE ${mode.notify}
    )
    SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT count(*) FROM woke)::int AS woke`;
}
