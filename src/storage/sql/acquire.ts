/**
 * Taking a run's lock and reading its row (see `LockMode` in executor.ts):
 * - session (pg): on the store's lock session, lock and read in one statement shared with the
 *   other requests of the moment (with `onlyIfDue`, the lock is tried only on a due run);
 * - process (PGlite): the in-process lock, then the read;
 * - transaction (Prisma): the lock in the holding transaction, then the read in it.
 */
import { isDueNow } from '../due.js';
import type { LockRunOptions } from '../types.js';
import type { SqlExecutor, SqlRow } from './executor.js';
import { SqlLease, type LeaseHost } from './leases.js';
import type { LockSession } from './lock-session.js';
import { toRunRecord } from './rows.js';

/** The store's side of an acquisition. */
export interface AcquireHost extends LeaseHost {
  readonly executor: SqlExecutor;
}

const runOf = (row: SqlRow | undefined) => (row && row.run_id != null ? toRunRecord(row) : null);

/**
 * `onlyIfDue` outside session mode: read the run without the lock first, and lock only a run that
 * is due, so that a run that is not is never held. (In session mode the lock statement checks.)
 */
export async function dueOrNotAsked(host: AcquireHost, runId: string, options: LockRunOptions | undefined): Promise<boolean> {
  if (!options?.onlyIfDue) return true;
  const [row] = await host.executor.query(host.runQueries.getRun, [runId]);
  return isDueNow(runOf(row));
}

/** `process` mode: `claim` has already taken the in-process lock; `unclaim` gives it back. */
export async function acquireInProcess(host: AcquireHost, runId: string, unclaim: () => void): Promise<SqlLease | null> {
  try {
    const [row] = await host.executor.query(host.runQueries.getRun, [runId]);
    // One process: the wake-up is this process's own, sent by the lease once the lock is free.
    return new SqlLease(host, runId, runOf(row), { lost: () => false, unlock: async () => unclaim() });
  } catch (err) {
    unclaim();
    throw err;
  }
}

/** `session` mode. Null when another holder has the lock (or, with `onlyIfDue`, the run is not due). */
export async function acquireOnLockSession(
  host: AcquireHost,
  locks: LockSession,
  runId: string,
  options: LockRunOptions | undefined,
): Promise<SqlLease | null> {
  const grant = await locks.lock(runId, options?.onlyIfDue === true);
  if (!grant) return null;
  const { generation } = grant;
  return new SqlLease(host, runId, runOf(grant.row), { lost: () => locks.lost(generation), unlock: (wake) => locks.unlock(runId, generation, wake) });
}

/** `transaction` mode. Null when another holder has the lock. */
export async function acquireInTransaction(host: AcquireHost, runId: string, options: LockRunOptions | undefined): Promise<SqlLease | null> {
  const { executor } = host;
  if (!(await dueOrNotAsked(host, runId, options))) return null;
  const holder = await executor.hold!();
  try {
    const [lock] = await holder.query(host.leaseQueries.tryTransactionLock, [runId]);
    if (lock?.locked !== true) {
      await holder.release();
      return null;
    }
    // A statement of its own, so its snapshot is taken after the lock was granted.
    const [row] = await holder.query(host.runQueries.getRun, [runId]);
    // Ending the holding transaction releases its transaction-level lock.
    const unlock = async (wake: boolean) => {
      await holder.release();
      // The lock ended with the holding transaction: now other processes may be told.
      if (wake) await executor.query(host.leaseQueries.wakeRun, [runId]).catch(() => undefined); // else: found at the next poll
    };
    return new SqlLease(host, runId, runOf(row), { lost: () => holder.lost === true, unlock });
  } catch (err) {
    await holder.release(true).catch(() => undefined);
    throw err;
  }
}
