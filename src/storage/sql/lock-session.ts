/**
 * The lock session of a pg store: every run lock this store holds lives on one connection of its
 * own, as a session advisory lock. Locks and unlocks are sent in batches — one statement for all
 * the requests that arrived while the previous statement was in flight — so a worker claiming
 * many runs, or letting go of many, pays one round trip, and a run in flight pins no connection.
 *
 * If the process dies, the connection dies and Postgres drops every lock with it at once. If the
 * connection alone is lost, so are its locks: the leases taken on it (its `generation`) are lost,
 * and refuse to commit from then on (StaleRunError); a new connection serves later requests.
 * Commits do not travel here: they go through the pool, grouped (statement-group.ts), fenced by
 * version — the fence, not the lock, is what makes a stale holder's commit harmless.
 */
import { StorageError } from '../../errors.js';
import type { SqlRow, SqlSession } from './executor.js';

/** A granted lock: the run as read after it was granted, and the session it lives on. */
export interface LockGrant {
  row: SqlRow;
  generation: number;
}

/** Most lock requests in one statement. */
const MAX_LOCKS_PER_STATEMENT = 256;

interface LockRequest {
  runId: string;
  onlyIfDue: boolean;
  resolve(grant: LockGrant | null): void;
  reject(err: unknown): void;
}

interface UnlockRequest {
  runId: string;
  generation: number;
  /** NOTIFY the run's wake-up once it is unlocked. */
  wake: boolean;
  /** Executing-scope concurrency slot locks (`[k1, k2]`) taken with the run's lock (lock-runs.ts), let go with it. */
  slots: unknown[] | null;
  resolve(): void;
}

export class LockSession {
  private session: SqlSession | null = null;
  private generation = 0;
  /**
   * Runs locked, or being locked, by this session: a second request for one is refused at once.
   * Advisory locks are re-entrant within a session — Postgres would grant it — and two holders in
   * one process must exclude each other as two processes do.
   */
  private readonly claimed = new Set<string>();
  private locks: LockRequest[] = [];
  private unlocks: UnlockRequest[] = [];
  private flushing = false;
  private closed = false;

  constructor(
    /** A dedicated connection (the executor's `hold`). */
    private readonly connect: () => Promise<SqlSession>,
    /** Where its two statements come from (read when used: the lock statement depends on the schema, known at init). */
    private readonly statements: { readonly lockRunsStatement: string; readonly sql: { readonly unlockRuns: string } },
  ) {}

  /** Locks run `runId` (only if it is due, with `onlyIfDue`); null when it is held — here or elsewhere — or not due. */
  lock(runId: string, onlyIfDue: boolean): Promise<LockGrant | null> {
    // Refused without a round trip, but never within the same turn of the event loop: a caller
    // retrying in a loop must not starve the I/O that would free the run.
    if (this.closed || this.claimed.has(runId)) return new Promise((resolve) => setImmediate(() => resolve(null)));
    this.claimed.add(runId);
    return new Promise<LockGrant | null>((resolve, reject) => {
      this.locks.push({ runId, onlyIfDue, resolve, reject });
      this.kick();
    });
  }

  /**
   * Lets go of a lock granted in `generation` and, with `wake`, then wakes the workers for the run
   * (in the same statement: a worker woken finds the lock free). Never fails: a lock it cannot let
   * go of goes with its connection.
   */
  unlock(runId: string, generation: number, wake: boolean, slots: unknown[] | null = null): Promise<void> {
    if (!wake && (generation !== this.generation || this.session === null)) {
      this.claimed.delete(runId); // that session is gone, and its locks with it
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.unlocks.push({ runId, generation, wake, slots, resolve });
      this.kick();
    });
  }

  /** The locks of `generation` are gone (its connection was lost or replaced). */
  lost(generation: number): boolean {
    return generation !== this.generation || this.session === null || this.session.lost === true;
  }

  /** Drops the connection, and every lock with it. */
  async close(): Promise<void> {
    this.closed = true;
    for (const r of this.locks.splice(0)) r.resolve(null);
    await this.discard();
  }

  private kick(): void {
    if (this.flushing) return; // the flush in progress takes it in its next statement
    this.flushing = true;
    // At the next turn of the event loop: the requests made meanwhile (a worker locking every
    // free slot's run at once) go in the same statement.
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    try {
      while (this.unlocks.length > 0 || this.locks.length > 0) {
        if (this.unlocks.length > 0) await this.sendUnlocks(this.unlocks.splice(0));
        else await this.sendLocks(this.locks.splice(0, MAX_LOCKS_PER_STATEMENT));
      }
    } finally {
      this.flushing = false;
    }
  }

  /** The live connection, a new one (a new generation) when it was lost. */
  private async connected(): Promise<SqlSession> {
    // Never a new connection after close(): it would hold the pool open.
    if (this.closed) throw new StorageError('STORAGE_CLOSED', 'The flow storage was closed');
    if (this.session !== null && this.session.lost !== true) return this.session;
    await this.discard();
    this.session = await this.connect();
    return this.session;
  }

  /** Destroys the connection (never pooled again: it may hold locks) and starts a new generation. */
  private async discard(): Promise<void> {
    const session = this.session;
    this.session = null;
    this.generation += 1;
    await session?.release(true).catch(() => undefined);
  }

  private async sendLocks(batch: LockRequest[]): Promise<void> {
    let rows: SqlRow[];
    try {
      const session = await this.connected();
      const asked = batch.map((r) => ({ run_id: r.runId, only_if_due: r.onlyIfDue }));
      rows = await session.query(this.statements.lockRunsStatement, [JSON.stringify(asked)]);
    } catch (err) {
      // A session lock taken by a statement that then failed stays held: only dropping the
      // connection surely frees it (and, with it, every other lease's lock: they turn stale).
      await this.discard();
      for (const r of batch) {
        this.claimed.delete(r.runId);
        r.reject(err);
      }
      return;
    }
    const granted = new Map<string, SqlRow>();
    for (const row of rows) if (row.locked === true) granted.set(row.asked as string, row);
    for (const r of batch) {
      const row = granted.get(r.runId);
      if (row) {
        r.resolve({ row, generation: this.generation });
      } else {
        this.claimed.delete(r.runId);
        r.resolve(null);
      }
    }
  }

  private async sendUnlocks(batch: UnlockRequest[]): Promise<void> {
    // A lock of an older session is gone with it; its wake-up is still owed.
    const asked = batch.map((r) => ({ run_id: r.runId, unlock: r.generation === this.generation && this.session !== null, wake: r.wake, slots: r.slots }));
    if (asked.some((r) => r.unlock || r.wake)) {
      try {
        const session = asked.some((r) => r.unlock) ? this.session! : await this.connected();
        await session.query(this.statements.sql.unlockRuns, [JSON.stringify(asked)]);
      } catch {
        // Could not unlock (connection lost?): dropping the connection frees the locks for sure
        // (a wake-up lost with it is made up by the workers' next poll).
        await this.discard();
      }
    }
    for (const r of batch) {
      this.claimed.delete(r.runId);
      r.resolve();
    }
  }
}
