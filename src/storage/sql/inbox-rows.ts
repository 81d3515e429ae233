/**
 * Row <-> record conversion for the inbox and events of the SQL store, and the JSON array texts
 * in which a transition's inbox parts travel (one parameter each, as `eventsJson` in rows.ts).
 */
import { isFinished } from '../../core/states.js';
import type { EventWait, InboxEntry, SentEvent, Transition } from '../types.js';

/** A commit that finishes the run (COMPLETED, FAILED or CANCELLED: see the terminal-run rule in statements/commit.ts). */
export function endsRun(t: Transition): boolean {
  return isFinished(t.update.status);
}

/** An entry of a run's inbox (statements/get-inbox.ts). */
export type InboxRow = {
  /** BIGSERIAL: a string from pg, a bigint from Prisma; far below 2^53 in any real inbox. */
  id: string | number | bigint;
  run_id: string;
  kind: InboxEntry['kind'];
  wait_id: number | null;
  branch_id: string | null;
  payload_json: unknown;
  created_at: Date;
};

/** The row of `sendEvent` (statements/send-event.ts). */
export type SentEventRow = { event_id: string; sent_at: Date; delivered: SentEvent['delivered'] | null };

export function toInboxEntry(row: InboxRow): InboxEntry {
  return {
    id: Number(row.id),
    runId: row.run_id,
    kind: row.kind,
    waitId: row.wait_id === null || row.wait_id === undefined ? null : Number(row.wait_id),
    branchId: row.branch_id ?? null,
    payload: row.payload_json,
    createdAt: row.created_at instanceof Date ? row.created_at : new Date(String(row.created_at)),
  };
}

export function toSentEvent(row: SentEventRow): SentEvent {
  return {
    eventId: row.event_id,
    delivered: row.delivered ?? [],
    sentAt: row.sent_at instanceof Date ? row.sent_at : new Date(String(row.sent_at)),
  };
}

/** `consumeInbox` as a JSON array of ids (numbers only: anything else fails the cast in SQL). */
export function inboxIdsJson(ids: readonly number[] | undefined): string {
  return ids && ids.length > 0 ? JSON.stringify(ids.map((id) => Math.trunc(Number(id)))) : '[]';
}

/** `addWaits` as a JSON array of `{branch_id, wait_id, name, key}`. */
export function addWaitsJson(waits: readonly EventWait[] | undefined): string {
  if (!waits || waits.length === 0) return '[]';
  return JSON.stringify(waits.map((w) => ({ branch_id: w.branchId, wait_id: Math.trunc(w.waitId), name: w.name, key: w.key ?? null })));
}

/** `endWaits` as a JSON array of `{branch_id, wait_id}`. */
export function endWaitsJson(waits: Transition['endWaits']): string {
  if (!waits || waits.length === 0) return '[]';
  return JSON.stringify(waits.map((w) => ({ branch_id: w.branchId, wait_id: Math.trunc(w.waitId) })));
}

/** `receipts` (event ids) as a JSON array. */
export function receiptsJson(eventIds: readonly string[] | undefined): string {
  return eventIds && eventIds.length > 0 ? JSON.stringify(eventIds) : '[]';
}

/**
 * One advisory lock taken before an event is sent or a wait is registered, so that neither can
 * miss the other (see statements/lock-events.ts): `ns` 1 is an event name, 2 a (name, key)
 * pair (`h` is what is hashed); `x` exclusive, else shared. The rule:
 * - sending `name`/`key`: shared on the name, and shared on (name, key) when there is a key;
 * - a wait for `name` with any key: exclusive on the name (it matches every send of the name);
 * - a wait for `name`/`key`: shared on the name, exclusive on (name, key).
 * So sends never wait for each other, and a wait waits only for the sends it could match.
 */
export interface EventLock {
  ns: 1 | 2;
  h: string;
  x: boolean;
}

const nameLock = (name: string, exclusive: boolean): EventLock => ({ ns: 1, h: name, x: exclusive });
const keyLock = (name: string, key: string, exclusive: boolean): EventLock => ({ ns: 2, h: JSON.stringify([name, key]), x: exclusive });

/** The locks of sending an event, as `lockEvents`' parameter. */
export function sendEventLocks(name: string, key: string | null): string {
  return JSON.stringify(key === null ? [nameLock(name, false)] : [nameLock(name, false), keyLock(name, key, false)]);
}

/** The locks of the waits a commit registers, as `lockEvents`' parameter, or null when it registers none. */
export function waitLocks(t: Transition): string | null {
  if (!t.addWaits || t.addWaits.length === 0 || endsRun(t)) return null;
  return JSON.stringify(t.addWaits.flatMap((w) => (w.key === null ? [nameLock(w.name, true)] : [nameLock(w.name, false), keyLock(w.name, w.key, true)])));
}
