/**
 * How a SQL store locks its runs: one strategy per lock mode, chosen once from the executor's
 * `lockMode` (`lockModeOf`, the one place that looks at it). A strategy owns all that differs
 * between the modes: taking a run's lock and reading the run under it, letting go of it and
 * announcing the run's wake-up then, which runs are held here (a look for due runs skips them),
 * whether statements NOTIFY, how `pruneRuns` keeps clear of held runs, and whether sending an
 * event locks its name.
 * - session (pg, `SessionLocks`): a session advisory lock on the store's lock session, one
 *   dedicated connection holding every run lock of the store (lock-session.ts); lock and read in
 *   one statement shared with the other requests of the moment.
 * - transaction (Prisma, `TransactionLocks`): a transaction advisory lock inside a transaction
 *   kept open by `executor.hold()` for the whole lease; ending the transaction releases the lock.
 *   Prisma's connections can only be pinned by an interactive transaction.
 * - process (PGlite, `ProcessLocks`): an in-process lock table. PGlite is one session in one
 *   process, where advisory locks cannot exclude anything, NOTIFY only echoes back and pg_locks
 *   holds no leases; no other process can open its data folder, so the table is exact.
 * In every mode commits go through the store's pool, grouped and fenced by version (leases.ts).
 */
import { isDueNow } from '../due.js';
import type { LockRunOptions } from '../types.js';
import type { SqlExecutor, SqlParam, SqlRow } from './executor.js';
import { SqlLease, type LeaseHost, type RowLock } from './leases.js';
import { LockSession } from './lock-session.js';
import type { SqlNames } from './names.js';
import type { Statements } from './statements/index.js';
import { toRunRecord, type RunReadRow } from './rows.js';

/** What the strategies need of their store. */
export interface LockHost extends LeaseHost {
  readonly executor: SqlExecutor;
  readonly names: SqlNames;
  readonly sql: Statements;
  /** `lockRuns`, as this store's schema allows (see statements/lock-runs.ts). */
  readonly lockRunsStatement: string;
  /** The store's leases, by run. */
  readonly held: ReadonlyMap<string, SqlLease>;
}

export interface LockMode {
  /** The database runs on this process's event loop (`FlowStorage.embedded`). */
  readonly embedded: boolean;
  /**
   * Options of the statements (statements/index.ts): whether they
   * announce wake-ups by NOTIFY to other processes, and whether a look for due runs skips those
   * whose advisory lock is held, by any session (pg_locks).
   */
  readonly statements: { readonly notify: boolean; readonly skipLocked: boolean };
  /** Takes `runId`'s lock and reads the run. Null when another holder has it (in this process too) or, with `onlyIfDue`, it is not due. */
  acquire(runId: string, options: LockRunOptions | undefined): Promise<SqlLease | null>;
  /** The runs locked in this process: a look for due runs asks for `size` more, then drops them. */
  readonly heldHere: { readonly size: number; has(runId: string): boolean };
  /** Deletes up to `limit` prunable runs (`params(n)`: the prune statement's parameters, asking for n), none held by anyone. */
  prune(params: (limit: number) => readonly SqlParam[], limit: number): Promise<number>;
  /**
   * Runs `sql` in one transaction after the event locks `locks` (a JSON array of `EventLock`, see
   * statements/, or null) and `rowLock` (a commit's, see statements/lock-row.ts), where
   * they are needed: statements of their own, so that the snapshot of `sql` sees what the
   * transactions that held those locks last committed.
   */
  underEventLocks(locks: string | null, sql: string, params: readonly SqlParam[], rowLock?: RowLock): Promise<SqlRow[]>;
  /**
   * The executing-scope concurrency slots that are full, as `flow_id:index:key` (find-due-runs.ts
   * $3), when this mode counts them in-process (PGlite); null when the statement reads pg_locks.
   */
  fullExecutingSlots(): string[] | null;
  /** Runs `joinDebouncedRun` (statements/join-debounced-run.ts), keeping clear of runs held here. */
  joinDebounced(params: readonly SqlParam[]): Promise<RunReadRow | null>;
  /** Lets go of whatever the strategy holds (the lock session). */
  close(): Promise<void>;
}

/** The lock mode of `host`'s executor. */
export function lockModeOf(host: LockHost): LockMode {
  switch (host.executor.lockMode) {
    case 'session':
      return new SessionLocks(host);
    case 'transaction':
      return new TransactionLocks(host);
    case 'process':
      return new ProcessLocks(host);
  }
}

/** PGlite's executing slots in use, per database (keyed by its lock table, shared by the stores on it). */
const executingSlots = new WeakMap<Set<string>, Map<string, { used: number; limit: number }>>();

const runOf = (row: RunReadRow | undefined) => (row && row.run_id != null ? toRunRecord(row) : null);

/** The executing slot locks `flow_admit_run` took (its `slots`), null when none. */
function slotsOf(admit: unknown): unknown[] | null {
  const slots = (admit as { slots?: unknown[] } | null | undefined)?.slots;
  return Array.isArray(slots) && slots.length > 0 ? slots : null;
}

/** The refusal in `flow_admit_run`'s answer, if it refused (statements/admit-run.ts). */
function refused(admit: unknown): boolean {
  return (admit as { ok?: unknown } | null | undefined)?.ok === false;
}

/** Whether to go on locking: with `onlyIfDue`, only a run that is due, read without the lock, so a run that is not is never held. */
async function dueOrNotAsked(host: LockHost, runId: string, options: LockRunOptions | undefined): Promise<boolean> {
  if (!options?.onlyIfDue) return true;
  const [row] = await host.executor.query<RunReadRow>(host.sql.getRun, [runId]);
  return isDueNow(runOf(row));
}

/** A database other sessions share (pg, Prisma): what the session and transaction modes have in common. */
abstract class SharedDatabaseLocks implements LockMode {
  readonly embedded = false;
  readonly statements = { notify: true, skipLocked: true };

  constructor(protected readonly host: LockHost) {}

  abstract acquire(runId: string, options: LockRunOptions | undefined): Promise<SqlLease | null>;

  /** The store's leases; other sessions' locks are skipped by the statement itself (pg_locks). */
  get heldHere(): LockMode['heldHere'] {
    return this.host.held;
  }

  /** One statement: it skips rows being written (`FOR UPDATE SKIP LOCKED`) and runs whose advisory lock it cannot take. */
  async prune(params: (limit: number) => readonly SqlParam[], limit: number): Promise<number> {
    const [row] = await this.host.executor.query(this.host.sql.pruneShared, params(limit));
    return Number(row?.deleted ?? 0);
  }

  fullExecutingSlots(): null {
    return null;
  }

  /** The statement tries each candidate's advisory lock itself. */
  async joinDebounced(params: readonly SqlParam[]): Promise<RunReadRow | null> {
    const [row] = await this.host.executor.query<RunReadRow>(this.host.sql.joinDebouncedRun, params);
    return row ?? null;
  }

  underEventLocks(locks: string | null, sql: string, params: readonly SqlParam[], rowLock?: RowLock): Promise<SqlRow[]> {
    return this.host.executor.transaction(async (tx) => {
      if (locks !== null) await tx.query(this.host.sql.lockEvents, [locks]);
      if (rowLock) await tx.query(rowLock.sql, rowLock.params);
      return tx.query(sql, params);
    });
  }

  async close(): Promise<void> {}
}

/** session mode (pg). */
class SessionLocks extends SharedDatabaseLocks {
  /** Where the run locks of this store live. */
  private readonly session: LockSession;

  constructor(host: LockHost) {
    super(host);
    this.session = new LockSession(() => host.executor.hold!(), host);
  }

  /** The lock statement itself checks `onlyIfDue`. */
  async acquire(runId: string, options: LockRunOptions | undefined): Promise<SqlLease | null> {
    const locks = this.session;
    const grant = await locks.lock(runId, options?.onlyIfDue === true);
    if (!grant) return null;
    const { generation } = grant;
    // Executing-scope concurrency slots taken with the lock (lock-runs.ts) go with it.
    const slots = slotsOf(grant.row.admit);
    // The unlock statement NOTIFYs the run's wake-up: delivered once the lock is free.
    return new SqlLease(this.host, runId, runOf(grant.row as RunReadRow), {
      lost: () => locks.lost(generation),
      unlock: (wake) => locks.unlock(runId, generation, wake, slots),
    });
  }

  /** Drops the connection, and every lock with it. */
  override close(): Promise<void> {
    return this.session.close();
  }
}

/** transaction mode (Prisma). */
class TransactionLocks extends SharedDatabaseLocks {
  async acquire(runId: string, options: LockRunOptions | undefined): Promise<SqlLease | null> {
    const { executor, sql } = this.host;
    // Read first (a run that is not due is never held, and whether it has flow control is seen).
    const [before] = await executor.query<RunReadRow>(sql.getRun, [runId]);
    const known = runOf(before);
    if (options?.onlyIfDue && !isDueNow(known)) return null;
    // Flow control's rows (active slots, rate tokens) first, through the pool, committed at once so
    // that other processes count them — not in the held transaction, where they would stay unseen
    // (and their row locks held) until the lease ends. Taken before the run's lock, they may be
    // taken for a run another holder has: they are the run's either way (admit-run.ts).
    const controlled = known?.flowControl != null;
    if (controlled && refused((await executor.query(sql.admitRun, [runId, 'none', true]))[0]?.admit)) return null;
    const holder = await executor.hold!();
    try {
      const [lock] = await holder.query(sql.tryTransactionLock, [runId]);
      if (lock?.locked !== true) {
        await holder.release();
        return null;
      }
      // Flow control: executing slots as transaction locks held with the run's (admit-run.ts).
      if (controlled && refused((await holder.query(sql.admitRun, [runId, 'xact', false]))[0]?.admit)) {
        await holder.release();
        return null;
      }
      // A statement of its own, so its snapshot is taken after the lock was granted.
      const [row] = await holder.query<RunReadRow>(sql.getRun, [runId]);
      // Ending the holding transaction releases its transaction-level lock.
      const unlock = async (wake: boolean) => {
        await holder.release();
        // The lock ended with the holding transaction: now other processes may be told.
        if (wake) await executor.query(this.host.sql.wakeRun, [runId]).catch(() => undefined); // else: found at the next poll
      };
      return new SqlLease(this.host, runId, runOf(row), { lost: () => holder.lost === true, unlock });
    } catch (err) {
      await holder.release(true).catch(() => undefined);
      throw err;
    }
  }
}

/** process mode (PGlite): one session, one statement at a time, in this process. */
class ProcessLocks implements LockMode {
  readonly embedded = true;
  readonly statements = { notify: false, skipLocked: false };
  /** The lock table of this database in this process, shared with the other stores on it (keys `schema\0runId`). */
  private readonly locks: Set<string>;

  constructor(private readonly host: LockHost) {
    this.locks = host.executor.processLocks ?? new Set();
  }

  private key(runId: string): string {
    return `${this.host.names.schema}\0${runId}`;
  }

  /** The lock table, every schema's entries counted in `size` (an upper bound is enough). */
  get heldHere(): LockMode['heldHere'] {
    return { size: this.locks.size, has: (runId) => this.locks.has(this.key(runId)) };
  }

  async acquire(runId: string, options: LockRunOptions | undefined): Promise<SqlLease | null> {
    const key = this.key(runId);
    if (this.locks.has(key)) return null;
    if (options?.onlyIfDue && (!(await dueOrNotAsked(this.host, runId, options)) || this.locks.has(key))) return null;
    // Claimed before the read, so a concurrent lockRun in this process sees it taken.
    this.locks.add(key);
    let unclaim = () => void this.locks.delete(key);
    try {
      const [row] = await this.host.executor.query<RunReadRow>(this.host.sql.getRun, [runId]);
      let run = runOf(row);
      if (run?.flowControl && (run.status === 'RUNNING' || run.status === 'WAITING')) {
        // Flow control: executing slots counted here (one process), the rows by the function.
        const giveBack = this.takeExecutingSlots(run.flowId, run.flowControl.concurrency);
        if (giveBack === null) return (unclaim(), null);
        const [admitted] = await this.host.executor.query(this.host.sql.admitRun, [runId, 'none', true]).catch((err: unknown) => {
          giveBack();
          throw err;
        });
        if (refused(admitted?.admit)) return (giveBack(), unclaim(), null);
        const unlockRun = unclaim;
        unclaim = () => (giveBack(), unlockRun());
        // Read again: the admission may have written the run (`rateLimit.admittedAt`).
        run = runOf((await this.host.executor.query<RunReadRow>(this.host.sql.getRun, [runId]))[0]);
      }
      // One process: the wake-up is this process's own, sent by the lease once the lock is free.
      return new SqlLease(this.host, runId, run, { lost: () => false, unlock: async () => void unclaim() });
    } catch (err) {
      unclaim();
      throw err;
    }
  }

  /** This database's executing slots in use and their limit, by `schema\0flow_id:index:key` (shared by the stores on it, as the lock table). */
  private get slots(): Map<string, { used: number; limit: number }> {
    let slots = executingSlots.get(this.locks);
    if (!slots) executingSlots.set(this.locks, (slots = new Map()));
    return slots;
  }

  /** One executing slot of each executing-scope limit, or null (nothing taken) when one is full; returns what gives them back. */
  private takeExecutingSlots(flowId: string, limits: ReadonlyArray<{ limit: number; key: string; scope: string }>): (() => void) | null {
    const names = limits.flatMap((c, i) => (c.scope === 'active' ? [] : [{ name: `${this.host.names.schema}\0${flowId}:${i}:${c.key}`, limit: c.limit }]));
    if (names.some(({ name, limit }) => (this.slots.get(name)?.used ?? 0) >= limit)) return null;
    for (const { name, limit } of names) this.slots.set(name, { used: (this.slots.get(name)?.used ?? 0) + 1, limit });
    return () => {
      for (const { name } of names) {
        const slot = this.slots.get(name);
        if (slot && --slot.used <= 0) this.slots.delete(name);
      }
    };
  }

  fullExecutingSlots(): string[] {
    const prefix = `${this.host.names.schema}\0`;
    const full: string[] = [];
    for (const [name, { used, limit }] of this.slots) if (name.startsWith(prefix) && used >= limit) full.push(name.slice(prefix.length));
    return full;
  }

  /** A run held here is not joined: it may be beginning its first step ($7 of the statement). */
  async joinDebounced(params: readonly SqlParam[]): Promise<RunReadRow | null> {
    const prefix = `${this.host.names.schema}\0`;
    const held = [...this.locks].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
    const [row] = await this.host.executor.query<RunReadRow>(this.host.sql.joinDebouncedRun, [...params, JSON.stringify(held)]);
    return row ?? null;
  }

  /** Candidates first, then only those this store could claim in its lock table, deleted while claimed. */
  async prune(params: (limit: number) => readonly SqlParam[], limit: number): Promise<number> {
    const { executor, sql } = this.host;
    const rows = await executor.query<{ run_id: string }>(sql.selectPrunable, params(limit + this.locks.size));
    const claimed: string[] = [];
    for (const { run_id: runId } of rows) {
      const key = this.key(runId);
      if (claimed.length >= limit || this.locks.has(key)) continue;
      this.locks.add(key);
      claimed.push(runId);
    }
    if (claimed.length === 0) return 0;
    try {
      const [row] = await executor.query(sql.deleteClaimed, [JSON.stringify(claimed)]);
      return Number(row?.deleted ?? 0);
    } finally {
      for (const runId of claimed) this.locks.delete(this.key(runId));
    }
  }

  /** One session running one statement at a time: no event or row lock is needed. */
  underEventLocks(_locks: string | null, sql: string, params: readonly SqlParam[]): Promise<SqlRow[]> {
    return this.host.executor.query(sql, params);
  }

  async close(): Promise<void> {}
}
