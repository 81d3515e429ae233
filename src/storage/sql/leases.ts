/**
 * Run leases of the SQL store, one per lock mode (see `LockMode` in executor.ts):
 * - `SessionLease` (pg): session advisory lock on a dedicated connection; lock, commits and
 *   unlock all travel on it, and a commit with `release` lets go in its own statement.
 * - `TransactionLease` (Prisma): transaction advisory lock in a transaction held open for the
 *   lease; commits go through the client's other connections; ending the transaction unlocks.
 * - `ProcessLease` (PGlite): an entry in the store's in-process lock table.
 * If the process dies, the connection dies and Postgres drops the lock with it.
 */
import { StaleRunError } from '../../errors.js';
import type { FlowRunRecord, RunLease, Transition } from '../types.js';
import type { SqlParam, SqlRow, SqlRunner, SqlSession } from './executor.js';
import type { InboxQueries } from './inbox-queries.js';
import { waitLocks } from './inbox-rows.js';
import { COMMIT_ERROR_PARAM, commitApplied, commitParams, type LeaseQueries } from './lease-queries.js';
import { toCommittedRecord, toRunRecord, withWrittenOutputs } from './rows.js';
import type { RunQueries } from './run-queries.js';

/** What a lease needs from its store. */
export interface LeaseHost {
  /** The store's own statements (through its pool): a released lease's reads go here. */
  readonly executor: SqlRunner;
  readonly leaseQueries: LeaseQueries;
  readonly runQueries: RunQueries;
  readonly inboxQueries: InboxQueries;
  /** Maps any failure to a typed error (StorageError; FlowErrors pass through). */
  fail(err: unknown, what: string): Error;
  /** A commit that NOTIFYs is about to be sent: skip its echo. */
  expectWake(runId: string): void;
  /** A commit asked for a wake-up: tell this process's listeners. */
  wakeLocal(runId: string): void;
  /** The lease ended (for the store's table of held leases). */
  leaseEnded(lease: SqlLease): void;
  /** A commit that registers event waits: in one transaction after the locks of their names (see inbox-queries.ts). */
  queryUnderEventLocks(locks: string, sql: string, params: readonly SqlParam[]): Promise<SqlRow[]>;
}

/** The run after a `commitFull`: its row, with the outputs the commit wrote over the ones read before it. */
function committedFull(row: Record<string, unknown>, t: Transition): FlowRunRecord {
  const run = toRunRecord(row);
  run.outputsJson = withWrittenOutputs(run.outputsJson, t.values);
  return run;
}

export abstract class SqlLease implements RunLease {
  protected current: FlowRunRecord | null;
  protected released = false;

  constructor(
    protected readonly host: LeaseHost,
    readonly runId: string,
    run: FlowRunRecord | null,
  ) {
    this.current = run;
  }

  get run(): FlowRunRecord | null {
    return this.current;
  }

  /** Where commits go. */
  protected abstract get writer(): SqlRunner;
  /** Let go of the lock (called once). */
  protected abstract unlock(): Promise<void>;

  /**
   * SQL of a commit; a lease that can drop its lock in the same statement says so with `releases`.
   * `slim`: the statement returns only what the database decides (see `toCommittedRecord`).
   */
  protected commitSql(t: Transition, slim: boolean): { sql: string; releases: boolean } {
    void t;
    return { sql: slim ? this.host.leaseQueries.commit : this.host.leaseQueries.commitFull, releases: false };
  }

  /** The commit statement failed while it may already have dropped the lock. */
  protected async commitFailedWhileReleasing(): Promise<void> {}

  /** A commit that registers event waits (`locks`: see `waitLocks`), sent after their locks. */
  protected queryUnderEventLocks(locks: string, sql: string, params: readonly SqlParam[]): Promise<SqlRow[]> {
    return this.host.queryUnderEventLocks(locks, sql, params);
  }

  async commit(t: Transition): Promise<FlowRunRecord> {
    if (this.released) throw new StaleRunError(this.runId, t.expectedVersion);
    // The row at `expectedVersion` is the one this lease holds (every write moves the version):
    // the commit need not send back the columns it leaves alone, nor the JSON it was just given.
    const before = this.current;
    const slim = before !== null && before.version === t.expectedVersion;
    const { sql, releases } = this.commitSql(t, slim);
    const params = commitParams(this.runId, t);
    const locks = waitLocks(t);
    let rows: Record<string, unknown>[];
    if (t.wake) this.host.expectWake(this.runId);
    try {
      rows = locks === null ? await this.writer.query(sql, params) : await this.queryUnderEventLocks(locks, sql, params);
    } catch (err) {
      if (releases) {
        this.released = true;
        await this.commitFailedWhileReleasing();
        this.host.leaseEnded(this);
      }
      throw this.host.fail(err, 'commit');
    }
    if (releases) await this.afterReleasedInStatement();
    const row = rows[0];
    if (!commitApplied(row)) {
      if (t.release) await this.release();
      throw new StaleRunError(this.runId, t.expectedVersion);
    }
    this.current = slim ? toCommittedRecord(row, before!, t, params[COMMIT_ERROR_PARAM] as string | null) : committedFull(row, t);
    // Woken too: this run, when a wait it registered found its event already stored; the parent
    // of a child run this commit ended.
    if (t.wake || Number(row.delivered_early) > 0) this.host.wakeLocal(this.runId);
    if (typeof row.ended_parent === 'string') this.host.wakeLocal(row.ended_parent);
    if (t.release) await this.release();
    return this.current;
  }

  async reload(): Promise<FlowRunRecord | null> {
    try {
      const [row] = await this.writer.query(this.host.runQueries.getRun, [this.runId]);
      this.current = row ? toRunRecord(row) : null;
      return this.current;
    } catch (err) {
      throw this.host.fail(err, 'reload');
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      await this.unlock();
    } finally {
      this.host.leaseEnded(this);
    }
  }

  /** Bookkeeping after a commit statement that also unlocked. */
  private async afterReleasedInStatement(): Promise<void> {
    this.released = true;
    try {
      await this.returnConnection();
    } finally {
      this.host.leaseEnded(this);
    }
  }

  protected async returnConnection(): Promise<void> {}
}

export class SessionLease extends SqlLease {
  /** Settles when the commit in a transaction of its own (see `queryUnderEventLocks`) has ended. */
  private transactionEnded: Promise<void> = Promise.resolve();

  constructor(
    host: LeaseHost,
    runId: string,
    run: FlowRunRecord | null,
    private readonly session: SqlSession,
  ) {
    super(host, runId, run);
  }

  // Once let go, the connection is back in the pool and may serve someone else: a read after the
  // release (`reload` after a refused commit that released) goes through the store's pool.
  protected get writer(): SqlRunner {
    return this.released ? this.host.executor : this.session;
  }

  override async commit(t: Transition): Promise<FlowRunRecord> {
    // The session died (terminated, network): Postgres ended its advisory lock with it, so another
    // holder may own the run now. Nothing was sent, so this is certain: the lock was lost and the
    // transition is discarded — a stale holder (StaleRunError), not a storage failure.
    if (!this.released && this.session.lost) {
      await this.release();
      throw new StaleRunError(this.runId, t.expectedVersion);
    }
    return super.commit(t);
  }

  protected override commitSql(t: Transition, slim: boolean) {
    const q = this.host.leaseQueries;
    return t.release ? { sql: slim ? q.commitAndUnlock : q.commitFullAndUnlock, releases: true } : { sql: slim ? q.commit : q.commitFull, releases: false };
  }

  // The statement may or may not have reached its unlock: destroy the connection, which surely frees the lock.
  protected override async commitFailedWhileReleasing(): Promise<void> {
    await this.session.release(true).catch(() => undefined);
  }

  // On the lease's own connection: BEGIN, the name locks, the commit (which may also let go of the
  // run lock: its transaction-level hold then ends with COMMIT), COMMIT.
  protected override async queryUnderEventLocks(locks: string, sql: string, params: readonly SqlParam[]): Promise<SqlRow[]> {
    let ended!: () => void;
    this.transactionEnded = new Promise<void>((resolve) => (ended = resolve));
    try {
      return await this.inTransaction(locks, sql, params);
    } finally {
      ended();
    }
  }

  private async inTransaction(locks: string, sql: string, params: readonly SqlParam[]): Promise<SqlRow[]> {
    await this.session.query('BEGIN');
    try {
      await this.session.query(this.host.inboxQueries.lockEvents, [locks]);
      const rows = await this.session.query(sql, params);
      await this.session.query('COMMIT');
      return rows;
    } catch (err) {
      try {
        await this.session.query('ROLLBACK');
      } catch {
        // The connection is in an unknown state: destroying it frees everything it held.
        this.released = true;
        await this.session.release(true).catch(() => undefined);
        this.host.leaseEnded(this);
      }
      throw err;
    }
  }

  protected override async returnConnection(): Promise<void> {
    await this.session.release();
  }

  protected async unlock(): Promise<void> {
    // A release while a commit's transaction is open waits for its end: the connection is never
    // unlocked, nor pooled again, in the middle of a transaction.
    await this.transactionEnded;
    try {
      await this.session.query(this.host.leaseQueries.unlockSession, [this.runId]);
    } catch {
      // Could not unlock (connection lost?): destroying the connection frees the lock for sure.
      await this.session.release(true).catch(() => undefined);
      return;
    }
    await this.session.release();
  }
}

export class TransactionLease extends SqlLease {
  constructor(
    host: LeaseHost,
    runId: string,
    run: FlowRunRecord | null,
    private readonly holder: SqlSession,
    private readonly client: SqlRunner,
  ) {
    super(host, runId, run);
  }

  protected get writer(): SqlRunner {
    return this.client;
  }

  protected async unlock(): Promise<void> {
    // Ending the holding transaction releases its transaction-level lock.
    await this.holder.release();
  }
}

export class ProcessLease extends SqlLease {
  constructor(
    host: LeaseHost,
    runId: string,
    run: FlowRunRecord | null,
    private readonly client: SqlRunner,
    private readonly unlockInProcess: () => void,
  ) {
    super(host, runId, run);
  }

  protected get writer(): SqlRunner {
    return this.client;
  }

  protected async unlock(): Promise<void> {
    this.unlockInProcess();
  }
}
