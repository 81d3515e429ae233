/**
 * `tryTransactionLock` (transaction mode: Prisma, poolers): the run's transaction-scoped advisory
 * lock, held until the holding transaction ends. $1 run id. One row: `locked`.
 */
import type { SqlNames } from '../names.js';

export function tryTransactionLockSql(n: SqlNames): string {
  return `SELECT pg_try_advisory_xact_lock(${n.lockKey('$1')}) AS locked`;
}
