/**
 * `lockEvents`: the event-name locks that keep `sendEvent` and the waits a commit registers from
 * missing each other (the rule of which lock each takes: inbox-rows.ts `EventLock`).
 *
 * Why: `sendEvent` reads the registered waits, a commit that parks a branch on an event reads the
 * stored events. Run concurrently, each could read before the other's rows are committed, and the
 * event would be lost. Both take the transaction-scoped advisory locks of the event's name first,
 * in this statement of its own (a statement's snapshot is taken before any lock it takes itself),
 * then do their work in the next statement, whose snapshot sees everything the other committed.
 * PGlite is one session running one statement at a time: no lock is needed there.
 *
 * The locks, de-duplicated (exclusive wins) and sorted in a fenced subquery (OFFSET 0), are taken
 * in that order — names before keys, each in key order — so two transactions never wait for each
 * other in a cycle. A void function's result is cast to text: one row per lock, no void column.
 *
 * $1 a JSON array of `EventLock`s. One row: `locked` (how many).
 */
import type { SqlNames } from '../names.js';

export function lockEventsSql(n: SqlNames): string {
  return `SELECT count(*)::int AS locked FROM (
      SELECT l.ns, hashtext(l.h) AS key, bool_or(l.x) AS exclusive
      FROM jsonb_to_recordset($1::jsonb) AS l(ns int, h text, x boolean)
      GROUP BY l.ns, hashtext(l.h)
      ORDER BY l.ns, key OFFSET 0
    ) k, LATERAL (
      SELECT CASE WHEN k.exclusive
        THEN pg_advisory_xact_lock(CASE k.ns WHEN 1 THEN ${n.eventLockNamespace} ELSE ${n.eventKeyLockNamespace} END, k.key)::text
        ELSE pg_advisory_xact_lock_shared(CASE k.ns WHEN 1 THEN ${n.eventLockNamespace} ELSE ${n.eventKeyLockNamespace} END, k.key)::text
      END AS got
    ) g`;
}
