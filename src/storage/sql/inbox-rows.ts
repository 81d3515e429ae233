/**
 * Row <-> record conversion for the inbox and events of the SQL store, and the JSON array texts
 * in which a transition's inbox parts travel (one parameter each, as `eventsJson` in rows.ts).
 */
import type { EventWait, InboxEntry, SentEvent, Transition } from '../types.js';
import type { SqlRow } from './executor.js';

const TERMINAL_STATUSES = ['COMPLETED', 'FAILED', 'CANCELLED'] as const;

/** A commit that makes the run COMPLETED, FAILED or CANCELLED (see the terminal-run rule in lease-queries.ts). */
export function endsRun(t: Transition): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(t.update.status);
}

export function toInboxEntry(row: SqlRow): InboxEntry {
  return {
    // BIGSERIAL: a string from pg, a bigint from Prisma; far below 2^53 in any real inbox.
    id: Number(row.id),
    runId: row.run_id as string,
    kind: row.kind as InboxEntry['kind'],
    waitId: row.wait_id === null || row.wait_id === undefined ? null : Number(row.wait_id),
    branchId: (row.branch_id as string | null) ?? null,
    payload: row.payload_json,
    createdAt: row.created_at instanceof Date ? row.created_at : new Date(String(row.created_at)),
  };
}

/** The row of `sendEvent`: `event_id`, `sent_at`, `delivered` (a JSON array of `{runId, branchId, waitId}`). */
export function toSentEvent(row: SqlRow): SentEvent {
  return {
    eventId: row.event_id as string,
    delivered: (row.delivered as SentEvent['delivered'] | null) ?? [],
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
 * The distinct event names of the waits a commit registers, as a JSON array, or null when it
 * registers none: such a commit takes their locks first (see `lockEventNames`).
 */
export function eventNamesToLock(t: Transition): string | null {
  if (!t.addWaits || t.addWaits.length === 0 || endsRun(t)) return null;
  return JSON.stringify([...new Set(t.addWaits.map((w) => w.name))]);
}
