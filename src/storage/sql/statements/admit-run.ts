/**
 * `admitRun`: a locked run admitted under its flow control limits by `flow_admit_run` (the
 * flow_control migration), for the lock modes whose lock statement does not call it itself
 * (lock-runs.ts does, on pg): Prisma takes the executing slots as transaction locks in its held
 * transaction (`'xact'`, no rows) and the rows through the pool (`'none'`, rows), so that other
 * processes see them at once; PGlite counts executing slots in-process (`'none'`, rows).
 *
 * $1 run id, $2 how executing slots are taken ('xact' | 'none'), $3 whether rows are taken. One
 * row: `admit` (`{ok, slots}` or the refusal), null when the run has no flow control.
 */
import type { SqlNames } from '../names.js';

export function admitRunSql(n: SqlNames): string {
  return `SELECT CASE WHEN EXISTS (SELECT 1 FROM ${n.runs} c WHERE c.run_id = $1 AND c.flow_control_json IS NOT NULL)
      THEN ${n.admitRunFn}($1, ${n.slotNamespace}, $2, $3::boolean, NULL) END AS admit`;
}
