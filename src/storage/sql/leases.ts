/**
 * A run lease of the SQL store. Its commits go through the store's commit group (statement-group.ts:
 * grouped with other runs' commits, each fenced by its version); how its lock is held and let go
 * is its lock mode's (lock-modes.ts), behind `LockHold`. If the process dies, its connections die
 * and Postgres drops the locks with them.
 */
import { StaleRunError, WaitAnsweredError } from '../../errors.js';
import type { TransactionIsolation } from '../../definitions/types.js';
import type { AttemptTransaction, AttemptTransactions, FlowRunRecord, RunLease, Transition } from '../types.js';
import type { OpenTransaction, SqlExecutor, SqlParam, SqlRow, SqlRunner } from './executor.js';
import { isTransactionConflict } from './errors.js';
import { waitLocks } from './inbox-rows.js';
import { cascades, commitApplied, transitionJson } from './statements/commit.js';
import type { Statements } from './statements/index.js';
import type { StatementGroup } from './statement-group.js';
import { errorJson, toCommittedRecord, toRunRecord, type CommittedRow, type RunReadRow } from './rows.js';

/** A statement that locks rows before the commit it precedes, in the commit's transaction (see `LeaseHost.queryUnderEventLocks`). */
export interface RowLock {
  sql: string;
  params: readonly SqlParam[];
}

/** How a lease's lock is held. */
export interface LockHold {
  /** The lock is known to be gone (its connection was lost): a commit would be a stale holder's. */
  lost(): boolean;
  /**
   * Lets go of the lock (called once). With `wake`, sleeping workers are told the run has work
   * once the lock is free — not before, or a worker woken could find it still held and give up.
   */
  unlock(wake: boolean): Promise<void>;
}

/** What a lease needs from its store. */
export interface LeaseHost {
  /** The store's own statements (through its pool), and the attempts' transactions. */
  readonly executor: SqlRunner & Pick<SqlExecutor, 'openTransaction'>;
  /** PGlite: one session in this process (its lock mode's `embedded`): nothing to lock against, one transaction at a time. */
  readonly embedded: boolean;
  readonly sql: Statements;
  /** Where commits are grouped with other runs' (statement-group.ts). */
  readonly commits: StatementGroup;
  /**
   * A commit that registers event waits, or ends waits by their timers: alone, in a transaction
   * after the locks of the waits' names (see statements/lock-events.ts) and the given row lock.
   */
  queryUnderEventLocks(locks: string | null, sql: string, params: readonly SqlParam[], rowLock?: RowLock): Promise<SqlRow[]>;
  /** Maps any failure to a typed error (StorageError; FlowErrors pass through). */
  fail(err: unknown, what: string): Error;
  /** Sends a statement that may NOTIFY, and tells this process of the runs it did announce (see `WakeHub.announcing`). */
  announcing<R>(expected: string | null, send: () => Promise<R>, announced: (result: R) => Iterable<string>): Promise<R>;
  /** The lease ended (for the store's table of held leases). */
  leaseEnded(lease: SqlLease): void;
  /** A commit cancelled descendant runs: its `cancelled` column, for the store's `onRunsCancelled` listeners. */
  runsCancelled(column: unknown): void;
}

export class SqlLease implements RunLease {
  private current: FlowRunRecord | null;
  private released = false;
  readonly transactions?: AttemptTransactions;

  constructor(
    private readonly host: LeaseHost,
    readonly runId: string,
    run: FlowRunRecord | null,
    private readonly hold: LockHold,
  ) {
    this.current = run;
    const open = host.executor.openTransaction?.bind(host.executor);
    if (open) {
      this.transactions = {
        // PGlite's one session runs one transaction at a time, and nothing else meanwhile.
        exclusive: host.embedded,
        open: async (isolation: TransactionIsolation, nodeId: string) => {
          let tx: OpenTransaction;
          try {
            tx = await open(isolation, nodeId);
          } catch (err) {
            throw this.host.fail(err, 'open transaction');
          }
          return this.attemptTransaction(tx);
        },
      };
    }
  }

  /**
   * The attempt's transaction: its commit is this lease's, sent inside it (not in a group: the
   * handler's writes are in it), then COMMIT — or ROLLBACK when the fence refuses it, so a stale
   * holder's writes go with its transition.
   */
  private attemptTransaction(tx: OpenTransaction): AttemptTransaction {
    const send = async (t: Transition): Promise<SqlRow | undefined> => {
      const row = await this.sendIn(tx.runner, t);
      if (row?.answered === true) return row; // nothing written; drafted again and committed in the same transaction
      await tx.end(commitApplied(row));
      return row;
    };
    return {
      handle: tx.handle,
      commit: async (t: Transition) => {
        try {
          return await this.commitWith(t, send);
        } catch (err) {
          if (!(err instanceof WaitAnsweredError)) await tx.end(false).catch(() => undefined);
          throw err;
        }
      },
      rollback: () => tx.end(false),
      conflicted: isTransactionConflict,
    };
  }

  get run(): FlowRunRecord | null {
    return this.current;
  }

  commit(t: Transition): Promise<FlowRunRecord> {
    return this.commitWith(t, (sent) => this.send(sent));
  }

  /** A commit whose statement `send` sends (through the commit group, or in an attempt's transaction). */
  private async commitWith(t: Transition, send: (t: Transition) => Promise<SqlRow | undefined>): Promise<FlowRunRecord> {
    if (this.released) throw new StaleRunError(this.runId, t.expectedVersion);
    // The lock is gone (its connection died): another holder may own the run now. Nothing was
    // sent, so this is certain: the transition is discarded — a stale holder, not a storage failure.
    if (this.hold.lost()) {
      await this.release();
      throw new StaleRunError(this.runId, t.expectedVersion);
    }
    const before = this.current;
    // A run let go with work left is announced after the unlock (see `LockHold.unlock`), not by the commit.
    const wakeOnRelease = t.release === true && t.wake === true;
    const wakeNow = t.wake === true && !wakeOnRelease;
    let row: SqlRow | undefined;
    try {
      // What a commit that went through announces: this run when it asked to (or when a wait it
      // registered found its event already stored), the parent of a child run it ended, and the
      // failure handler run it started.
      row = await this.host.announcing(
        wakeNow ? this.runId : null,
        () => send(wakeOnRelease ? { ...t, wake: false } : t),
        (r) =>
          !commitApplied(r) || r.answered === true
            ? []
            : [
                ...(wakeNow || Number(r.delivered_early) > 0 ? [this.runId] : []),
                ...(typeof r.ended_parent === 'string' ? [r.ended_parent] : []),
                ...(typeof r.started_handler === 'string' ? [r.started_handler] : []),
              ],
      );
    } catch (err) {
      throw this.host.fail(err, 'commit');
    }
    // Refused for an answer to a wait it times out: nothing was written and the lock is kept.
    if (row?.answered === true) throw new WaitAnsweredError(this.runId, t.expectedVersion);
    if (!commitApplied(row)) {
      if (t.release) await this.release();
      throw new StaleRunError(this.runId, t.expectedVersion);
    }
    // The row at `expectedVersion` is the one this lease holds (every write moves the version):
    // the commit need not send back the columns it leaves alone, nor the JSON it was just given.
    // A holder committing over a row it does not have reads the run again (never, from the engine).
    this.current =
      before !== null && before.version === t.expectedVersion
        ? toCommittedRecord(row as CommittedRow, before, t, t.update.error ? JSON.stringify(errorJson(t.update.error)) : null)
        : await this.read();
    this.host.runsCancelled(row.cancelled);
    if (t.release) await this.letGo(wakeOnRelease);
    return this.current!;
  }

  /**
   * One commit, with other runs' in a shared statement — unless it registers event waits: then
   * alone, after their names' locks (taking several commits' name locks in one transaction could
   * deadlock with another process doing the same in another order); or ends waits by their
   * timers: then alone, after the run's row lock (`lockRow`), so that its fence sees every answer
   * written before it. A commit that may cancel descendant runs (`cascades`) is sent alone too: a
   * run it cancels could be committing in the same statement, and one statement must not write a
   * row twice.
   */
  private async send(t: Transition): Promise<SqlRow | undefined> {
    const json = transitionJson(this.runId, t);
    const locks = waitLocks(t);
    const rowLock: RowLock | undefined = t.timedOutWaits?.length ? { sql: this.host.sql.lockRow, params: [this.runId] } : undefined;
    if (locks === null && !rowLock) {
      if (!cascades(t)) return this.host.commits.add(this.runId, json);
      return (await this.host.executor.query(this.host.sql.commit, [`[${json}]`]))[0];
    }
    const [row] = await this.host.queryUnderEventLocks(locks, this.host.sql.commit, [`[${json}]`], rowLock);
    return row;
  }

  /**
   * One commit in an attempt's transaction: after the locks a commit sent alone takes (see `send`),
   * taken in the same transaction, in the same order.
   */
  private async sendIn(runner: SqlRunner, t: Transition): Promise<SqlRow | undefined> {
    // PGlite is one session: nothing to lock against, as in its lock mode's `underEventLocks`.
    const shared = !this.host.embedded;
    const locks = waitLocks(t);
    if (shared && locks !== null) await runner.query(this.host.sql.lockEvents, [locks]);
    if (shared && t.timedOutWaits?.length) await runner.query(this.host.sql.lockRow, [this.runId]);
    return (await runner.query(this.host.sql.commit, [`[${transitionJson(this.runId, t)}]`]))[0];
  }

  async reload(): Promise<FlowRunRecord | null> {
    this.current = await this.read();
    return this.current;
  }

  private async read(): Promise<FlowRunRecord | null> {
    try {
      const [row] = await this.host.executor.query<RunReadRow>(this.host.sql.getRun, [this.runId]);
      return row ? toRunRecord(row) : null;
    } catch (err) {
      throw this.host.fail(err, 'reload');
    }
  }

  release(): Promise<void> {
    return this.letGo(false);
  }

  private async letGo(wake: boolean): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      await this.host.announcing(
        wake ? this.runId : null,
        () => this.hold.unlock(wake),
        () => (wake ? [this.runId] : []),
      );
    } finally {
      this.host.leaseEnded(this);
    }
  }
}
