/**
 * One batch of the event prune: events sent before a time that no inbox entry names (a delivery
 * not yet applied), in two statements of one transaction.
 *
 * Why two: a commit that delivers a stored event to a wait it registers (its `early` part, see
 * commit.ts) locks the event FOR KEY SHARE first. An event it has locked is skipped by
 * `lockPrunableEvents`; one it locked and named in an entry just before is seen named by
 * `deleteEvents`, whose snapshot is taken after these locks (a single statement's snapshot, taken
 * before its locks, would miss that entry); and a commit that comes after the lock waits, then
 * finds the event gone and takes the next one, if any.
 */
import type { SqlNames } from '../names.js';

/** $1 before (timestamptz), $2 limit: locks up to $2 prunable events, oldest first. Rows: `event_id`. */
export function lockPrunableEventsSql(n: SqlNames): string {
  return `SELECT e.event_id FROM ${n.sentEvents} e
    WHERE e.sent_at < $1::timestamptz AND NOT EXISTS (SELECT 1 FROM ${n.inbox} i WHERE i.event_id = e.event_id)
    ORDER BY e.sent_at LIMIT $2::int
    FOR UPDATE SKIP LOCKED`;
}

/** $1 a JSON array of the event ids `lockPrunableEvents` locked: deletes those no entry names. One row: `pruned`. */
export function deleteEventsSql(n: SqlNames): string {
  return `WITH pruned AS (
      DELETE FROM ${n.sentEvents} e
      WHERE e.event_id IN (SELECT jsonb_array_elements_text($1::jsonb))
        AND NOT EXISTS (SELECT 1 FROM ${n.inbox} i WHERE i.event_id = e.event_id)
      RETURNING 1
    )
    SELECT count(*)::int AS pruned FROM pruned`;
}
