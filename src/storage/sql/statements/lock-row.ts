/**
 * `lockRow`: the run's row lock — the one the commit's UPDATE takes — in a statement of its own,
 * in the transaction of a commit that ends waits by their timers. An answer being written
 * (`addToInbox` and `sendEvent` read the row FOR SHARE until they commit) is waited for, so the
 * commit's snapshot sees it and its fence refuses the commit; an answer written later waits for
 * the commit, then finds the wait over and is not taken.
 * $1 run id. Rows: the run id, when the run exists.
 */
import type { SqlNames } from '../names.js';

export function lockRowSql(n: SqlNames): string {
  return `SELECT run_id FROM ${n.runs} WHERE run_id = $1 FOR NO KEY UPDATE`;
}
