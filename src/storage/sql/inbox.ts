/**
 * The run's inbox and events on the SQL store: answers written without the run's lock, events
 * sent under the lock of their name (see inbox-queries.ts), and the wake-ups they owe. The SQL
 * lives in inbox-queries.ts; the store's `FlowStorage` methods delegate here.
 */
import type { InboxEntry, NewFlowEvent, NewInboxEntry, SentEvent } from '../types.js';
import type { SqlExecutor, SqlParam, SqlRow } from './executor.js';
import type { InboxQueries } from './inbox-queries.js';
import { sendEventLocks, toInboxEntry, toSentEvent } from './inbox-rows.js';
import type { WakeHub } from './wake.js';

export class SqlInbox {
  constructor(
    private readonly executor: SqlExecutor,
    private readonly queries: InboxQueries,
    private readonly wake: WakeHub,
    /** False for PGlite: one session running one statement at a time, where no lock is needed. */
    private readonly sharedDatabase: boolean,
  ) {}

  /**
   * `sql` (a commit, or `sendEvent`) in one transaction after the event locks (a JSON
   * array of `EventLock`): a statement of their own, so that the snapshot of `sql` sees what the transaction that
   * held them last committed.
   */
  queryUnderEventLocks(locks: string, sql: string, params: readonly SqlParam[]): Promise<SqlRow[]> {
    if (!this.sharedDatabase) return this.executor.query(sql, params);
    return this.executor.transaction(async (tx) => {
      await tx.query(this.queries.lockEvents, [locks]);
      return tx.query(sql, params);
    });
  }

  async add(entry: NewInboxEntry): Promise<boolean> {
    this.wake.expectLocal(entry.runId);
    const [row] = await this.executor.query(this.queries.addToInbox, [entry.runId, entry.kind, entry.waitId, entry.branchId, entry.payload]);
    const inserted = Number(row?.inserted ?? 0) > 0;
    if (inserted) this.wake.emitLocal(entry.runId);
    else this.wake.unexpectLocal(entry.runId);
    return inserted;
  }

  async list(runId: string): Promise<InboxEntry[]> {
    return (await this.executor.query(this.queries.getInbox, [runId])).map(toInboxEntry);
  }

  async send(event: NewFlowEvent): Promise<SentEvent> {
    const params = [event.eventId, event.name, event.key, event.payload];
    const [row] = await this.queryUnderEventLocks(sendEventLocks(event.name, event.key), this.queries.sendEvent, params);
    const sent = toSentEvent(row!);
    for (const runId of new Set(sent.delivered.map((d) => d.runId))) this.wake.emitLocal(runId);
    return sent;
  }

  async prune(before: Date, limit: number): Promise<number> {
    const n = Math.max(0, Math.floor(limit));
    if (n === 0) return 0;
    const [row] = await this.executor.query(this.queries.pruneEvents, [before.toISOString(), n]);
    return Number(row?.pruned ?? 0);
  }
}
