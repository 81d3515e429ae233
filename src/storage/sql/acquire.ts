/**
 * Taking a run's lock and reading its row in one round trip where the lock mode allows it (see
 * `LockMode` in executor.ts):
 * - session (pg): lock and read in one statement on the lease's connection (with `onlyIfDue`,
 *   the statement tries the lock only on a due run);
 * - process (PGlite): the in-process lock, then the read;
 * - transaction (Prisma): the lock in the holding transaction, then the read in it.
 */
import { isDueNow } from '../due.js';
import type { LockRunOptions } from '../types.js';
import type { SqlExecutor, SqlRow } from './executor.js';
import { ProcessLease, SessionLease, TransactionLease, type LeaseHost, type SqlLease } from './leases.js';
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
  const { executor } = host;
  try {
    const [row] = await executor.query(host.runQueries.getRun, [runId]);
    return new ProcessLease(host, runId, runOf(row), executor, unclaim);
  } catch (err) {
    unclaim();
    throw err;
  }
}

/** `session` and `transaction` modes. Null when another holder has the lock. */
export async function acquireHeld(host: AcquireHost, runId: string, options: LockRunOptions | undefined): Promise<SqlLease | null> {
  const { executor } = host;
  if (executor.lockMode === 'transaction' && !(await dueOrNotAsked(host, runId, options))) return null;
  const session = await executor.hold!();
  try {
    if (executor.lockMode === 'session') {
      const q = host.leaseQueries;
      const [row] = await session.query(options?.onlyIfDue ? q.lockDueSession : q.lockAndReadSession, [runId]);
      if (row?.locked !== true) {
        await session.release();
        return null;
      }
      return new SessionLease(host, runId, runOf(row), session);
    }
    const [lock] = await session.query(host.leaseQueries.tryTransactionLock, [runId]);
    if (lock?.locked !== true) {
      await session.release();
      return null;
    }
    // A statement of its own, so its snapshot is taken after the lock was granted.
    const [row] = await session.query(host.runQueries.getRun, [runId]);
    return new TransactionLease(host, runId, runOf(row), session, executor);
  } catch (err) {
    await session.release(true).catch(() => undefined);
    throw err;
  }
}
