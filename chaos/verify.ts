/**
 * The soak's verdict, read straight from the database after every worker has stopped:
 *  - every run reached COMPLETED with exactly the state and outputs of an uninterrupted run (the
 *    map's output is the expected array for the run's input, in item order; the child node's is
 *    its child's outputs; the event wait's is the soak's payload);
 *  - its transitions were committed exactly once: seqs 1..lastSeq without gaps, each node of its
 *    path finished once, each map item finished once and never begun again after it finished, the
 *    split started its five branches once, the join gathered them and ran once, two waits (approval
 *    or cooldown, and the event wait), one resume, one completion; every attempt begun (a map
 *    item's included) closed once, at most `concurrency` items of the map in flight at a time;
 *  - each run has exactly one child run, started by its `ledger` node, linked back to it, completed
 *    with the expected outputs and a whole timeline; no child run without its CHILD_STARTED;
 *  - each event wait received exactly one event, one the soak sent for that run, and saw its payload;
 *  - each idempotent side effect (charge, the two branches', every map item's, the child's ledger
 *    entry) exists once per key;
 *  - every handler execution logged is in the timeline (its attempt was begun), none twice;
 *  - the saga runs (chaos/verify-saga.ts) ended as their input says: completed, completed through a
 *    catch, or failed with every finished step undone once, newest first (`compensated: true`);
 *  - the timeline agrees with the row; no advisory lock, inbox entry or event wait is left; no run
 *    (nor child) is stuck;
 *  - every tick of the soak's one-second schedule has exactly one run (soak-schedule.ts).
 */
import { isDeepStrictEqual } from 'node:util';
import type { DatabaseAdmin } from './database-admin.js';
import { SAGA_FLOW_ID, sagaRunsFor } from './saga-flow.js';
import { sideTables } from './side-tables.js';
import { SCHEDULE_FLOW_ID, verifySoakSchedule } from './soak-schedule.js';
import { verifySagas } from './verify-saga.js';
import { LIMITED_FLOW_ID } from './soak-limited.js';
import {
  branchOf,
  CHILD_FLOW_ID,
  CHILD_FLOW_VERSION,
  CHILD_NODE,
  childInput,
  expectedChildResult,
  expectedEffects,
  expectedResult,
  itemsOf,
  MAP_CONCURRENCY,
  SIGNAL_EVENT,
  SIGNAL_NODE,
  signalPayload,
  SOAK_FLOW_ID,
  SOAK_FLOW_VERSION,
  SOAK_MIGRATED_VERSION,
  SPLIT_BRANCHES,
  type ChildInput,
  type SoakInput,
} from './soak-flow.js';

/** What the soak sent as one run's signal: the events it was told were stored, and the sends that failed (stored or not). */
export interface SentSignal {
  runId: string;
  /** Copies planned (2: a duplicate delivery). */
  copies: number;
  /** Each stored copy: its id and how many waits it was delivered to when sent (0: none registered yet). */
  sent: Array<{ eventId: string; delivered: number }>;
  /** Sends that threw (a fault): each may have been stored, its reply lost. */
  failedSends: number;
}

interface RunRow {
  run_id: string;
  flow_id: string;
  flow_version: string;
  status: string;
  input_json: SoakInput;
  state_json: unknown;
  outputs_json: unknown;
  branches_json: unknown;
  last_seq: number;
  attempt_in_flight: boolean;
  current_node_id: string | null;
  error_json: unknown;
  parent_run_id: string | null;
  parent_node_id: string | null;
}
interface EventRow {
  run_id: string;
  seq: number;
  type: string;
  node_id: string | null;
  branch_id: string | null;
  item_index: number | null;
  attempt: number | null;
  /** Only for the types whose payload the checks read (PAYLOAD_TYPES); null otherwise. */
  payload: Record<string, unknown> | null;
}
/** The event types whose payload the verifier reads. */
const PAYLOAD_TYPES = ['RUN_STARTED', 'CHILD_STARTED', 'CHILD_FINISHED', 'EVENT_RECEIVED', 'RUN_RESUMED', 'RUN_MIGRATED'];

/** The checks, by id, as the report lists them. */
export const CHECKS = {
  result:
    "every run reached COMPLETED with exactly the state and outputs of an uninterrupted run (the map's output is exactly the expected array, the child node's its child's outputs, the event wait's the soak's payload)",
  starts: 'each input started exactly one run (startRun retried with an idempotency key)',
  transitions:
    'transitions committed exactly once: seqs 1..lastSeq without gaps or repeats; each node of the path finished once, the other branch never; each map item finished once and never begun after; two RUN_WAITING (approval or cooldown, the event wait), one RUN_RESUMED, one RUN_COMPLETED (last)',
  branches:
    'the split started its 5 branches once, each arrived at the join once, the join completed and its node ran (finished) once, nothing aborted or ended early',
  attempts:
    'every attempt begun (NODE_STARTED, per branch and item) closed by exactly one outcome, a child started and finished inside it; at most `concurrency` items in flight; the row agrees (lastSeq, no branch, no attempt in flight, no error)',
  children:
    'every run has exactly the expected child runs: one, started by its ledger node (at most one CHILD_STARTED per attempt), COMPLETED with the expected state and outputs and a whole timeline, its parentRunId/parentNodeId pointing back; one CHILD_FINISHED per child with its status; the node output equals the child outputs; no child without its CHILD_STARTED',
  events:
    "every event wait received exactly one EVENT_RECEIVED (name chaos.signal, key the run's id), after its RUN_WAITING and before the node ran again, of an event the soak sent for that run (early, late or duplicated), whose payload the node saw; one receipt per run; no event wait or inbox entry left",
  effects:
    "each idempotent side effect (charge, audit, notify, every map item, the child's ledger entry) exists exactly once per key, written by its node (the ledger's by the run's child) with the expected amount; no other rows",
  transactions:
    "the transactional node (finish) left exactly one row per COMPLETED run, written in its step's transaction, and none for a run that did not finish it, however often its handler ran",
  executions: 'every handler execution logged is in the timeline (its attempt was begun) and no attempt was executed twice',
  takeover: "the frozen worker's run was taken over and its late commit refused",
  sagas:
    'each saga input started one run, which ended as its input says: COMPLETED through its catch (one NODE_CAUGHT, the catch target saw ctx.error), COMPLETED, or FAILED compensated:true with one NODE_COMPENSATED per finished step (each map item, pay, hold) newest first, none failed for good, RUN_ABORTED last; undo rows exactly those of the undone steps',
  crashes: "no worker process died on its own (every exit was a SIGKILL of the soak or a graceful stop); no unhandled error in the soak's own process",
  leftovers: 'no run (nor child run) left RUNNING or WAITING; no run advisory lock left in pg_locks; no session of the soak left open',
  schedule: 'every tick of the one-second schedule, from its first until the soak stopped it, has exactly one run, COMPLETED',
  migration:
    'every run migrated in flight (version 1 → 2, while workers were killed) is on version 2 with exactly one RUN_MIGRATED { fromVersion: 1, toVersion: 2, nodeMap: {} }, and every run on version 2 has one; every other run is on version 1 with none (the other checks hold for both)',
  flowControl:
    'no customer of the flow-control runs (2 per customer) ever had more than 2 steps running at once, and every one of them completed (no run stuck behind a slot held by a killed process)',
} as const;
export type CheckId = keyof typeof CHECKS;

export interface Violation {
  check: CheckId;
  message: string;
}

export interface Verdict {
  violations: Violation[];
  stats: Record<string, number>;
}

/** What closes an attempt. BRANCH_ABORTED would too, but the soak's flow never aborts a branch. */
const OUTCOMES = new Set(['NODE_FINISHED', 'NODE_FAILED', 'RUN_WAITING', 'NODE_INTERRUPTED']);
const MAP_NODE = 'items';

type Fail = (check: CheckId, message: string) => void;
type Bump = (key: string, by?: number) => void;

export async function verifySoak(
  admin: DatabaseAdmin,
  schema: string,
  expectedRuns: number,
  signals: ReadonlyMap<number, SentSignal>,
  scheduleWindow: { from: number | null; to: number },
  /** Runs a `migrateRuns` call reported migrated (a call cut off by a fault may have moved others). */
  migrated: ReadonlySet<string> = new Set(),
): Promise<Verdict> {
  const violations: Violation[] = [];
  const fail: Fail = (check, message) => void violations.push({ check, message });
  const stats: Record<string, number> = {};
  const bump: Bump = (key, by = 1) => void (stats[key] = (stats[key] ?? 0) + by);
  const s = `"${schema}"`;
  // Outputs live in rows of their own (flow_node_values); the schema's flow_run_outputs() assembles them.
  const allRuns = await admin.query<RunRow>(
    `SELECT run_id, flow_id, flow_version, status::text AS status, input_json, state_json, ${s}.flow_run_outputs(run_id) AS outputs_json, branches_json,
            last_seq, attempt_in_flight, current_node_id, error_json, parent_run_id, parent_node_id FROM ${s}.flow_runs`,
  );
  const events = await admin.query<EventRow>(
    `SELECT run_id, seq, type::text AS type, node_id, branch_id, item_index, attempt,
            CASE WHEN type::text = ANY($1::text[]) THEN payload_json END AS payload
     FROM ${s}.flow_events ORDER BY run_id, seq`,
    [PAYLOAD_TYPES],
  );
  const tables = sideTables(schema);
  const executions = await admin.query<{ run_id: string; node_id: string; branch_id: string; item_index: number | null; attempt: number; n: number }>(
    tables.executions,
  );
  const effects = await admin.query<{ key: string; run_id: string; node_id: string; item_index: number | null; amount: number }>(tables.sideEffects);
  const conflicts = await admin.query<{ key: string; run_id: string; node_id: string; item_index: number | null; attempt: number }>(tables.conflicts);
  const txWrites = new Map((await admin.query<{ run_id: string; n: number }>(tables.txWrites)).map((r) => [r.run_id, r.n]));
  // Map values left behind: a finished map's item rows are cleared when its output is written —
  // unless its node has a `compensate` (the saga's map), whose undo of an item is shown the item.
  const [{ n: leftoverValues }] = (await admin.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${s}.flow_node_values WHERE kind <> 'output' AND run_id NOT IN (SELECT run_id FROM ${s}.flow_runs WHERE flow_id = $1)`,
    [SAGA_FLOW_ID],
  )) as [{ n: number }];
  const sentEvents = await admin.query<SentEventRow>(`SELECT event_id, name, key, payload_json FROM ${s}.flow_sent_events`);
  const receipts = await admin.query<{ run_id: string; event_id: string }>(`SELECT run_id, event_id FROM ${s}.flow_event_receipts`);
  const [{ n: inboxLeft }] = (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${s}.flow_inbox`)) as [{ n: number }];
  const [{ n: waitsLeft }] = (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${s}.flow_event_waits`)) as [{ n: number }];

  const timelines = new Map<string, EventRow[]>();
  for (const e of events) (timelines.get(e.run_id) ?? timelines.set(e.run_id, []).get(e.run_id)!).push(e);
  const runs = allRuns.filter((r) => r.flow_id === SOAK_FLOW_ID);
  const children = allRuns.filter((r) => r.flow_id === CHILD_FLOW_ID);
  await verifySoakSchedule(admin, schema, scheduleWindow, (message) => fail('schedule', message), bump);
  for (const r of allRuns)
    if (![SOAK_FLOW_ID, CHILD_FLOW_ID, SAGA_FLOW_ID, SCHEDULE_FLOW_ID, LIMITED_FLOW_ID].includes(r.flow_id))
      fail('starts', `run ${r.run_id} of an unknown flow ${r.flow_id}`);
  const runById = new Map(runs.map((r) => [r.run_id, r]));
  const childById = new Map(children.map((r) => [r.run_id, r]));
  const childrenOf = new Map<string, RunRow[]>();
  for (const c of children) (childrenOf.get(c.parent_run_id ?? '') ?? childrenOf.set(c.parent_run_id ?? '', []).get(c.parent_run_id ?? '')!).push(c);

  // Each input index started exactly once (startRun retried under faults uses an idempotency key).
  const seen = new Set<number>();
  for (const run of runs) {
    if (seen.has(run.input_json.i)) fail('starts', `input ${run.input_json.i} was started as more than one run`);
    seen.add(run.input_json.i);
    if (run.parent_run_id !== null) fail('starts', `run ${run.run_id} (input ${run.input_json.i}) has a parent run ${run.parent_run_id}`);
  }
  if (runs.length !== expectedRuns) fail('starts', `${runs.length} runs in the database, expected ${expectedRuns}`);

  /** The child run each run's ledger node took its output from (the one its last CHILD_STARTED names). */
  const childOfRun = new Map<string, string>();
  const sentById = new Map(sentEvents.map((e) => [e.event_id, e]));
  for (const run of runs) {
    const where = `run ${run.run_id} (input ${run.input_json.i})`;
    bump(`status ${run.status}`);
    const timeline = timelines.get(run.run_id) ?? [];
    // Children and events are checked whatever the run's end: a stuck run is often stuck there.
    const child = checkChildren(where, run, timeline, childrenOf.get(run.run_id) ?? [], childById, bump, fail);
    if (child) childOfRun.set(run.run_id, child.run_id);
    checkSignal(where, run, timeline, signals.get(run.input_json.i), sentById, bump, fail);
    checkMigration(where, run, timeline, migrated.has(run.run_id), bump, fail);
    if (run.status !== 'COMPLETED') {
      fail(
        'leftovers',
        `${where}: ended ${run.status} (at ${run.current_node_id}, branches ${JSON.stringify(run.branches_json)}, error ${JSON.stringify(run.error_json)}) — stuck or wrongly failed`,
      );
      continue;
    }
    const expected = expectedResult(run.input_json);
    if (!isDeepStrictEqual(run.state_json, expected.state))
      fail('result', `${where}: state ${JSON.stringify(run.state_json)}, expected ${JSON.stringify(expected.state)}`);
    for (const node of new Set([...Object.keys(expected.outputs), ...Object.keys(run.outputs_json as object)])) {
      const got = (run.outputs_json as Record<string, unknown>)[node];
      if (!isDeepStrictEqual(got, expected.outputs[node]))
        fail('result', `${where}: output of ${node} ${JSON.stringify(got)}, expected ${JSON.stringify(expected.outputs[node])}`);
    }
    checkRowAtRest(where, run, fail);
    checkTimeline(where, run, timeline, bump, fail);
  }
  bump(
    'map items',
    runs.reduce((n, r) => n + itemsOf(r.input_json).length, 0),
  );
  if (leftoverValues > 0) fail('leftovers', `${leftoverValues} map item/items rows left in flow_node_values after every map finished`);

  // The child runs themselves: linked to a run, at rest with the expected result, a whole timeline.
  for (const child of children) {
    const input = child.input_json as unknown as ChildInput;
    const where = `child run ${child.run_id} (input ${input?.i}, parent ${child.parent_run_id})`;
    bump(`child status ${child.status}`);
    const parent = child.parent_run_id === null ? undefined : runById.get(child.parent_run_id);
    if (!parent) fail('children', `${where}: its parentRunId names no run of the soak`);
    else if (!isDeepStrictEqual(input, childInput(parent.input_json)))
      fail('children', `${where}: input ${JSON.stringify(input)}, expected ${JSON.stringify(childInput(parent.input_json))}`);
    if (child.parent_node_id !== CHILD_NODE) fail('children', `${where}: parentNodeId ${child.parent_node_id}, expected ${CHILD_NODE}`);
    if (child.status !== 'COMPLETED') {
      fail('leftovers', `${where}: ended ${child.status} (at ${child.current_node_id}, error ${JSON.stringify(child.error_json)}) — stuck or wrongly failed`);
      continue;
    }
    const expected = expectedChildResult(input);
    if (!isDeepStrictEqual(child.state_json, expected.state))
      fail('children', `${where}: state ${JSON.stringify(child.state_json)}, expected ${JSON.stringify(expected.state)}`);
    if (!isDeepStrictEqual(child.outputs_json, expected.outputs))
      fail('children', `${where}: outputs ${JSON.stringify(child.outputs_json)}, expected ${JSON.stringify(expected.outputs)}`);
    checkRowAtRest(where, child, fail);
    checkChildTimeline(where, child, timelines.get(child.run_id) ?? [], bump, fail);
  }

  // At-least-once, each execution accounted for: its attempt was begun (NODE_STARTED), and no attempt
  // ran twice. A resume restarts the attempt count, so one (node, attempt) may be begun more than once.
  const attemptKey = (x: { run_id: string; node_id: string | null; branch_id: string | null; item_index: number | null; attempt: number | null }) =>
    `${x.run_id}|${x.node_id}|${x.branch_id}|${x.item_index ?? '-'}|${x.attempt}`;
  const started = new Map<string, number>();
  for (const e of events) if (e.type === 'NODE_STARTED') started.set(attemptKey(e), (started.get(attemptKey(e)) ?? 0) + 1);
  const perNode = new Map<string, number>();
  for (const x of executions) {
    bump('handler executions', x.n);
    if (childById.has(x.run_id)) bump('child handler executions', x.n);
    const what = `${x.node_id}${x.item_index === null ? '' : ` item ${x.item_index}`} (branch ${x.branch_id})`;
    const begun = started.get(attemptKey(x)) ?? 0;
    if (begun === 0) fail('executions', `run ${x.run_id}: an execution of ${what} attempt ${x.attempt} has no NODE_STARTED in the timeline`);
    else if (x.n > begun) fail('executions', `run ${x.run_id}: attempt ${x.attempt} of ${what} was begun ${begun} time(s) but executed ${x.n} times`);
    const k = `${x.run_id}|${x.node_id}|${x.item_index ?? '-'}`;
    perNode.set(k, (perNode.get(k) ?? 0) + x.n);
  }
  for (const [k, n] of perNode) {
    if (n <= 1) continue;
    const node = k.split('|')[1];
    if (node === 'charge' || node === 'gather' || node === 'fetch' || node === 'post') bump(`${node} handler re-executed (runs)`);
    if (node === MAP_NODE) bump('map items re-executed');
  }

  // The idempotent side effects: exactly the expected rows, one per key, by the expected node (the
  // ledger entry by the run's child: the one its node took its output from).
  // The saga runs' rows (their undos) are verifySagas' to check.
  await verifySagas(admin, schema, sagaRunsFor(expectedRuns), effects, conflicts, fail, bump);
  const sagaRuns = new Set(allRuns.filter((r) => r.flow_id === SAGA_FLOW_ID).map((r) => r.run_id));
  const soakRows = effects.filter((e) => !sagaRuns.has(e.run_id));
  const byKey = new Map(soakRows.map((e) => [e.key, e]));
  bump('side-effect rows', soakRows.length);
  bump('side-effect conflicts (re-executions of uncommitted attempts)', conflicts.length);
  bump('item side-effect conflicts', conflicts.filter((c) => c.node_id === MAP_NODE).length);
  bump('ledger side-effect conflicts', conflicts.filter((c) => c.node_id === 'post').length);
  // The transactional node's rows: no key to deduplicate them, only the step's transaction.
  for (const run of runs) {
    const want = run.status === 'COMPLETED' ? 1 : 0;
    const got = txWrites.get(run.run_id) ?? 0;
    if (got !== want) fail('transactions', `run ${run.run_id} (${run.status}): ${got} rows of its transactional node, expected ${want}`);
  }
  bump(
    'transactional node rows',
    [...txWrites.values()].reduce((a, n) => a + n, 0),
  );
  bump(
    'transactional node executions',
    [...perNode].filter(([k]) => k.split('|')[1] === 'finish').reduce((a, [, n]) => a + n, 0),
  );
  let expectedRows = 0;
  for (const run of runs) {
    for (const [key, want] of expectedEffects(run.input_json)) {
      expectedRows += 1;
      const effect = byKey.get(key);
      const what = `run ${run.run_id} (input ${run.input_json.i})`;
      const writer = want.child ? childOfRun.get(run.run_id) : run.run_id;
      const { child: _child, ...row } = want;
      if (!effect) fail('effects', `${what}: no side effect under ${key}`);
      else if (effect.run_id !== writer || effect.node_id !== want.nodeId || effect.item_index !== want.itemIndex || effect.amount !== want.amount) {
        fail('effects', `${what}: side effect ${key} is ${JSON.stringify(effect)}, expected ${JSON.stringify({ run_id: writer ?? '(its child)', ...row })}`);
      }
    }
  }
  if (soakRows.length !== expectedRows) fail('effects', `${soakRows.length} side-effect rows, expected ${expectedRows}`);

  // Events: each run received one (its EVENT_RECEIVED's), and no stored event the soak did not send.
  const receiptsOf = new Map<string, string[]>();
  for (const r of receipts) (receiptsOf.get(r.run_id) ?? receiptsOf.set(r.run_id, []).get(r.run_id)!).push(r.event_id);
  for (const [runId, ids] of receiptsOf) {
    const run = runById.get(runId);
    if (!run) fail('events', `${childById.has(runId) ? 'child ' : ''}run ${runId} has event receipts ${JSON.stringify(ids)}, but it never waits for an event`);
    else if (ids.length !== 1) fail('events', `run ${runId} (input ${run.input_json.i}): ${ids.length} event receipts ${JSON.stringify(ids)}, expected 1`);
  }
  for (const run of runs)
    if (run.status === 'COMPLETED' && !receiptsOf.has(run.run_id))
      fail('events', `run ${run.run_id} (input ${run.input_json.i}): completed without an event receipt`);
  const sentPerKey = new Map<string, number>();
  for (const e of sentEvents) {
    if (e.name !== SIGNAL_EVENT || e.key === null || !runById.has(e.key))
      fail('events', `stored event ${e.event_id} (${e.name}, key ${e.key}) is not a signal of a run of the soak`);
    else sentPerKey.set(e.key, (sentPerKey.get(e.key) ?? 0) + 1);
  }
  bump('signal events stored', sentEvents.length);
  for (const [i, sig] of signals) {
    const stored = sentPerKey.get(sig.runId) ?? 0;
    // A failed send may have been stored (its reply lost): at most one more event per failure.
    if (stored < sig.sent.length || stored > sig.sent.length + sig.failedSends) {
      fail(
        'events',
        `run ${sig.runId} (input ${i}): ${stored} signal events stored under its key, but the soak had ${sig.sent.length} sends answered and ${sig.failedSends} failed`,
      );
    }
  }
  if (inboxLeft > 0) fail('events', `${inboxLeft} inbox entries left after every run ended`);
  if (waitsLeft > 0) fail('events', `${waitsLeft} registered event waits left after every run ended`);
  bump('inbox entries left', inboxLeft);

  const locks = await admin.runLocksHeld(schema);
  if (locks > 0) fail('leftovers', `${locks} run advisory lock(s) still held in pg_locks`);
  bump('advisory locks left', locks);
  return { violations, stats };
}

interface SentEventRow {
  event_id: string;
  name: string;
  key: string | null;
  payload_json: unknown;
}

/** A run at rest (COMPLETED): no branch, no attempt in flight, no node, no error. */
function checkRowAtRest(where: string, run: RunRow, fail: Fail): void {
  if (run.attempt_in_flight || run.current_node_id !== null || run.error_json !== null || !isDeepStrictEqual(run.branches_json, [])) {
    fail('attempts', `${where}: COMPLETED but the row still says attempt in flight / node / error / branches ${JSON.stringify(run.branches_json)}`);
  }
}

/** Seqs 1..lastSeq, RUN_STARTED first, RUN_COMPLETED the one last event. */
function checkSeqs(where: string, run: RunRow, timeline: EventRow[], fail: Fail): void {
  if (timeline.length !== run.last_seq) fail('attempts', `${where}: lastSeq ${run.last_seq} but ${timeline.length} events`);
  timeline.forEach((e, i) => {
    if (e.seq !== i + 1) fail('transitions', `${where}: event #${i + 1} has seq ${e.seq} (gap or repeat)`);
  });
  const types = timeline.map((e) => e.type);
  if (types[0] !== 'RUN_STARTED') fail('transitions', `${where}: first event ${types[0]}`);
  if (types[types.length - 1] !== 'RUN_COMPLETED' || types.filter((t) => t === 'RUN_COMPLETED').length !== 1)
    fail('transitions', `${where}: RUN_COMPLETED is not the one last event`);
}

/**
 * The run's child runs (`mine`: those whose parentRunId is the run): exactly the ones its ledger
 * node's CHILD_STARTED events name, at most one per attempt, each finished once (CHILD_FINISHED
 * with its status) inside that attempt; in the soak exactly one, COMPLETED, whose outputs are the
 * node's output. Returns that child.
 */
function checkChildren(
  where: string,
  run: RunRow,
  timeline: EventRow[],
  mine: RunRow[],
  childById: ReadonlyMap<string, RunRow>,
  bump: Bump,
  fail: Fail,
): RunRow | undefined {
  const starts = timeline.filter((e) => e.type === 'CHILD_STARTED');
  const finishes = timeline.filter((e) => e.type === 'CHILD_FINISHED');
  bump('child runs started', starts.length);
  const attempts = new Set<number | null>();
  const named = new Set<string>();
  for (const e of starts) {
    const p = (e.payload ?? {}) as { childRunId?: string; flowId?: string; version?: string };
    const at = `CHILD_STARTED at seq ${e.seq} (attempt ${e.attempt})`;
    if (e.node_id !== CHILD_NODE || e.item_index !== null)
      fail('children', `${where}: ${at} of node ${e.node_id}${e.item_index === null ? '' : ` item ${e.item_index}`}`);
    if (attempts.has(e.attempt)) fail('children', `${where}: a second child for attempt ${e.attempt} (${at})`);
    attempts.add(e.attempt);
    if (typeof p.childRunId !== 'string') {
      fail('children', `${where}: ${at} has no childRunId: ${JSON.stringify(e.payload)}`);
      continue;
    }
    if (named.has(p.childRunId)) fail('children', `${where}: child ${p.childRunId} started twice (${at})`);
    named.add(p.childRunId);
    if (p.flowId !== CHILD_FLOW_ID || p.version !== CHILD_FLOW_VERSION) fail('children', `${where}: ${at} says ${p.flowId}@${p.version}`);
    const child = childById.get(p.childRunId);
    if (!child) fail('children', `${where}: ${at} names child ${p.childRunId}, which is not a child run in the database`);
    else if (child.parent_run_id !== run.run_id || child.parent_node_id !== CHILD_NODE) {
      fail('children', `${where}: child ${p.childRunId} points at parent ${child.parent_run_id} node ${child.parent_node_id}`);
    }
    const finished = finishes.filter((f) => (f.payload as { childRunId?: string } | null)?.childRunId === p.childRunId);
    if (finished.length !== 1) {
      fail('children', `${where}: ${finished.length} CHILD_FINISHED for child ${p.childRunId}, expected 1`);
      continue;
    }
    const f = finished[0]!;
    const status = (f.payload as { status?: string }).status;
    if (f.seq < e.seq || f.attempt !== e.attempt || f.branch_id !== e.branch_id)
      fail('children', `${where}: CHILD_FINISHED of ${p.childRunId} at seq ${f.seq} (attempt ${f.attempt}) does not follow its ${at}`);
    if (child && status !== child.status) fail('children', `${where}: CHILD_FINISHED says ${p.childRunId} ended ${status}, the child is ${child.status}`);
    // The child's end is the attempt's outcome, in the same transition: the branch's next event.
    const next = timeline.find((x) => x.seq > f.seq && x.branch_id === f.branch_id);
    const want = status === 'COMPLETED' ? 'NODE_FINISHED' : 'NODE_FAILED';
    if (!next || next.type !== want || next.node_id !== CHILD_NODE || next.attempt !== f.attempt) {
      fail(
        'children',
        `${where}: after CHILD_FINISHED (${status}) at seq ${f.seq} comes ${next ? `${next.type} of ${next.node_id} attempt ${next.attempt}` : 'nothing'}, expected ${want} of attempt ${f.attempt}`,
      );
    }
  }
  for (const f of finishes) {
    const id = (f.payload as { childRunId?: string } | null)?.childRunId;
    if (!id || !named.has(id)) fail('children', `${where}: CHILD_FINISHED at seq ${f.seq} for ${id}, which no CHILD_STARTED names`);
  }
  for (const c of mine) {
    if (!named.has(c.run_id))
      fail(
        'children',
        `${where}: child run ${c.run_id} (${c.status}) names this run its parent, but no CHILD_STARTED names it (started for an attempt that never committed?)`,
      );
  }
  // The soak's child flow retries its failures: its children never fail, so one child per run.
  if (starts.length !== 1 || mine.length !== 1) fail('children', `${where}: ${starts.length} CHILD_STARTED and ${mine.length} child runs, expected exactly 1`);
  if (starts.length > 1) bump('runs with more than one child');
  const lastId = (starts[starts.length - 1]?.payload as { childRunId?: string } | null)?.childRunId;
  const child = lastId === undefined ? undefined : childById.get(lastId);
  if (run.status === 'COMPLETED' && child) {
    const output = (run.outputs_json as Record<string, unknown>)[CHILD_NODE];
    if (!isDeepStrictEqual(output, child.outputs_json))
      fail('children', `${where}: output of ${CHILD_NODE} ${JSON.stringify(output)}, but its child's outputs are ${JSON.stringify(child.outputs_json)}`);
  }
  return child;
}

/**
 * The run's event wait: exactly one EVENT_RECEIVED, at the signal node after its RUN_WAITING and
 * before the node's next attempt, for an event the soak sent under the run's key (a copy whose send
 * was answered, or — only when a send of it failed — one stored with its reply lost), whose
 * stored payload is the soak's. No send is delivered to more than one wait.
 */
function checkSignal(
  where: string,
  run: RunRow,
  timeline: EventRow[],
  sig: SentSignal | undefined,
  sentById: ReadonlyMap<string, SentEventRow>,
  bump: Bump,
  fail: Fail,
): void {
  if (!sig) return fail('events', `${where}: the soak has no record of sending its signal`);
  if (sig.copies > 1) bump('runs sent their signal twice');
  bump('signal sends answered', sig.sent.length);
  bump('signal sends failed (retried)', sig.failedSends);
  if (sig.sent.length < sig.copies) bump('signal copies never confirmed');
  for (const copy of sig.sent) {
    const stored = sentById.get(copy.eventId);
    if (!stored) fail('events', `${where}: the soak's signal ${copy.eventId} is not among the stored events`);
    else if (stored.name !== SIGNAL_EVENT || stored.key !== run.run_id || !isDeepStrictEqual(stored.payload_json, signalPayload(run.input_json.i))) {
      fail('events', `${where}: stored signal ${copy.eventId} is ${JSON.stringify(stored)}`);
    }
  }
  const received = timeline.filter((e) => e.type === 'EVENT_RECEIVED');
  if (received.length !== 1) return fail('events', `${where}: ${received.length} EVENT_RECEIVED, expected 1 (${sig.sent.length} copies sent)`);
  const e = received[0]!;
  const p = (e.payload ?? {}) as { eventId?: string; name?: string; key?: string | null };
  if (e.node_id !== SIGNAL_NODE || e.item_index !== null) fail('events', `${where}: EVENT_RECEIVED at seq ${e.seq} on node ${e.node_id}`);
  if (p.name !== SIGNAL_EVENT || p.key !== run.run_id)
    fail('events', `${where}: EVENT_RECEIVED at seq ${e.seq} for ${p.name} key ${p.key}, expected ${SIGNAL_EVENT} key ${run.run_id}`);
  const copy = sig.sent.find((c) => c.eventId === p.eventId);
  const stored = p.eventId === undefined ? undefined : sentById.get(p.eventId);
  if (!copy) {
    // Its send failed after the event was stored: allowed only then, and it must be the soak's event.
    if (sig.failedSends === 0 || !stored || stored.key !== run.run_id || !isDeepStrictEqual(stored.payload_json, signalPayload(run.input_json.i))) {
      fail(
        'events',
        `${where}: received event ${p.eventId}, which is none of the soak's signals for it (${JSON.stringify(sig.sent.map((c) => c.eventId))}; ${sig.failedSends} failed sends)`,
      );
    } else bump('signals received from a send that failed (reply lost)');
  }
  // The run has one wait for its key: no send can be delivered to more than one of its waits.
  if (sig.sent.some((c) => c.delivered > 1)) fail('events', `${where}: one send of its signal was delivered to several waits: ${JSON.stringify(sig.sent)}`);
  // A copy that sendEvent says it delivered, but the run did not receive: the wait had its answer
  // already (the other copy) — the run received once, but `delivered` counted a wait that was over.
  const overCounted = sig.sent.filter((c) => c.delivered > 0 && c.eventId !== p.eventId).length;
  if (overCounted > 0) bump('duplicate copies sendEvent counted as delivered, though the wait had taken the other copy (the run received once)', overCounted);
  if (copy) bump(copy.delivered > 0 ? 'signals received late (delivered to the waiting run)' : 'signals received early (sent before the wait, found by it)');
  if (copy && sig.sent.length > 1) bump(`duplicated signals: the run received copy ${sig.sent.indexOf(copy) + 1} of ${sig.sent.length}`);

  // Where it lands in the timeline: after the signal node parked, before it ran again.
  const waits = timeline.filter((x) => x.type === 'RUN_WAITING' && x.node_id === SIGNAL_NODE);
  if (waits.length !== 1) return fail('events', `${where}: ${waits.length} RUN_WAITING at ${SIGNAL_NODE}, expected 1`);
  const wait = waits[0]!;
  if (e.seq < wait.seq || e.branch_id !== wait.branch_id)
    fail('events', `${where}: EVENT_RECEIVED at seq ${e.seq} (branch ${e.branch_id}) is not after the wait at seq ${wait.seq} (branch ${wait.branch_id})`);
  const between = timeline.filter((x) => x.seq > wait.seq && x.seq < e.seq && x.branch_id === wait.branch_id);
  if (between.length > 0) fail('events', `${where}: ${between.map((x) => x.type).join(', ')} on the waiting branch before its event arrived`);
  const after = timeline.find((x) => x.seq > e.seq && x.branch_id === e.branch_id);
  if (run.status === 'COMPLETED' && (!after || after.type !== 'NODE_STARTED' || after.node_id !== SIGNAL_NODE || after.attempt !== 1)) {
    fail(
      'events',
      `${where}: after EVENT_RECEIVED comes ${after ? `${after.type} of ${after.node_id} attempt ${after.attempt}` : 'nothing'}, expected the node's attempt 1`,
    );
  }
}

/** A child run's timeline: whole, both nodes finished once, started by its parent, every attempt closed, no wait. */
function checkChildTimeline(where: string, run: RunRow, timeline: EventRow[], bump: Bump, fail: Fail): void {
  checkSeqs(where, run, timeline, fail);
  const first = timeline[0]?.payload as { parentRunId?: string; parentNodeId?: string } | null | undefined;
  if (first?.parentRunId !== run.parent_run_id || first?.parentNodeId !== run.parent_node_id) {
    fail(
      'children',
      `${where}: RUN_STARTED says parent ${first?.parentRunId} node ${first?.parentNodeId}, the row ${run.parent_run_id} node ${run.parent_node_id}`,
    );
  }
  for (const node of ['fetch', 'post']) {
    const n = timeline.filter((e) => e.type === 'NODE_FINISHED' && e.node_id === node).length;
    if (n !== 1) fail('transitions', `${where}: ${node} finished ${n} times, expected 1`);
  }
  for (const type of ['RUN_WAITING', 'RUN_RESUMED', 'EVENT_RECEIVED', 'CHILD_STARTED', 'BRANCH_STARTED', 'RUN_ABORTED']) {
    const n = timeline.filter((e) => e.type === type).length;
    if (n > 0) fail('transitions', `${where}: ${n} ${type} events in a child run`);
  }
  checkAttempts(where, timeline, fail);
  for (const e of timeline) bump(`child events ${e.type}`);
}

/** A run moved to version 2 once (RUN_MIGRATED) exactly when it is on version 2; one reported migrated is. */
function checkMigration(where: string, run: RunRow, timeline: EventRow[], reported: boolean, bump: Bump, fail: Fail): void {
  const moves = timeline.filter((e) => e.type === 'RUN_MIGRATED');
  if (moves.length > 0) bump('migrated in flight');
  if (reported && run.flow_version !== SOAK_MIGRATED_VERSION) fail('migration', `${where}: reported migrated, but on version ${run.flow_version}`);
  const want = run.flow_version === SOAK_MIGRATED_VERSION ? 1 : 0;
  if (moves.length !== want) fail('migration', `${where}: on version ${run.flow_version} with ${moves.length} RUN_MIGRATED events, expected ${want}`);
  for (const e of moves) {
    if (!isDeepStrictEqual(e.payload, { fromVersion: SOAK_FLOW_VERSION, toVersion: SOAK_MIGRATED_VERSION, nodeMap: {} }))
      fail('migration', `${where}: RUN_MIGRATED at seq ${e.seq} says ${JSON.stringify(e.payload)}`);
  }
}

function checkTimeline(where: string, run: RunRow, timeline: EventRow[], bump: Bump, fail: Fail): void {
  checkSeqs(where, run, timeline, fail);
  const count = (type: string, node?: string) => timeline.filter((e) => e.type === type && (node === undefined || e.node_id === node)).length;

  // Each node of the path finished once (the map node once as a whole), the other wait branch never.
  const branch = branchOf(run.input_json);
  for (const node of ['prepare', 'check', 'charge', 'approval', 'cooldown', 'fanout', ...SPLIT_BRANCHES, 'gather', 'finish']) {
    const n = timeline.filter((e) => e.type === 'NODE_FINISHED' && e.node_id === node && e.item_index === null).length;
    const want = node === (branch === 'approval' ? 'cooldown' : 'approval') ? 0 : 1;
    if (n !== want) fail('transitions', `${where}: ${node} finished ${n} times, expected ${want} (a transition committed ${n > want ? 'twice' : 'never'})`);
  }
  // Two waits: approval (or cooldown), resumed once (by the soak, or its timer); the event wait, answered by EVENT_RECEIVED.
  const waitNodes = timeline.filter((e) => e.type === 'RUN_WAITING').map((e) => e.node_id);
  if (!isDeepStrictEqual([...waitNodes].sort(), [branch, SIGNAL_NODE].sort()))
    fail('transitions', `${where}: RUN_WAITING at ${JSON.stringify(waitNodes)}, expected one at ${branch} and one at ${SIGNAL_NODE}`);
  const resumedNodes = timeline.filter((e) => e.type === 'RUN_RESUMED').map((e) => e.node_id);
  if (!isDeepStrictEqual(resumedNodes, [branch])) fail('transitions', `${where}: RUN_RESUMED at ${JSON.stringify(resumedNodes)}, expected one at ${branch}`);

  // The map: every item finished exactly once, none begun again after it finished, none out of range.
  const total = itemsOf(run.input_json).length;
  const finishedAt = new Map<number, number>();
  for (const e of timeline) {
    if (e.item_index === null) continue;
    if (e.node_id !== MAP_NODE || e.item_index < 0 || e.item_index >= total)
      fail('transitions', `${where}: event ${e.type} at seq ${e.seq} has item ${e.item_index} of node ${e.node_id}`);
    if (e.type === 'NODE_FINISHED') {
      if (finishedAt.has(e.item_index)) fail('transitions', `${where}: item ${e.item_index} finished twice (seq ${finishedAt.get(e.item_index)} and ${e.seq})`);
      finishedAt.set(e.item_index, e.seq);
    } else if (e.type === 'NODE_STARTED' && finishedAt.has(e.item_index)) {
      fail('transitions', `${where}: item ${e.item_index} begun again (seq ${e.seq}) after it finished (seq ${finishedAt.get(e.item_index)})`);
    }
  }
  if (finishedAt.size !== total) fail('transitions', `${where}: ${finishedAt.size} of ${total} map items finished`);
  const mapFinished = timeline.find((e) => e.type === 'NODE_FINISHED' && e.node_id === MAP_NODE && e.item_index === null);
  if (mapFinished && [...finishedAt.values()].some((seq) => seq > mapFinished.seq)) fail('transitions', `${where}: an item finished after its map node did`);
  if (count('MAP_STARTED', MAP_NODE) !== 1) fail('transitions', `${where}: ${count('MAP_STARTED')} MAP_STARTED events, expected 1`);

  // The split and the join.
  const splitStarted = timeline.filter((e) => e.type === 'BRANCH_STARTED');
  const startedNodes = splitStarted.map((e) => e.node_id);
  if (!isDeepStrictEqual(startedNodes, [...SPLIT_BRANCHES]))
    fail('branches', `${where}: BRANCH_STARTED at ${JSON.stringify(startedNodes)}, expected ${JSON.stringify(SPLIT_BRANCHES)}`);
  const branchOfNode = new Map(splitStarted.map((e) => [e.node_id!, e.branch_id]));
  if (new Set(branchOfNode.values()).size !== splitStarted.length) fail('branches', `${where}: split branches share an id`);
  for (const e of timeline) {
    if (e.node_id !== null && branchOfNode.has(e.node_id) && e.type !== 'JOIN_ARRIVED' && e.branch_id !== branchOfNode.get(e.node_id)) {
      fail(
        'branches',
        `${where}: ${e.type} of ${e.node_id} at seq ${e.seq} is on branch ${e.branch_id}, not the branch the split started there (${branchOfNode.get(e.node_id)})`,
      );
    }
  }
  const arrived = timeline.filter((e) => e.type === 'JOIN_ARRIVED' && e.node_id === 'gather');
  const arrivedBranches = arrived.map((e) => e.branch_id).sort();
  if (!isDeepStrictEqual(arrivedBranches, [...branchOfNode.values()].sort()))
    fail('branches', `${where}: branches ${JSON.stringify(arrivedBranches)} arrived at the join, expected ${JSON.stringify([...branchOfNode.values()])}`);
  const joined = timeline.filter((e) => e.type === 'JOIN_COMPLETED');
  if (joined.length !== 1) fail('branches', `${where}: ${joined.length} JOIN_COMPLETED events, expected 1`);
  const joinStarts = timeline.filter((e) => e.type === 'NODE_STARTED' && e.node_id === 'gather');
  if (joined[0] && (joinStarts.some((e) => e.seq < joined[0]!.seq) || arrived.some((e) => e.seq > joined[0]!.seq)))
    fail('branches', `${where}: the join node began before every branch arrived`);
  if (count('NODE_FINISHED', 'gather') !== 1) fail('branches', `${where}: the join node finished ${count('NODE_FINISHED', 'gather')} times`);
  for (const type of ['BRANCH_ABORTED', 'BRANCH_ENDED', 'RUN_ABORTED']) if (count(type) > 0) fail('branches', `${where}: ${count(type)} ${type} events`);
  if (joinStarts.length > 1) bump('join attempts retried (runs)');

  const { maxItemsOpen, maxOpen } = checkAttempts(where, timeline, fail);
  if (maxItemsOpen > MAP_CONCURRENCY) fail('attempts', `${where}: ${maxItemsOpen} map items in flight at once, concurrency is ${MAP_CONCURRENCY}`);
  if (maxItemsOpen > 1) bump('runs with map items in flight together');
  if (maxOpen > 1) bump('runs with attempts of several branches/items in flight together');
  for (const e of timeline) bump(`events ${e.type}`);
  bump(`branch ${branch}`);
}

/**
 * Each attempt begun (NODE_STARTED, per branch and item) closed by exactly one outcome; a child
 * started (CHILD_STARTED) and finished (CHILD_FINISHED) inside an open attempt of its own number;
 * an event received (EVENT_RECEIVED) by a branch with no attempt open.
 */
function checkAttempts(where: string, timeline: EventRow[], fail: Fail): { maxItemsOpen: number; maxOpen: number } {
  const open = new Map<string, { seq: number; attempt: number | null }>();
  let itemsOpen = 0;
  let maxItemsOpen = 0;
  let maxOpen = 0;
  for (const e of timeline) {
    const key = `${e.branch_id}|${e.item_index ?? '-'}`;
    const what = `${e.node_id}${e.item_index === null ? '' : ` item ${e.item_index}`}`;
    if (e.type === 'NODE_STARTED') {
      if (open.has(key)) fail('attempts', `${where}: NODE_STARTED at seq ${e.seq} (${what}) while its attempt from seq ${open.get(key)!.seq} was open`);
      open.set(key, { seq: e.seq, attempt: e.attempt });
      if (e.item_index !== null) maxItemsOpen = Math.max(maxItemsOpen, ++itemsOpen);
      maxOpen = Math.max(maxOpen, open.size);
    } else if (e.type === 'CHILD_STARTED' || e.type === 'CHILD_FINISHED') {
      if (open.get(key)?.attempt !== e.attempt) fail('attempts', `${where}: ${e.type} at seq ${e.seq} (${what} attempt ${e.attempt}) outside its attempt`);
    } else if (e.type === 'EVENT_RECEIVED') {
      if (open.has(key))
        fail('attempts', `${where}: EVENT_RECEIVED at seq ${e.seq} (${what}) while an attempt of its branch was open (seq ${open.get(key)!.seq})`);
    } else if (OUTCOMES.has(e.type)) {
      // The map node's own NODE_FINISHED (no item) closes no attempt: its items had theirs.
      if (e.type === 'NODE_FINISHED' && e.node_id === MAP_NODE && e.item_index === null) continue;
      if (!open.has(key)) fail('attempts', `${where}: ${e.type} at seq ${e.seq} (${what}) closes no attempt`);
      else if (e.item_index !== null) itemsOpen -= 1;
      open.delete(key);
    }
  }
  for (const [key, o] of open) fail('attempts', `${where}: the attempt begun at seq ${o.seq} (${key}) has no outcome`);
  return { maxItemsOpen, maxOpen };
}
