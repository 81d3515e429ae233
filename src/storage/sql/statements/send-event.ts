/**
 * `sendEvent`: stores an event and puts it in the inbox of every registered wait for its name —
 * with the event's key, or with no key — that is still current; a wait that already has an entry
 * keeps it. Each entry names the event: its payload is stored once, however many waits it reaches.
 * `sent_at` is the database clock: a wait registered later matches the event when it was sent at
 * or after the waiting run's creation (the commit's `early` part). Run after `lockEvents` in the
 * same transaction. The runs delivered to are announced to sleeping workers.
 *
 * $1 event id, $2 name, $3 key (null: none), $4 payload JSON. One row: `event_id`, `sent_at`,
 * `delivered` (a JSON array of `{runId, branchId, waitId}`), `woke`.
 */
import type { SqlNames } from '../names.js';
import { quoteLiteral } from '../names.js';

export function sendEventSql(n: SqlNames, mode: { notify: boolean }): string {
  return `WITH sent AS (
      INSERT INTO ${n.sentEvents} (event_id, name, key, payload_json, sent_at)
      VALUES ($1, $2, $3, $4::jsonb, clock_timestamp())
      RETURNING event_id, name, key, sent_at
    ), current AS (
      -- Registered waits that are still current, read FOR SHARE as addToInbox does: a commit of
      -- the run in progress (one that may end the wait) is waited for, then checked again.
      SELECT w.run_id, w.wait_id, w.branch_id FROM sent
      JOIN ${n.eventWaits} w ON w.name = sent.name AND (w.key IS NULL OR w.key = sent.key)
      JOIN ${n.runs} r ON r.run_id = w.run_id
      WHERE EXISTS (
        SELECT 1 FROM jsonb_array_elements(r.branches_json) b
        WHERE b ->> 'branchId' = w.branch_id AND b ->> 'status' = 'WAITING' AND COALESCE((b ->> 'waitId')::int, 0) = w.wait_id
      )
      FOR SHARE OF r
    ), delivered AS (
      INSERT INTO ${n.inbox} (run_id, kind, wait_id, branch_id, event_id, created_at)
      SELECT c.run_id, 'event', c.wait_id, c.branch_id, sent.event_id, statement_timestamp()
      FROM sent, current c
      ORDER BY c.run_id, c.wait_id
      ON CONFLICT (run_id, wait_id) DO NOTHING
      RETURNING run_id, branch_id, wait_id
    ), woke AS (
      SELECT pg_notify(${quoteLiteral(n.wakeChannel)}, d.run_id) FROM (SELECT DISTINCT run_id FROM delivered) d WHERE ${mode.notify}
    )
    SELECT sent.event_id, sent.sent_at,
      (SELECT COALESCE(jsonb_agg(jsonb_build_object('runId', d.run_id, 'branchId', d.branch_id, 'waitId', d.wait_id)
                                 ORDER BY d.run_id, d.branch_id, d.wait_id), '[]'::jsonb) FROM delivered d) AS delivered,
      (SELECT count(*) FROM woke)::int AS woke
    FROM sent`;
}
