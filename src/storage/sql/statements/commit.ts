/**
 * `commit`: the transitions of many runs (group commit: see statement-group.ts) in one statement,
 * so one round trip and one commit for all, each run fenced by its own version. Everything one
 * step writes is here, in the order it is written:
 *
 * `t`: the transitions, one row each (see `transitionJson`). The run rows first: every other
 * part writes only for the runs whose fence held, through `upd`, which carries each run's
 * transition along. `prev_status` is read with the statement's snapshot: when the fence holds,
 * the row the UPDATE changed (any later write would have moved the version), so it says
 * whether this commit ends the run. (A subquery, not a join: a join of the runs table to the
 * transitions could be planned as a scan of the whole table.)
 * The fence: the version read, and no answer in the inbox to a wait the transition ends by its
 * timer (`answered`; `timed_out` is absent, and `answered` false, for nearly every commit).
 * Node values: the maps named in `clear_maps` are cleared of the rows this commit does not
 * write again, and the rows it writes (`vals`) are upserted, so no row is touched twice.
 * Inbox: the entries applied (`consumed`) are deleted; the waits that ended (`end_waits`) are
 * unregistered, every wait once the run is over; the events received (`receipts`) are
 * recorded; each wait registered (`add_waits`) gets the earliest stored event for it, sent at
 * or after the run's creation and not yet received by the run. The terminal-run rule: a commit
 * that ends a child run puts `{childRunId, status}` in its parent's inbox and wakes the parent.
 *
 * The failure handler: a commit that moves a live run to FAILED with a `failure_handler`
 * (`Transition.failureHandler`) creates that run (`handler`, `handler_ev`) in this very statement
 * and names it in the failed run's `failure_handler_run_id` — so no crash can leave a failed run
 * whose handler was never started, and the fence (one commit ends the run) makes it one. The
 * idempotency key holds it to one structurally: a run already holding the key is named instead
 * and nothing is inserted. The handler run has no parent: the cascade of the failure leaves it be.
 *
 * The cascade: a commit that ends its run FAILED or CANCELLED cancels every unfinished run below
 * it, and one that abandons children (`cancel_children`: the branch or item that waited for them
 * is gone) cancels those and theirs, through `flow_cancel_runs` (the cancel_cascade migration),
 * which writes only the rows of runs below this one. Such a commit is sent alone (`cascades`), as
 * is one that registers event waits (after `lockEvents`, in one transaction: see lock-events.ts)
 * or ends waits by their timers (after `lockRow`).
 *
 * $1 a JSON array of transitions (`transitionJson`), of different runs. One row per transition, in
 * their order: `asked` (its run id); the columns the database decided (`CommittedRow`, rows.ts:
 * all NULL when the fence failed) with `due_in_ms`, `read_at` and `has_inbox` (as of this
 * commit); `delivered_early` (entries put in the run's inbox for the waits it registered);
 * `ended_parent` (the parent woken by the end of this child run, else NULL); `answered` (refused:
 * a wait it ends by its timer has an answer in the inbox); `woke`; `cancelled` (a JSON array of
 * the runs its cascade cancelled, else NULL); `started_handler` (the failure handler run it
 * created, else NULL). The caller rebuilds the JSON columns from the
 * transition (`toCommittedRecord`).
 */
import { FINISHED_STATUSES, LIVE_STATUSES, sqlStatusList } from '../../../core/states.js';
import type { Transition } from '../../types.js';
import { addWaitsJson, endWaitsJson, inboxIdsJson, receiptsJson } from '../inbox-rows.js';
import type { SqlNames } from '../names.js';
import { quoteLiteral } from '../names.js';
import { errorJson, eventsJson, valuesJson } from '../rows.js';
import { newRunJson } from './create-runs.js';

export function commitSql(n: SqlNames, mode: { notify: boolean }): string {
  const live = sqlStatusList(LIVE_STATUSES);
  const finished = sqlStatusList(FINISHED_STATUSES);
  return `WITH t AS MATERIALIZED (
      SELECT x ->> 'run_id' AS run_id, (x ->> 'version')::int AS expected_version, a.ord,
             x ->> 'status' AS status, x ->> 'current_node_id' AS current_node_id,
             x -> 'state' AS state, x -> 'branches' AS branches, (x ->> 'attempt')::int AS attempt,
             x -> 'attempts' AS attempts, (x ->> 'attempt_in_flight')::boolean AS attempt_in_flight,
             (x ->> 'recoveries')::int AS recoveries, (x ->> 'delay_ms')::float8 AS delay_ms,
             (x ->> 'due_at')::timestamptz AS due_at, x ->> 'wait_reason' AS wait_reason, x -> 'error' AS error,
             x ->> 'outcome' AS outcome,
             x -> 'events' AS events, x ->> 'idem_key' AS idem_key, x ->> 'idem_run_id' AS idem_run_id,
             x ->> 'idem_node_id' AS idem_node_id, x -> 'idem_result' AS idem_result, (x ->> 'wake')::boolean AS wake,
             x -> 'vals' AS vals, x -> 'clear_maps' AS clear_maps, x -> 'consumed' AS consumed,
             x -> 'add_waits' AS add_waits, x -> 'end_waits' AS end_waits, x -> 'receipts' AS receipts,
             EXISTS (SELECT 1 FROM jsonb_array_elements(x -> 'timed_out') w JOIN ${n.inbox} i
                     ON i.run_id = x ->> 'run_id' AND i.branch_id = w ->> 'branch_id' AND i.wait_id = (w ->> 'wait_id')::int) AS answered,
             x -> 'cancel_children' AS cancel_children, x -> 'compensation' AS compensation, (x ->> 'compensated')::boolean AS compensated,
             x -> 'failure_handler' AS failure_handler
      FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS a(x, ord)
    ), upd AS (
      UPDATE ${n.runs} r SET
        status = t.status::${n.statusType},
        current_node_id = t.current_node_id,
        state_json = COALESCE(t.state, r.state_json),
        branches_json = COALESCE(t.branches, r.branches_json),
        attempt = t.attempt,
        attempts_json = COALESCE(t.attempts, r.attempts_json),
        attempt_in_flight = t.attempt_in_flight,
        recoveries = t.recoveries,
        -- Relative delays are added to the database clock, never the worker's. Truncated (the
        -- column would round) to whole ms, so a delay never reads back as longer than asked.
        next_attempt_at = CASE WHEN t.delay_ms IS NOT NULL
                               THEN date_trunc('milliseconds', clock_timestamp() + make_interval(secs => t.delay_ms / 1000))
                               ELSE t.due_at END,
        wait_reason = t.wait_reason,
        error_json = t.error,
        compensation_json = COALESCE(t.compensation, r.compensation_json),
        compensated = COALESCE(t.compensated, r.compensated),
        -- The handler run holding the key if there is one (never, under the fence), else the new one.
        failure_handler_run_id = CASE WHEN t.failure_handler IS NOT NULL AND t.status = 'FAILED' AND r.status::text IN (${live})
          THEN COALESCE((SELECT k.run_id FROM ${n.runs} k WHERE k.idempotency_key = t.failure_handler ->> 'idempotency_key'),
                        t.failure_handler ->> 'run_id')
          ELSE r.failure_handler_run_id END,
        -- A business outcome is replaced by the next one, never cleared: absent keeps it.
        outcome = COALESCE(t.outcome, r.outcome),
        version = r.version + 1,
        last_seq = r.last_seq + jsonb_array_length(t.events),
        updated_at = statement_timestamp()
      FROM t
      WHERE r.run_id = t.run_id AND r.version = t.expected_version AND NOT t.answered
      RETURNING r.run_id, r.status, r.current_node_id, r.updated_at, r.version, r.last_seq, r.attempt, r.attempt_in_flight,
        r.recoveries, r.next_attempt_at, r.wait_reason, r.outcome, r.created_at AS run_created_at, r.parent_run_id AS run_parent_id,
        r.failure_handler_run_id, t.failure_handler,
        (SELECT p.status FROM ${n.runs} p WHERE p.run_id = r.run_id) AS prev_status,
        t.events, t.idem_key, t.idem_run_id, t.idem_node_id, t.idem_result, t.wake, t.vals, t.clear_maps, t.consumed,
        t.add_waits, t.end_waits, t.receipts, t.cancel_children
    ), w AS MATERIALIZED (
      -- '->', not jsonb_to_recordset: a value that is JSON null must stay JSON null, not SQL NULL.
      SELECT upd.run_id, e ->> 'node_id' AS node_id, e ->> 'kind' AS kind, (e ->> 'item_index')::int AS item_index, e -> 'value' AS value
      FROM upd, jsonb_array_elements(upd.vals) e
    ), cleared AS (
      -- Nearly no commit clears a map: then there is no row here, and the run's item rows, which
      -- grow with the map, are not even scanned.
      DELETE FROM ${n.nodeValues} v USING (SELECT upd.run_id, m.node_id FROM upd, jsonb_array_elements_text(upd.clear_maps) m(node_id)) c
      WHERE v.run_id = c.run_id AND v.node_id = c.node_id AND v.kind IN ('items', 'item')
        AND NOT EXISTS (SELECT 1 FROM w WHERE w.run_id = v.run_id AND w.node_id = v.node_id AND w.kind = v.kind AND w.item_index = v.item_index)
    ), vals AS (
      INSERT INTO ${n.nodeValues} (run_id, node_id, kind, item_index, value_json, created_at)
      SELECT w.run_id, w.node_id, w.kind, w.item_index, w.value, statement_timestamp() FROM w
      ON CONFLICT (run_id, node_id, kind, item_index) DO UPDATE SET value_json = EXCLUDED.value_json
    ), ev AS (
      -- Numbered after the run's last event: its new last_seq less their count, plus their order.
      INSERT INTO ${n.events} (run_id, seq, at, type, node_id, branch_id, item_index, attempt, duration_ms, error_json, payload_json)
      SELECT upd.run_id, upd.last_seq - jsonb_array_length(upd.events) + e.ord::int, statement_timestamp(), e.type, e.node_id,
             e.branch_id, e.item_index, e.attempt, e.duration_ms, e.error, e.payload
      FROM upd, ROWS FROM (jsonb_to_recordset(upd.events)
        AS (type text, node_id text, branch_id text, item_index int, attempt int, duration_ms int, error jsonb, payload jsonb))
        WITH ORDINALITY AS e(type, node_id, branch_id, item_index, attempt, duration_ms, error, payload, ord)
    ), idem AS (
      INSERT INTO ${n.idempotency} (key, run_id, node_id, result_json, created_at)
      SELECT upd.idem_key, upd.idem_run_id, upd.idem_node_id, upd.idem_result, statement_timestamp() FROM upd WHERE upd.idem_key IS NOT NULL
      ON CONFLICT (key) DO NOTHING
    ), consumed AS (
      DELETE FROM ${n.inbox} i USING upd, jsonb_array_elements_text(upd.consumed) c(id)
      WHERE i.run_id = upd.run_id AND i.id = c.id::bigint
      RETURNING i.id
    ), waits_ended AS (
      DELETE FROM ${n.eventWaits} x USING upd
      WHERE x.run_id = upd.run_id
        AND (upd.status::text IN (${finished})
          OR (x.branch_id, x.wait_id) IN (SELECT e ->> 'branch_id', (e ->> 'wait_id')::int FROM jsonb_array_elements(upd.end_waits) e))
    ), received AS (
      INSERT INTO ${n.eventReceipts} (run_id, event_id)
      SELECT upd.run_id, r.event_id FROM upd, jsonb_array_elements_text(upd.receipts) AS r(event_id)
      ON CONFLICT DO NOTHING
    ), aw AS MATERIALIZED (
      SELECT upd.run_id, upd.run_created_at, upd.receipts, e ->> 'branch_id' AS branch_id, (e ->> 'wait_id')::int AS wait_id,
             e ->> 'name' AS name, e ->> 'key' AS key
      FROM upd, jsonb_array_elements(upd.add_waits) e
      WHERE upd.status::text IN (${live})
    ), waits_added AS (
      INSERT INTO ${n.eventWaits} (run_id, branch_id, wait_id, name, key, created_at)
      SELECT aw.run_id, aw.branch_id, aw.wait_id, aw.name, aw.key, statement_timestamp() FROM aw
      ON CONFLICT DO NOTHING
    ), early AS (
      -- The entry names the event (its payload is stored once). FOR KEY SHARE: an event being
      -- pruned is skipped for the next one, and one named here is not pruned (see pruneEvents).
      INSERT INTO ${n.inbox} (run_id, kind, wait_id, branch_id, event_id, created_at)
      SELECT aw.run_id, 'event', aw.wait_id, aw.branch_id, s.event_id, statement_timestamp()
      FROM aw CROSS JOIN LATERAL (
        SELECT s.event_id FROM ${n.sentEvents} s
        WHERE s.name = aw.name AND (aw.key IS NULL OR s.key = aw.key) AND s.sent_at >= aw.run_created_at
          AND NOT EXISTS (SELECT 1 FROM ${n.eventReceipts} x WHERE x.run_id = aw.run_id AND x.event_id = s.event_id)
          AND s.event_id NOT IN (SELECT jsonb_array_elements_text(aw.receipts))
        ORDER BY s.sent_at, s.event_id
        LIMIT 1
        FOR KEY SHARE
      ) s
      ON CONFLICT (run_id, wait_id) DO NOTHING
      RETURNING run_id
    ), child_ended AS (
      INSERT INTO ${n.inbox} (run_id, kind, wait_id, branch_id, payload_json, created_at)
      SELECT upd.run_parent_id, 'child', NULL, NULL, jsonb_build_object('childRunId', upd.run_id, 'status', upd.status::text), statement_timestamp()
      FROM upd
      WHERE upd.run_parent_id IS NOT NULL
        AND upd.status::text IN (${finished}) AND upd.prev_status::text IN (${live})
        AND EXISTS (SELECT 1 FROM ${n.runs} p WHERE p.run_id = upd.run_parent_id) -- a pruned parent hears nothing
      RETURNING run_id AS parent_id, payload_json ->> 'childRunId' AS child_id
    ), cancelled AS MATERIALIZED (
      -- The cascade (see the cancel_cascade migration). A commit that may have one is sent alone
      -- (see cascades() below), and the function writes only the rows of runs below this one.
      SELECT upd.run_id AS parent_id, c.run_id
      FROM upd CROSS JOIN LATERAL ${n.cancelRunsFn}(
        ARRAY(SELECT k.run_id FROM ${n.runs} k WHERE k.parent_run_id = upd.run_id -- its children only, never itself
                AND (upd.status::text IN ('FAILED', 'CANCELLED') OR k.run_id IN (SELECT jsonb_array_elements_text(upd.cancel_children)))),
        'parent run ' || upd.run_id || CASE upd.status::text WHEN 'FAILED' THEN ' failed' WHEN 'CANCELLED' THEN ' was cancelled' ELSE ' no longer waits for it' END
      ) AS c(run_id)
      WHERE jsonb_array_length(upd.cancel_children) > 0 OR upd.status::text IN ('FAILED', 'CANCELLED')
    ), handler AS (
      -- The failed run's onFailure run, when this commit chose a new one (see the UPDATE).
      INSERT INTO ${n.runs} (run_id, flow_id, flow_version, tenant_id, status, current_node_id, input_json, state_json,
                             branches_json, idempotency_key, version, last_seq, created_at, updated_at, failure_of, traceparent)
      SELECT h ->> 'run_id', h ->> 'flow_id', h ->> 'flow_version', h ->> 'tenant_id', 'RUNNING', h ->> 'current_node_id', h -> 'input',
             h -> 'state', h -> 'branches', h ->> 'idempotency_key', 1, jsonb_array_length(h -> 'events'),
             statement_timestamp(), statement_timestamp(), upd.run_id, h ->> 'traceparent'
      FROM upd CROSS JOIN LATERAL (SELECT upd.failure_handler AS h) x
      WHERE upd.failure_handler IS NOT NULL AND upd.failure_handler_run_id = h ->> 'run_id'
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING run_id, failure_of
    ), handler_ev AS (
      -- Its first events, numbered 1, 2, … (as createRuns numbers a new run's).
      INSERT INTO ${n.events} (run_id, seq, at, type, node_id, branch_id, item_index, attempt, duration_ms, error_json, payload_json)
      SELECT handler.run_id, e.ord::int, statement_timestamp(), e.type, e.node_id, e.branch_id, e.item_index, e.attempt, e.duration_ms,
             e.error, e.payload
      FROM handler JOIN upd ON upd.run_id = handler.failure_of,
        ROWS FROM (jsonb_to_recordset(upd.failure_handler -> 'events')
          AS (type text, node_id text, branch_id text, item_index int, attempt int, duration_ms int, error jsonb, payload jsonb))
          WITH ORDINALITY AS e(type, node_id, branch_id, item_index, attempt, duration_ms, error, payload, ord)
    ), wake AS (
      SELECT upd.run_id FROM upd WHERE upd.wake OR upd.run_id IN (SELECT run_id FROM early)
      UNION ALL
      SELECT child_ended.parent_id FROM child_ended
      UNION ALL
      SELECT handler.run_id FROM handler
    ), woke AS (
      SELECT pg_notify(${quoteLiteral(n.wakeChannel)}, wake.run_id) FROM wake WHERE ${mode.notify}
    )
    -- One row per transition, in their order; a run whose fence failed has NULLs. The inbox as
    -- of this commit: the statement's snapshot, less what it consumed, plus what it delivered.
    SELECT t.run_id AS asked, upd.run_id, upd.status, upd.current_node_id, upd.updated_at, upd.version, upd.last_seq, upd.attempt,
      upd.attempt_in_flight, upd.recoveries, upd.next_attempt_at, upd.wait_reason, upd.failure_handler_run_id, upd.outcome,
      GREATEST(0, CEIL(EXTRACT(EPOCH FROM (upd.next_attempt_at - clock_timestamp())) * 1000))::float8 AS due_in_ms, clock_timestamp() AS read_at,
      upd.run_id IS NOT NULL AND (EXISTS (SELECT 1 FROM ${n.inbox} i WHERE i.run_id = upd.run_id AND i.id NOT IN (SELECT id FROM consumed))
        OR upd.run_id IN (SELECT run_id FROM early)) AS has_inbox,
      (SELECT count(*) FROM early WHERE early.run_id = upd.run_id)::int AS delivered_early,
      (SELECT min(parent_id) FROM child_ended WHERE child_ended.child_id = upd.run_id) AS ended_parent,
      upd.run_id IS NULL AND t.answered AS answered,
      (SELECT count(*) FROM woke)::int AS woke,
      (SELECT jsonb_agg(cancelled.run_id) FROM cancelled WHERE cancelled.parent_id = upd.run_id) AS cancelled,
      (SELECT min(handler.run_id) FROM handler WHERE handler.failure_of = upd.run_id) AS started_handler
    FROM t LEFT JOIN upd ON upd.run_id = t.run_id
    ORDER BY t.ord`;
}

/**
 * One transition of `commit`'s $1, as JSON text: the texts it already holds (state, branches,
 * values, events…) are embedded as they are, not parsed and printed again. Keys whose value is
 * left as it was are omitted (`->` then reads SQL NULL, and the column keeps its value).
 */
export function transitionJson(runId: string, t: Transition): string {
  const u = t.update;
  const due = u.nextAttemptAt;
  const idem = t.idempotency;
  const fields = [
    `"run_id":${JSON.stringify(runId)}`,
    `"version":${Math.trunc(t.expectedVersion)}`,
    `"status":${JSON.stringify(u.status)}`,
    `"current_node_id":${u.currentNodeId === null ? 'null' : JSON.stringify(u.currentNodeId)}`,
    `"attempt":${Math.trunc(u.attempt)}`,
    `"attempt_in_flight":${u.attemptInFlight === true}`,
    `"recoveries":${Math.trunc(u.recoveries)}`,
    `"wait_reason":${u.waitReason === null ? 'null' : JSON.stringify(u.waitReason)}`,
    `"wake":${t.wake === true}`,
    `"events":${eventsJson(t.events)}`,
    `"vals":${valuesJson(t.values)}`,
    `"clear_maps":${JSON.stringify(t.clearMaps ?? [])}`,
    `"consumed":${inboxIdsJson(t.consumeInbox)}`,
    `"add_waits":${addWaitsJson(t.addWaits)}`,
    `"end_waits":${endWaitsJson(t.endWaits)}`,
    `"receipts":${receiptsJson(t.receipts)}`,
    `"cancel_children":${JSON.stringify(t.cancelChildren ?? [])}`,
  ];
  if (t.failureHandler) fields.push(`"failure_handler":${newRunJson(t.failureHandler)}`);
  if (t.timedOutWaits?.length) fields.push(`"timed_out":${endWaitsJson(t.timedOutWaits)}`);
  if (u.state !== undefined) fields.push(`"state":${u.state}`);
  if (u.branches !== undefined) fields.push(`"branches":${u.branches}`);
  if (u.attempts !== undefined) fields.push(`"attempts":${u.attempts}`);
  if (u.compensation !== undefined) fields.push(`"compensation":${u.compensation}`);
  if (u.compensated !== undefined && u.compensated !== null) fields.push(`"compensated":${u.compensated}`);
  if (u.error) fields.push(`"error":${JSON.stringify(errorJson(u.error))}`);
  if (u.outcome !== undefined) fields.push(`"outcome":${JSON.stringify(u.outcome)}`);
  if (due && 'delayMs' in due) fields.push(`"delay_ms":${Math.max(0, Number(due.delayMs))}`);
  if (due && 'at' in due) fields.push(`"due_at":${JSON.stringify(due.at.toISOString())}`);
  if (idem) {
    fields.push(`"idem_key":${JSON.stringify(idem.key)}`, `"idem_run_id":${JSON.stringify(idem.runId)}`, `"idem_node_id":${JSON.stringify(idem.nodeId)}`);
    fields.push(`"idem_result":${idem.result}`);
  }
  return `{${fields.join(',')}}`;
}

/** The commit may cancel runs below its own (`Transition.cancelChildren`): it is then sent alone. */
export function cascades(t: Transition): boolean {
  return (t.cancelChildren?.length ?? 0) > 0 || t.update.status === 'FAILED' || t.update.status === 'CANCELLED';
}

/** True when a commit row says the fence held (the UPDATE matched). */
export function commitApplied(row: Record<string, unknown> | undefined): row is Record<string, unknown> {
  return row !== undefined && row.run_id !== null && row.run_id !== undefined;
}

/** The run ids of a `cancelled` column (a JSON array, parsed or not by the driver; NULL when none). */
export function cancelledIds(column: unknown): string[] {
  const value: unknown = typeof column === 'string' ? JSON.parse(column) : column;
  return Array.isArray(value) ? value.map(String) : [];
}
