/**
 * `getInbox`: a run's inbox, in arrival order, for its holder. An event's entry names the sent
 * event (its payload is stored once, there) and is read with it as `{eventId, name, key,
 * payload}`; an entry written before payloads were stored once holds its own copy (event_id NULL).
 *
 * $1 run id. Rows: `id, run_id, kind, wait_id, branch_id, created_at, payload_json`.
 */
import type { SqlNames } from '../names.js';

export function getInboxSql(n: SqlNames): string {
  return `SELECT i.id, i.run_id, i.kind, i.wait_id, i.branch_id, i.created_at,
      CASE WHEN i.event_id IS NULL THEN i.payload_json
           ELSE jsonb_build_object('eventId', e.event_id, 'name', e.name, 'key', e.key, 'payload', e.payload_json) END AS payload_json
    FROM ${n.inbox} i LEFT JOIN ${n.sentEvents} e ON e.event_id = i.event_id
    WHERE i.run_id = $1 ORDER BY i.id`;
}
