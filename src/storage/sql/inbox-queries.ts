/**
 * The SQL of the run's inbox and of events, outside a lease: answers written without the run's
 * lock, events sent and pruned, and the event-name locks that keep `sendEvent` and the waits a
 * commit registers from missing each other.
 *
 * Why the name locks: `sendEvent` reads the registered waits, a commit that parks a branch on an
 * event reads the stored events. Run concurrently, each could read before the other's rows are
 * committed, and the event would be lost. Both take the transaction-scoped advisory lock of the
 * event's name first, in a statement of its own (a statement's snapshot is taken before any lock
 * it takes itself), then do their work in the next statement, whose snapshot sees everything the
 * other committed. PGlite is one session running one statement at a time: no lock is needed there.
 *
 * An event's payload is stored once, in its flow_sent_events row: an inbox entry of an event
 * names it (`event_id`, `payload_json` NULL) and `getInbox` reads the payload from there. So an
 * event is pruned only once no entry names it, in two statements (see `lockPrunableEvents`).
 */
import type { SqlNames } from './names.js';
import { notifySql } from './run-queries.js';

export interface InboxQueries {
  /**
   * $1 runId, $2 kind, $3 waitId, $4 branchId, $5 payload JSON. One row: `inserted` (0 when the
   * wait already has an entry, or the run does not exist), `woke`.
   */
  addToInbox: string;
  /**
   * $1 runId: its entries in arrival order; an event's entry with the event
   * (`{eventId, name, key, payload}`, read from the sent event it names) as its payload.
   */
  getInbox: string;
  /**
   * $1 JSON array of `EventLock`s (see inbox-rows.ts): takes their transaction-scoped locks,
   * names before keys and each in key order (so two transactions never wait for each other),
   * exclusive where any asks for it, shared otherwise. One row: `locked` (how many).
   */
  lockEvents: string;
  /**
   * $1 eventId, $2 name, $3 key, $4 payload JSON. Run after `lockEvents` in the same
   * transaction. One row: `event_id`, `sent_at`, `delivered` (JSON array of
   * `{runId, branchId, waitId}`), `woke`.
   */
  sendEvent: string;
  /**
   * $1 before (timestamptz), $2 limit: locks (FOR UPDATE SKIP LOCKED) up to $2 of the events sent
   * before $1 that no inbox entry names, oldest first. Rows: `event_id`. Run in the transaction
   * of `deleteEvents`, which checks again with a snapshot taken after these locks.
   */
  lockPrunableEvents: string;
  /** $1 JSON array of event ids locked by `lockPrunableEvents`: deletes those no entry names. One row: `pruned`. */
  deleteEvents: string;
}

/** The statements a driver may prepare (served by unique indexes; see `preparableRunQueries`). */
export function preparableInboxQueries(q: InboxQueries): string[] {
  return [q.addToInbox, q.getInbox];
}

export function buildInboxQueries(names: SqlNames, opts: { notify: boolean }): InboxQueries {
  return {
    // From the run's row: an unknown run gets no entry (and no foreign-key error). An answer to a
    // wait goes in only while the branch still waits there — read FOR SHARE, so a commit of the
    // run in progress (one that may consume an earlier answer and end the wait) is waited for and
    // the condition checked again on the row it leaves. ON CONFLICT on (run_id, wait_id): of
    // concurrent answers to one wait, exactly one is inserted.
    addToInbox: `WITH r AS (
        SELECT q.run_id FROM ${names.runs} q
        WHERE q.run_id = $1
          AND ($3::int IS NULL OR EXISTS (
            SELECT 1 FROM jsonb_array_elements(q.branches_json) b
            WHERE b ->> 'branchId' = $4 AND b ->> 'status' = 'WAITING' AND COALESCE((b ->> 'waitId')::int, 0) = $3::int
          ))
        FOR SHARE
      ), ins AS (
        INSERT INTO ${names.inbox} (run_id, kind, wait_id, branch_id, payload_json, created_at)
        SELECT r.run_id, $2, $3::int, $4, $5::jsonb, statement_timestamp() FROM r
        ON CONFLICT (run_id, wait_id) DO NOTHING
        RETURNING run_id
      ), woke AS (
        ${notifySql(names, opts.notify, 'ins')}
      )
      SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT count(*) FROM woke)::int AS woke`,

    // An entry written before payloads were stored once holds its copy (event_id NULL).
    getInbox: `SELECT i.id, i.run_id, i.kind, i.wait_id, i.branch_id, i.created_at,
        CASE WHEN i.event_id IS NULL THEN i.payload_json
             ELSE jsonb_build_object('eventId', e.event_id, 'name', e.name, 'key', e.key, 'payload', e.payload_json) END AS payload_json
      FROM ${names.inbox} i LEFT JOIN ${names.sentEvents} e ON e.event_id = i.event_id
      WHERE i.run_id = $1 ORDER BY i.id`,

    // The locks, de-duplicated (exclusive wins) and sorted in a fenced subquery (OFFSET 0), are
    // taken in that order. A void function's result is cast to text: one row per lock, no void column.
    lockEvents: `SELECT count(*)::int AS locked FROM (
        SELECT l.ns, hashtext(l.h) AS key, bool_or(l.x) AS exclusive
        FROM jsonb_to_recordset($1::jsonb) AS l(ns int, h text, x boolean)
        GROUP BY l.ns, hashtext(l.h)
        ORDER BY l.ns, key OFFSET 0
      ) k, LATERAL (
        SELECT CASE WHEN k.exclusive
          THEN pg_advisory_xact_lock(CASE k.ns WHEN 1 THEN ${names.eventLockNamespace} ELSE ${names.eventKeyLockNamespace} END, k.key)::text
          ELSE pg_advisory_xact_lock_shared(CASE k.ns WHEN 1 THEN ${names.eventLockNamespace} ELSE ${names.eventKeyLockNamespace} END, k.key)::text
        END AS got
      ) g`,

    // Every registered wait for the name — with the event's key, or with no key — gets one entry
    // (a wait that already has one keeps it). sent_at is the database clock: a wait registered
    // later matches the event when it was sent at or after the waiting run's creation.
    sendEvent: `WITH sent AS (
        INSERT INTO ${names.sentEvents} (event_id, name, key, payload_json, sent_at)
        VALUES ($1, $2, $3, $4::jsonb, clock_timestamp())
        RETURNING event_id, name, key, sent_at
      ), current AS (
        -- Registered waits that are still current, read FOR SHARE as addToInbox does: a commit of
        -- the run in progress (one that may end the wait) is waited for, then checked again.
        SELECT w.run_id, w.wait_id, w.branch_id FROM sent
        JOIN ${names.eventWaits} w ON w.name = sent.name AND (w.key IS NULL OR w.key = sent.key)
        JOIN ${names.runs} r ON r.run_id = w.run_id
        WHERE EXISTS (
          SELECT 1 FROM jsonb_array_elements(r.branches_json) b
          WHERE b ->> 'branchId' = w.branch_id AND b ->> 'status' = 'WAITING' AND COALESCE((b ->> 'waitId')::int, 0) = w.wait_id
        )
        FOR SHARE OF r
      ), delivered AS (
        -- Each entry names the event: its payload is stored once, however many waits it reaches.
        INSERT INTO ${names.inbox} (run_id, kind, wait_id, branch_id, event_id, created_at)
        SELECT c.run_id, 'event', c.wait_id, c.branch_id, sent.event_id, statement_timestamp()
        FROM sent, current c
        ORDER BY c.run_id, c.wait_id
        ON CONFLICT (run_id, wait_id) DO NOTHING
        RETURNING run_id, branch_id, wait_id
      ), woken AS (
        SELECT DISTINCT run_id FROM delivered
      ), woke AS (
        ${notifySql(names, opts.notify, 'woken')}
      )
      SELECT sent.event_id, sent.sent_at,
        (SELECT COALESCE(jsonb_agg(jsonb_build_object('runId', d.run_id, 'branchId', d.branch_id, 'waitId', d.wait_id)
                                   ORDER BY d.run_id, d.branch_id, d.wait_id), '[]'::jsonb) FROM delivered d) AS delivered,
        (SELECT count(*) FROM woke)::int AS woke
      FROM sent`,

    // Why two statements: a commit that delivers a stored event to a wait it registers (its
    // `early` part, lease-queries.ts) locks the event FOR KEY SHARE first. An event it has locked
    // is skipped here; one it locked and named in an entry just before is seen named by
    // `deleteEvents`, whose snapshot is taken after these locks (a single statement's snapshot,
    // taken before its locks, would miss that entry); and a commit that comes after the lock
    // waits, then finds the event gone and takes the next one, if any.
    lockPrunableEvents: `SELECT e.event_id FROM ${names.sentEvents} e
      WHERE e.sent_at < $1::timestamptz AND NOT EXISTS (SELECT 1 FROM ${names.inbox} i WHERE i.event_id = e.event_id)
      ORDER BY e.sent_at LIMIT $2::int
      FOR UPDATE SKIP LOCKED`,

    deleteEvents: `WITH pruned AS (
        DELETE FROM ${names.sentEvents} e
        WHERE e.event_id IN (SELECT jsonb_array_elements_text($1::jsonb))
          AND NOT EXISTS (SELECT 1 FROM ${names.inbox} i WHERE i.event_id = e.event_id)
        RETURNING 1
      )
      SELECT count(*)::int AS pruned FROM pruned`,
  };
}
