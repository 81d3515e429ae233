/**
 * One attempt of a transactional node (`NodeOptions.transaction`, docs/transactions.md): its
 * handler runs with `ctx.tx`, a transaction the lease opens for it, and an `ok` result leaves
 * that transaction open for the driver, which commits the attempt's outcome inside it (so the
 * handler's writes and the step are one transaction, fenced like every commit). Anything else —
 * a throw, an error result, a timeout, a cancel, a wait or a child run (which a transaction
 * cannot span) — rolls it back here, before the outcome is committed the ordinary way.
 *
 * A transaction that lost a race with another (serialization failure 40001, deadlock 40P01) is
 * rolled back and the handler runs again in a fresh one, at once, without counting as a failed
 * attempt: at most `MAX_TRANSACTION_CONFLICTS` times per attempt (the driver counts the ones its
 * commit meets too), then the attempt fails with `TRANSACTION_CONFLICT`, retryable under the
 * node's policy.
 */
import { TransactionalNodeError, toErrorRecord } from '../errors.js';
import type { FlowContext, NodeDefinition, TransactionIsolation } from '../definitions/types.js';
import type { AttemptTransaction, RunLease } from '../storage/types.js';
import { invokeHandler, type AttemptOutcome } from './attempt.js';

/** Runs of one attempt's handler lost to conflicts before the attempt fails with `TRANSACTION_CONFLICT`. */
export const MAX_TRANSACTION_CONFLICTS = 10;

export interface TransactionalAttempt {
  outcome: AttemptOutcome;
  /** Open (an `ok` outcome): the driver commits the outcome in it. */
  tx?: AttemptTransaction;
  /** Conflicts met so far by this attempt, including `conflictsBefore`. */
  conflicts: number;
}

export async function runInTransaction(a: {
  lease: RunLease;
  /** The store's kind, for the error on a store without transactions. */
  storeKind: string;
  node: NodeDefinition;
  isolation: TransactionIsolation;
  /** A fresh context for each run of the handler (a run lost to a conflict may have changed its copy). */
  context: () => FlowContext;
  controller: AbortController;
  /** Conflicts this attempt met before (at its commit). */
  conflictsBefore: number;
}): Promise<TransactionalAttempt> {
  const { node, controller } = a;
  const transactions = a.lease.transactions;
  if (!transactions) {
    const error = new TransactionalNodeError(
      'TRANSACTIONS_UNSUPPORTED',
      node.id,
      `Node "${node.id}" is transactional (its transaction option), but the ${a.storeKind} store has no database transactions: use the Postgres (pg or Prisma) or PGlite store`,
    );
    return { outcome: { kind: 'error', error: toErrorRecord(error) }, conflicts: a.conflictsBefore };
  }
  for (let conflicts = a.conflictsBefore; ;) {
    let tx: AttemptTransaction;
    try {
      tx = await transactions.open(a.isolation, node.id);
    } catch (err) {
      return { outcome: { kind: 'error', error: toErrorRecord(err, 'TRANSACTION_OPEN_FAILED') }, conflicts };
    }
    const ctx = a.context();
    ctx.tx = tx.handle as FlowContext['tx'];
    let thrown: unknown;
    const outcome = await invokeHandler(
      {
        ...node,
        handler: async (c) => {
          try {
            return await node.handler(c);
          } catch (err) {
            thrown = err;
            throw err;
          }
        },
      },
      ctx,
      controller,
    );
    // Open until committed; the driver rolls it back if it drops the outcome (a cancel after the result).
    if (outcome.kind === 'ok') return { outcome, tx, conflicts };
    await tx.rollback().catch(() => undefined);
    if (outcome.kind === 'error' && !controller.signal.aborted && thrown !== undefined && tx.conflicted(thrown)) {
      conflicts += 1;
      if (conflicts <= MAX_TRANSACTION_CONFLICTS) {
        await conflictPause(conflicts);
        continue;
      }
      return { outcome: conflictFailure(node.id, conflicts), conflicts };
    }
    if (outcome.kind === 'wait' || outcome.kind === 'child') {
      const error =
        outcome.kind === 'wait'
          ? new TransactionalNodeError(
              'TRANSACTIONAL_NODE_WAIT',
              node.id,
              `Node "${node.id}" is transactional and returned a wait: a transaction cannot stay open across a wait (its writes were rolled back). Wait in a node before or after it`,
            )
          : new TransactionalNodeError(
              'TRANSACTIONAL_NODE_CHILD',
              node.id,
              `Node "${node.id}" is transactional and asked for a child run: a child cannot start inside the step's transaction (its writes were rolled back). Start it from a node before or after it`,
            );
      return { outcome: { kind: 'error', error: toErrorRecord(error) }, conflicts };
    }
    return { outcome, conflicts };
  }
}

/** The attempt's failure once its transaction lost `conflicts` races. */
export function conflictFailure(nodeId: string, conflicts: number): AttemptOutcome {
  return {
    kind: 'error',
    error: {
      code: 'TRANSACTION_CONFLICT',
      message: `Node "${nodeId}": its transaction lost ${conflicts} races in a row (serialization failure or deadlock); retried under the node's retry policy`,
      retryable: true,
    },
  };
}

/**
 * A short, growing, jittered pause before running a handler again after a conflict, so that the
 * transactions that collided do not collide again in lockstep. Real time: it is about other
 * transactions, not the engine's clock.
 */
export function conflictPause(conflicts: number): Promise<void> {
  const ms = Math.min(200, 2 ** conflicts) * (0.5 + Math.random() / 2);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
