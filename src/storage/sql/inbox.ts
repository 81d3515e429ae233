/**
 * The run's inbox and events on the SQL store: answers written without the run's lock, events
 * sent under the lock of their name (see statements/lock-events.ts), and the wake-ups they owe. The SQL
 * lives in statements/; the store's `FlowStorage` methods delegate here.
 */
import type { InboxEntry, NewFlowEvent, NewInboxEntry, SentEvent } from '../types.js';
import type { SqlExecutor } from './executor.js';
import type { Statements } from './statements/index.js';
import { sendEventLocks, toInboxEntry, toSentEvent, type InboxRow, type SentEventRow } from './inbox-rows.js';
import type { LockMode } from './lock-modes.js';
import type { WakeHub } from './wake.js';

export class SqlInbox {
  constructor(
    private readonly executor: SqlExecutor,
    private readonly sql: Statements,
    private readonly wake: WakeHub,
    /** Where an event's name is locked while it is sent (lock-modes.ts). */
    private readonly locks: Pick<LockMode, 'underEventLocks'>,
  ) {}

  async add(entry: NewInboxEntry): Promise<boolean> {
    const params = [entry.runId, entry.kind, entry.waitId, entry.branchId, entry.payload];
    return this.wake.announcing(
      entry.runId,
      async () => Number((await this.executor.query(this.sql.addToInbox, params))[0]?.inserted ?? 0) > 0,
      (taken) => (taken ? [entry.runId] : []),
    );
  }

  async list(runId: string): Promise<InboxEntry[]> {
    return (await this.executor.query<InboxRow>(this.sql.getInbox, [runId])).map(toInboxEntry);
  }

  async send(event: NewFlowEvent): Promise<SentEvent> {
    const params = [event.eventId, event.name, event.key, event.payload];
    return this.wake.announcing(
      null,
      async () => toSentEvent((await this.locks.underEventLocks(sendEventLocks(event.name, event.key), this.sql.sendEvent, params))[0] as SentEventRow),
      (sent) => sent.delivered.map((d) => d.runId),
    );
  }

  /** One batch: the events no inbox entry names are locked, then deleted (see `lockPrunableEvents`). */
  async prune(before: Date, limit: number): Promise<number> {
    const n = Math.max(0, Math.floor(limit));
    if (n === 0) return 0;
    return this.executor.transaction(async (tx) => {
      const doomed = await tx.query<{ event_id: string }>(this.sql.lockPrunableEvents, [before.toISOString(), n]);
      if (doomed.length === 0) return 0;
      const [row] = await tx.query(this.sql.deleteEvents, [JSON.stringify(doomed.map((r) => r.event_id))]);
      return Number(row?.pruned ?? 0);
    });
  }
}
