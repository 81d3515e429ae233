/**
 * The SQL of every store operation outside a lease, as named statements built once per schema.
 * Values are always parameters ($n, cast in SQL); only schema-qualified names, fixed fragments
 * and constants computed from the store's own configuration are spliced into the text.
 */
import type { NewRun } from '../types.js';
import type { SqlNames } from './names.js';
import { quoteLiteral } from './names.js';
import { dueInMsSql, eventsJson, runColumnsSql, runReadSql } from './rows.js';

/** Events of a write (`$events` = JSON array text from `eventsJson`) numbered after `base`. */
export function insertEventsSql(names: SqlNames, from: string, baseSeqSql: string, eventsParam: string): string {
  return `INSERT INTO ${names.events} (run_id, seq, at, type, node_id, branch_id, item_index, attempt, duration_ms, error_json, payload_json)
    SELECT ${from}.run_id, ${baseSeqSql} + e.ord::int, statement_timestamp(), e.type, e.node_id, e.branch_id, e.item_index, e.attempt, e.duration_ms, e.error, e.payload
    FROM ${from}, ROWS FROM (jsonb_to_recordset(${eventsParam}::jsonb)
      AS (type text, node_id text, branch_id text, item_index int, attempt int, duration_ms int, error jsonb, payload jsonb))
      WITH ORDINALITY AS e(type, node_id, branch_id, item_index, attempt, duration_ms, error, payload, ord)`;
}

/** `SELECT pg_notify(...) FROM <from>` when wake-ups are on, else an empty CTE body. */
export function notifySql(names: SqlNames, notify: boolean, from: string, condition = 'true'): string {
  return notify
    ? `SELECT pg_notify(${quoteLiteral(names.wakeChannel)}, ${from}.run_id) FROM ${from} WHERE ${condition}`
    : `SELECT NULL FROM ${from} WHERE (${condition}) AND false`; // keeps any parameter of the condition typed
}

/** One new run of `createRuns`' $1, as JSON text: input, state, branches and events embedded as they are. */
export function newRunJson(run: NewRun): string {
  const text = (v: string | null | undefined) => (v === null || v === undefined ? 'null' : JSON.stringify(v));
  return (
    `{"run_id":${text(run.runId)},"flow_id":${text(run.flowId)},"flow_version":${text(run.flowVersion)},"tenant_id":${text(run.tenantId)},` +
    `"current_node_id":${text(run.currentNodeId)},"input":${run.input},"state":${run.state},"branches":${run.branches},` +
    `"idempotency_key":${text(run.idempotencyKey)},"events":${eventsJson(run.events)},` +
    `"parent_run_id":${text(run.parentRunId)},"parent_node_id":${text(run.parentNodeId)}}`
  );
}

export interface RunQueries {
  /**
   * $1 a JSON array of new runs (`newRunJson`), inserted in one statement. Rows: per run,
   * `asked` (its run id), the run + `created` (when created, `input_json`, `state_json` and
   * `branches_json` are NULL: the caller has them); none for a run whose idempotency key another
   * transaction, or another run of this statement, took concurrently (its row is not in our
   * snapshot: re-read by the key).
   */
  createRuns: string;
  /** $1 idempotency key: the run that holds it. */
  runByIdempotencyKey: string;
  /** $1 runId. */
  getRun: string;
  /** $1 runId. */
  getEvents: string;
  /** $1 runId, $2 nodeId: the map's 'items' row and 'item' rows (`kind`, `item_index`, `value_json`). */
  getMapValues: string;
  /** $1 key. */
  getIdempotency: string;
  /** $1 flowId, $2 version, $3 fingerprint, $4 graph JSON. Rows: the stored definition (none under a race: re-read). */
  saveDefinition: string;
  /** $1 flowId, $2 version. */
  getDefinition: string;
  listDefinitions: string;
  /**
   * $1 runId, $2 error JSON, $3 events count, $4 events JSON. Rows: the run + `changed` +
   * `ended_parent` (the parent woken by the end of this child run, else NULL) + `cancelled` (JSON
   * array of the descendants cancelled with it, else NULL).
   */
  cancelRun: string;
  /** $1 limit, $2 flow keys JSON array or null. */
  findDueRuns: string;
  /** $1 flow keys JSON array or null. */
  msUntilNextDue: string;
  /**
   * Which of the tables exist, whether the three read-after-lock functions do, and whether the
   * cancel cascade's does: `{runs, events, definitions, idempotency, node_values, inbox,
   * sent_events, event_waits, event_receipts, fresh_fn, cancel_fn}` as booleans.
   */
  tablesPresent: string;
}

/**
 * The statements a driver may prepare once per connection: run often, fixed text, explicit result
 * columns, and served by a unique index whatever the table's size (a prepared statement may keep a
 * generic plan made when the table was small). The looks for due work are planned on every call.
 */
export function preparableRunQueries(q: RunQueries): string[] {
  return [q.createRuns, q.runByIdempotencyKey, q.getRun, q.getEvents, q.getMapValues, q.getIdempotency];
}

export function buildRunQueries(names: SqlNames, opts: { notify: boolean; skipLocked: boolean }): RunQueries {
  const due = dueInMsSql;
  const cols = runColumnsSql;
  const read = (alias: string) => runReadSql(names, alias);
  // `flowKey` (definitions/flow-key.ts) spelled in SQL.
  const flowKeyFilter = (alias: string, param: string) =>
    `(${param}::jsonb IS NULL OR (${alias}.flow_id || '@' || ${alias}.flow_version) IN (SELECT jsonb_array_elements_text(${param}::jsonb)))`;

  // Runs whose advisory lock someone holds right now (int8 keys appear split into classid/objid).
  // Cheap: one read of the lock table per call, and it spares workers a lockRun that would fail.
  const notLockedFilter = opts.skipLocked
    ? `AND ${names.lockKey('d.run_id')} NOT IN (
         SELECT (l.classid::int8 << 32) | l.objid::int8 FROM pg_locks l
         WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))`
    : '';

  return {
    // `n`: the new runs, one row each (see `newRunJson`); those whose idempotency key is taken
    // are not inserted, and the run holding the key is returned instead (when this statement's
    // snapshot has it: a key taken by a transaction that committed after it, or by another run
    // of this very statement, returns no row).
    createRuns: `WITH n AS MATERIALIZED (
        SELECT x ->> 'run_id' AS run_id, x ->> 'flow_id' AS flow_id, x ->> 'flow_version' AS flow_version,
               x ->> 'tenant_id' AS tenant_id, x ->> 'current_node_id' AS current_node_id, x -> 'input' AS input,
               x -> 'state' AS state, x -> 'branches' AS branches, x ->> 'idempotency_key' AS idempotency_key,
               x -> 'events' AS events, x ->> 'parent_run_id' AS parent_run_id, x ->> 'parent_node_id' AS parent_node_id, a.ord
        FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS a(x, ord)
      ), ins AS (
        INSERT INTO ${names.runs} (run_id, flow_id, flow_version, tenant_id, status, current_node_id, input_json, state_json,
                                   branches_json, idempotency_key, version, last_seq, created_at, updated_at, parent_run_id, parent_node_id)
        SELECT run_id, flow_id, flow_version, tenant_id, 'RUNNING', current_node_id, input, state, branches, idempotency_key, 1,
               jsonb_array_length(events), statement_timestamp(), statement_timestamp(), parent_run_id, parent_node_id
        FROM n ORDER BY ord
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING ${cols()}
      ), ins_events AS MATERIALIZED (
        SELECT ins.run_id, n.events FROM ins JOIN n ON n.run_id = ins.run_id
      ), ev AS (
        ${insertEventsSql(names, 'ins_events', '0', 'ins_events.events')}
      ), woke AS (
        ${notifySql(names, opts.notify, 'ins')}
      )
      -- The input, state and branches just inserted are not sent back: the caller has them (see
      -- createRun). A new run has no outputs yet, and an empty inbox.
      SELECT ins.run_id AS asked, ${runReadSql(names, 'ins', { outputs: `'{}'::jsonb`, inbox: 'false', nulled: ['input_json', 'state_json', 'branches_json'] })},
             true AS created, (SELECT count(*) FROM woke)::int AS woke FROM ins
      UNION ALL
      SELECT n.run_id, ${read('r')}, false, 0 FROM n JOIN ${names.runs} r ON r.idempotency_key = n.idempotency_key
      WHERE n.idempotency_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ins WHERE ins.run_id = n.run_id)`,

    runByIdempotencyKey: `SELECT ${read('r')} FROM ${names.runs} r WHERE r.idempotency_key = $1`,
    getRun: `SELECT ${read('r')} FROM ${names.runs} r WHERE r.run_id = $1`,
    getEvents: `SELECT run_id, seq, at, type, node_id, branch_id, item_index, attempt, duration_ms, error_json, payload_json
      FROM ${names.events} WHERE run_id = $1 ORDER BY seq`,
    getMapValues: `SELECT kind, item_index, value_json FROM ${names.nodeValues}
      WHERE run_id = $1 AND node_id = $2 AND kind IN ('items', 'item') ORDER BY kind, item_index`,
    getIdempotency: `SELECT key, run_id, node_id, result_json, created_at FROM ${names.idempotency} WHERE key = $1`,

    saveDefinition: `WITH ins AS (
        INSERT INTO ${names.definitions} (flow_id, version, fingerprint, graph_json, created_at)
        VALUES ($1, $2, $3, $4::jsonb, statement_timestamp())
        ON CONFLICT (flow_id, version) DO NOTHING
        RETURNING *
      )
      SELECT * FROM ins
      UNION ALL
      SELECT * FROM ${names.definitions} WHERE flow_id = $1 AND version = $2 AND NOT EXISTS (SELECT 1 FROM ins)`,
    getDefinition: `SELECT * FROM ${names.definitions} WHERE flow_id = $1 AND version = $2`,
    listDefinitions: `SELECT * FROM ${names.definitions} ORDER BY created_at, flow_id, version`,

    // Lock-free: fenced by status, and version+1 makes any in-flight holder's commit fail. A
    // cancelled run has no live branch (the current node still says where it stopped). The
    // terminal-run rule (see lease-queries.ts): a child run's end goes to its parent's inbox, and
    // the run's event waits are unregistered. Its unfinished descendants are cancelled by the same
    // statement (flow_cancel_runs, which writes only their rows), so a crash leaves none behind.
    cancelRun: `WITH upd AS (
        UPDATE ${names.runs}
        SET status = 'CANCELLED', error_json = $2::jsonb, branches_json = '[]', attempt_in_flight = false, next_attempt_at = NULL,
            wait_reason = NULL, version = version + 1, last_seq = last_seq + $3::int, updated_at = statement_timestamp()
        WHERE run_id = $1 AND status::text IN ('RUNNING', 'WAITING') -- as text: by primary key only (see lease-queries.ts)
        RETURNING ${cols()}
      ), cancelled AS MATERIALIZED (
        SELECT c.run_id FROM upd CROSS JOIN LATERAL ${names.cancelRunsFn}(
          ARRAY(SELECT k.run_id FROM ${names.runs} k WHERE k.parent_run_id = upd.run_id),
          'parent run ' || upd.run_id || ' was cancelled: ' || ($2::jsonb ->> 'message')) AS c(run_id)
      ), ev AS (
        ${insertEventsSql(names, 'upd', 'upd.last_seq - $3::int', '$4')}
      ), waits_ended AS (
        DELETE FROM ${names.eventWaits} x USING upd WHERE x.run_id = upd.run_id
      ), child_ended AS (
        INSERT INTO ${names.inbox} (run_id, kind, wait_id, branch_id, payload_json, created_at)
        SELECT upd.parent_run_id, 'child', NULL, NULL, jsonb_build_object('childRunId', upd.run_id, 'status', 'CANCELLED'), statement_timestamp()
        FROM upd WHERE upd.parent_run_id IS NOT NULL
          AND EXISTS (SELECT 1 FROM ${names.runs} p WHERE p.run_id = upd.parent_run_id) -- a pruned parent hears nothing
        RETURNING run_id
      ), woke AS (
        ${notifySql(names, opts.notify, 'child_ended')}
      )
      SELECT ${read('upd')}, true AS changed, (SELECT min(run_id) FROM child_ended) AS ended_parent, (SELECT count(*) FROM woke)::int AS woke,
        (SELECT jsonb_agg(run_id) FROM cancelled) AS cancelled FROM upd
      UNION ALL
      SELECT ${read('r')}, false, NULL, 0, NULL FROM ${names.runs} r WHERE r.run_id = $1 AND NOT EXISTS (SELECT 1 FROM upd)`,

    // Two kinds of due runs, one statement. Runs with entries in their inbox are found from the
    // inbox (a handful of rows: answers wait there only until their run's holder applies them),
    // each run by its primary key, whatever its due time; they come first, as answers wait for
    // them. Runs due by the clock are found with the (status, next_attempt_at) index, less those
    // listed already: the clock is read once, as an init plan (`(SELECT clock_timestamp())`), so
    // that it bounds the index scans instead of filtering every live run. The inner query is an
    // optimization fence (OFFSET 0): the lock filter then runs on due rows only.
    findDueRuns: `SELECT d.run_id FROM (
        SELECT r.run_id, 0 AS rank, r.next_attempt_at, r.created_at FROM ${names.runs} r
        WHERE r.run_id IN (SELECT i.run_id FROM ${names.inbox} i)
          AND r.status IN ('RUNNING', 'WAITING') AND ${flowKeyFilter('r', '$2')}
        UNION ALL
        SELECT r.run_id, 1 AS rank, r.next_attempt_at, r.created_at FROM ${names.runs} r
        WHERE ((r.status = 'RUNNING' AND r.next_attempt_at IS NULL)
            OR (r.status IN ('RUNNING', 'WAITING') AND r.next_attempt_at <= (SELECT clock_timestamp())))
          AND ${flowKeyFilter('r', '$2')}
          AND NOT EXISTS (SELECT 1 FROM ${names.inbox} i WHERE i.run_id = r.run_id)
        ORDER BY rank, next_attempt_at ASC NULLS FIRST, created_at, run_id
        OFFSET 0
      ) d
      WHERE true ${notLockedFilter}
      LIMIT $1::int`,

    // Future due times only: one already past belongs to a run that is due now (claimable, or held
    // by a holder whose release wakes the workers), and counting it would make idle workers spin.
    msUntilNextDue: `SELECT ${due('m')} AS ms FROM (
        SELECT min(r.next_attempt_at) AS next_attempt_at FROM ${names.runs} r
        WHERE r.status IN ('RUNNING', 'WAITING') AND r.next_attempt_at > clock_timestamp() AND ${flowKeyFilter('r', '$1')}
      ) m WHERE m.next_attempt_at IS NOT NULL`,

    tablesPresent: `SELECT to_regclass(${quoteLiteral(names.runs)}) IS NOT NULL AS runs,
        to_regclass(${quoteLiteral(names.events)}) IS NOT NULL AS events,
        to_regclass(${quoteLiteral(names.definitions)}) IS NOT NULL AS definitions,
        to_regclass(${quoteLiteral(names.idempotency)}) IS NOT NULL AS idempotency,
        to_regclass(${quoteLiteral(names.nodeValues)}) IS NOT NULL AS node_values,
        to_regclass(${quoteLiteral(names.inbox)}) IS NOT NULL AS inbox,
        to_regclass(${quoteLiteral(names.sentEvents)}) IS NOT NULL AS sent_events,
        to_regclass(${quoteLiteral(names.eventWaits)}) IS NOT NULL AS event_waits,
        to_regclass(${quoteLiteral(names.eventReceipts)}) IS NOT NULL AS event_receipts,
        to_regprocedure(${quoteLiteral(`${names.freshRunFn}(text,boolean)`)}) IS NOT NULL
          AND to_regprocedure(${quoteLiteral(`${names.freshOutputsFn}(text)`)}) IS NOT NULL
          AND to_regprocedure(${quoteLiteral(`${names.freshInboxFn}(text)`)}) IS NOT NULL AS fresh_fn,
        to_regprocedure(${quoteLiteral(`${names.cancelRunsFn}(text[],text)`)}) IS NOT NULL AS cancel_fn`,
  };
}
