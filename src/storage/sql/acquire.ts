/**
 * Taking a run's lock and reading its row — and, when asked, beginning its current attempt — in
 * one round trip where the lock mode allows it (see `LockMode` in executor.ts):
 * - session (pg): lock, begin-or-read, in one statement on the lease's connection (with
 *   `onlyIfDue`, the statement tries the lock only on a due run);
 * - process (PGlite): the in-process lock, then one statement that begins or reads;
 * - transaction (Prisma): the lock in the holding transaction, then the begin-or-read through the
 *   client (the holding transaction never commits, so nothing durable may be written in it).
 */
import { isDueNow } from '../lock-begin.js';
import type { BeginAttemptRequest, LockRunOptions } from '../types.js';
import type { SqlExecutor, SqlParam, SqlRow } from './executor.js';
import { ProcessLease, SessionLease, TransactionLease, type LeaseHost, type SqlLease } from './leases.js';
import { toRunRecord } from './rows.js';

/** The store's side of an acquisition. */
export interface AcquireHost extends LeaseHost {
  readonly executor: SqlExecutor;
}

/** `nodes` as JSON text, once per request object (callers keep one per set of registered flows). */
const nodesText = new WeakMap<object, string>();

function beginParams(runId: string, begin: BeginAttemptRequest): SqlParam[] {
  let text = nodesText.get(begin.nodes);
  if (text === undefined) nodesText.set(begin.nodes, (text = JSON.stringify(begin.nodes)));
  return [runId, text, Math.max(0, Math.floor(begin.maxAttemptsBytes))];
}

/** A begin request that never begins anything (`onlyIfDue` without `beginAttempt`). */
const NO_BEGIN: BeginAttemptRequest = { nodes: {}, maxAttemptsBytes: 0 };

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
export async function acquireInProcess(host: AcquireHost, runId: string, options: LockRunOptions | undefined, unclaim: () => void): Promise<SqlLease | null> {
  const { executor } = host;
  try {
    const begin = options?.beginAttempt;
    const [row] = begin
      ? await executor.query(host.leaseQueries.beginOrRead, beginParams(runId, begin))
      : await executor.query(host.runQueries.getRun, [runId]);
    return new ProcessLease(host, runId, runOf(row), row?.begun === true, executor, unclaim);
  } catch (err) {
    unclaim();
    throw err;
  }
}

/** `session` and `transaction` modes. Null when another holder has the lock. */
export async function acquireHeld(host: AcquireHost, runId: string, options: LockRunOptions | undefined): Promise<SqlLease | null> {
  const { executor } = host;
  const begin = options?.beginAttempt;
  if (executor.lockMode === 'transaction' && !(await dueOrNotAsked(host, runId, options))) return null;
  const session = await executor.hold!();
  try {
    if (executor.lockMode === 'session') {
      const q = host.leaseQueries;
      const [row] = options?.onlyIfDue
        ? await session.query(q.lockDueSession, beginParams(runId, begin ?? NO_BEGIN))
        : begin
          ? await session.query(q.lockBeginSession, beginParams(runId, begin))
          : await session.query(q.lockAndReadSession, [runId]);
      if (row?.locked !== true) {
        await session.release();
        return null;
      }
      return new SessionLease(host, runId, runOf(row), row.begun === true, session);
    }
    const [lock] = await session.query(host.leaseQueries.tryTransactionLock, [runId]);
    if (lock?.locked !== true) {
      await session.release();
      return null;
    }
    // A statement of its own, so its snapshot is taken after the lock was granted.
    const [row] = begin
      ? await executor.query(host.leaseQueries.beginOrRead, beginParams(runId, begin))
      : await session.query(host.runQueries.getRun, [runId]);
    return new TransactionLease(host, runId, runOf(row), row?.begun === true, session, executor);
  } catch (err) {
    await session.release(true).catch(() => undefined);
    throw err;
  }
}
