/**
 * `joinDebouncedRun`: a debounced `startRun` joins the run of its flow and debounce key that has
 * not begun (RUNNING, only its RUN_STARTED event: `last_seq` 1): the run takes the newer input and
 * is due `delayMs` from now, never later than `maxWaitMs` after it was created (its first call).
 * The version moves, so a holder that read the row before cannot commit it.
 *
 * A run someone holds is not joined (it may be beginning its first step): with `skipLocked`, its
 * advisory lock is tried for this statement's transaction (`pg_try_advisory_xact_lock`), which
 * also keeps a worker from taking it meanwhile; PGlite's in-process locks are checked by the
 * caller (lock-modes.ts), which names them in $7. Found with the partial index of the flow_control migration.
 *
 * $1 flow id, $2 version, $3 debounce key, $4 the new input (JSON), $5 delayMs, $6 maxWaitMs or
 * null, ($7 without `skipLocked`: the runs held in this process, a JSON array). Rows: the run as read (`RunReadRow`), none when there is no such run.
 */
import type { SqlNames } from '../names.js';
import { runReadSql } from '../rows.js';

export function joinDebouncedRunSql(n: SqlNames, mode: { skipLocked: boolean }): string {
  const free = mode.skipLocked
    ? `AND pg_try_advisory_xact_lock(${n.lockKey('q.run_id')})`
    : `AND q.run_id NOT IN (SELECT jsonb_array_elements_text($7::jsonb))`;
  return `UPDATE ${n.runs} r SET input_json = $4::jsonb, version = r.version + 1, updated_at = statement_timestamp(),
        next_attempt_at = LEAST(statement_timestamp() + $5::float8 * interval '1 millisecond',
                                COALESCE(r.created_at + $6::float8 * interval '1 millisecond', 'infinity'::timestamptz))
    WHERE r.run_id = (
      SELECT q.run_id FROM ${n.runs} q
      WHERE q.flow_id = $1 AND q.flow_version = $2 AND q.flow_control_json ? 'debounce' AND q.last_seq = 1
        AND (q.flow_control_json -> 'debounce' ->> 'key') = $3 AND q.status = 'RUNNING' ${free}
      ORDER BY q.created_at LIMIT 1
      FOR UPDATE SKIP LOCKED)
    RETURNING ${runReadSql(n, 'r')}`;
}
