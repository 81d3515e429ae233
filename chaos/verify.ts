/**
 * The soak's verdict, read straight from the database after every worker has stopped:
 *  - every run reached COMPLETED with exactly the state and outputs of an uninterrupted run (the
 *    map's output is the expected array for the run's input, in item order);
 *  - its transitions were committed exactly once: seqs 1..lastSeq without gaps, each node of its
 *    path finished once, each map item finished once and never begun again after it finished, the
 *    split started its three branches once, the join gathered them and ran once, one wait, one
 *    resume, one completion; every attempt begun (a map item's included) closed once, at most
 *    `concurrency` items of the map in flight at a time;
 *  - each idempotent side effect (charge, the two branches', every map item's) exists once per key;
 *  - every handler execution logged is in the timeline (its attempt was begun), none twice;
 *  - the timeline agrees with the row; no advisory lock is left; no run is stuck.
 */
import { isDeepStrictEqual } from 'node:util';
import type { DatabaseAdmin } from './database-admin.js';
import { sideTables } from './side-tables.js';
import { branchOf, expectedEffects, expectedResult, itemsOf, MAP_CONCURRENCY, SPLIT_BRANCHES, type SoakInput } from './soak-flow.js';

interface RunRow {
  run_id: string;
  status: string;
  input_json: SoakInput;
  state_json: unknown;
  outputs_json: unknown;
  branches_json: unknown;
  last_seq: number;
  attempt_in_flight: boolean;
  current_node_id: string | null;
  error_json: unknown;
}
interface EventRow {
  run_id: string;
  seq: number;
  type: string;
  node_id: string | null;
  branch_id: string | null;
  item_index: number | null;
  attempt: number | null;
}

/** The checks, by id, as the report lists them. */
export const CHECKS = {
  result: "every run reached COMPLETED with exactly the state and outputs of an uninterrupted run (the map's output is exactly the expected array)",
  starts: 'each input started exactly one run (startRun retried with an idempotency key)',
  transitions:
    'transitions committed exactly once: seqs 1..lastSeq without gaps or repeats; each node of the path finished once, the other branch never; each map item finished once and never begun after; one RUN_WAITING, one RUN_RESUMED, one RUN_COMPLETED (last)',
  branches: 'the split started its 3 branches once, each arrived at the join once, the join completed and its node ran (finished) once, nothing aborted or ended early',
  attempts: 'every attempt begun (NODE_STARTED, per branch and item) closed by exactly one outcome; at most `concurrency` items in flight; the row agrees (lastSeq, no branch, no attempt in flight, no error)',
  effects: 'each idempotent side effect (charge, audit, notify, every map item) exists exactly once per key, written by its node with the expected amount; no other rows',
  executions: 'every handler execution logged is in the timeline (its attempt was begun) and no attempt was executed twice',
  takeover: "the frozen worker's run was taken over and its late commit refused",
  leftovers: 'no run advisory lock left in pg_locks; no session of the soak left open; no run stuck',
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

export async function verifySoak(admin: DatabaseAdmin, schema: string, expectedRuns: number): Promise<Verdict> {
  const violations: Violation[] = [];
  const fail: Fail = (check, message) => void violations.push({ check, message });
  const stats: Record<string, number> = {};
  const bump: Bump = (key, by = 1) => void (stats[key] = (stats[key] ?? 0) + by);
  const s = `"${schema}"`;
  // Outputs live in rows of their own (flow_node_values); the schema's flow_run_outputs() assembles them.
  const runs = await admin.query<RunRow>(
    `SELECT run_id, status::text AS status, input_json, state_json, ${s}.flow_run_outputs(run_id) AS outputs_json, branches_json,
            last_seq, attempt_in_flight, current_node_id, error_json FROM ${s}.flow_runs`,
  );
  const events = await admin.query<EventRow>(`SELECT run_id, seq, type::text AS type, node_id, branch_id, item_index, attempt FROM ${s}.flow_events ORDER BY run_id, seq`);
  const tables = sideTables(schema);
  const executions = await admin.query<{ run_id: string; node_id: string; branch_id: string; item_index: number | null; attempt: number; n: number }>(tables.executions);
  const effects = await admin.query<{ key: string; run_id: string; node_id: string; item_index: number | null; amount: number }>(tables.sideEffects);
  const conflicts = await admin.query<{ key: string; run_id: string; node_id: string; item_index: number | null; attempt: number }>(tables.conflicts);
  // Map values left behind: a finished map's item rows are cleared when its output is written.
  const [{ n: leftoverValues }] = (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${s}.flow_node_values WHERE kind <> 'output'`)) as [{ n: number }];

  const timelines = new Map<string, EventRow[]>();
  for (const e of events) (timelines.get(e.run_id) ?? timelines.set(e.run_id, []).get(e.run_id)!).push(e);

  // Each input index started exactly once (startRun retried under faults uses an idempotency key).
  const seen = new Set<number>();
  for (const run of runs) {
    if (seen.has(run.input_json.i)) fail('starts', `input ${run.input_json.i} was started as more than one run`);
    seen.add(run.input_json.i);
  }
  if (runs.length !== expectedRuns) fail('starts', `${runs.length} runs in the database, expected ${expectedRuns}`);

  for (const run of runs) {
    const where = `run ${run.run_id} (input ${run.input_json.i})`;
    bump(`status ${run.status}`);
    if (run.status !== 'COMPLETED') {
      fail('leftovers', `${where}: ended ${run.status} (at ${run.current_node_id}, branches ${JSON.stringify(run.branches_json)}, error ${JSON.stringify(run.error_json)}) — stuck or wrongly failed`);
      continue;
    }
    const expected = expectedResult(run.input_json);
    if (!isDeepStrictEqual(run.state_json, expected.state)) fail('result', `${where}: state ${JSON.stringify(run.state_json)}, expected ${JSON.stringify(expected.state)}`);
    for (const node of new Set([...Object.keys(expected.outputs), ...Object.keys(run.outputs_json as object)])) {
      const got = (run.outputs_json as Record<string, unknown>)[node];
      if (!isDeepStrictEqual(got, expected.outputs[node])) fail('result', `${where}: output of ${node} ${JSON.stringify(got)}, expected ${JSON.stringify(expected.outputs[node])}`);
    }
    if (run.attempt_in_flight || run.current_node_id !== null || run.error_json !== null || !isDeepStrictEqual(run.branches_json, [])) {
      fail('attempts', `${where}: COMPLETED but the row still says attempt in flight / node / error / branches ${JSON.stringify(run.branches_json)}`);
    }
    checkTimeline(where, run, timelines.get(run.run_id) ?? [], bump, fail);
  }
  bump('map items', runs.reduce((n, r) => n + itemsOf(r.input_json).length, 0));
  if (leftoverValues > 0) fail('leftovers', `${leftoverValues} map item/items rows left in flow_node_values after every map finished`);

  // At-least-once, each execution accounted for: its attempt was begun (NODE_STARTED), and no attempt
  // ran twice. A resume restarts the attempt count, so one (node, attempt) may be begun more than once.
  const attemptKey = (x: { run_id: string; node_id: string | null; branch_id: string | null; item_index: number | null; attempt: number | null }) =>
    `${x.run_id}|${x.node_id}|${x.branch_id}|${x.item_index ?? '-'}|${x.attempt}`;
  const started = new Map<string, number>();
  for (const e of events) if (e.type === 'NODE_STARTED') started.set(attemptKey(e), (started.get(attemptKey(e)) ?? 0) + 1);
  const perNode = new Map<string, number>();
  for (const x of executions) {
    bump('handler executions', x.n);
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
    if (node === 'charge' || node === 'gather') bump(`${node} handler re-executed (runs)`);
    if (node === MAP_NODE) bump('map items re-executed');
  }

  // The idempotent side effects: exactly the expected rows, one per key, by the expected node.
  const byKey = new Map(effects.map((e) => [e.key, e]));
  bump('side-effect rows', effects.length);
  bump('side-effect conflicts (re-executions of uncommitted attempts)', conflicts.length);
  bump('item side-effect conflicts', conflicts.filter((c) => c.node_id === MAP_NODE).length);
  let expectedRows = 0;
  for (const run of runs) {
    for (const [key, want] of expectedEffects(run.input_json)) {
      expectedRows += 1;
      const effect = byKey.get(key);
      const what = `run ${run.run_id} (input ${run.input_json.i})`;
      if (!effect) fail('effects', `${what}: no side effect under ${key}`);
      else if (effect.run_id !== run.run_id || effect.node_id !== want.nodeId || effect.item_index !== want.itemIndex || effect.amount !== want.amount) {
        fail('effects', `${what}: side effect ${key} is ${JSON.stringify(effect)}, expected ${JSON.stringify({ run_id: run.run_id, ...want })}`);
      }
    }
  }
  if (effects.length !== expectedRows) fail('effects', `${effects.length} side-effect rows, expected ${expectedRows}`);

  const locks = await admin.runLocksHeld(schema);
  if (locks > 0) fail('leftovers', `${locks} run advisory lock(s) still held in pg_locks`);
  bump('advisory locks left', locks);
  return { violations, stats };
}

function checkTimeline(where: string, run: RunRow, timeline: EventRow[], bump: Bump, fail: Fail): void {
  if (timeline.length !== run.last_seq) fail('attempts', `${where}: lastSeq ${run.last_seq} but ${timeline.length} events`);
  timeline.forEach((e, i) => {
    if (e.seq !== i + 1) fail('transitions', `${where}: event #${i + 1} has seq ${e.seq} (gap or repeat)`);
  });
  const types = timeline.map((e) => e.type);
  const count = (type: string, node?: string) => timeline.filter((e) => e.type === type && (node === undefined || e.node_id === node)).length;
  if (types[0] !== 'RUN_STARTED') fail('transitions', `${where}: first event ${types[0]}`);
  if (types[types.length - 1] !== 'RUN_COMPLETED' || count('RUN_COMPLETED') !== 1) fail('transitions', `${where}: RUN_COMPLETED is not the one last event`);

  // Each node of the path finished once (the map node once as a whole), the other wait branch never.
  const branch = branchOf(run.input_json);
  for (const node of ['prepare', 'check', 'charge', 'approval', 'cooldown', 'fanout', ...SPLIT_BRANCHES, 'gather', 'finish']) {
    const n = timeline.filter((e) => e.type === 'NODE_FINISHED' && e.node_id === node && e.item_index === null).length;
    const want = node === (branch === 'approval' ? 'cooldown' : 'approval') ? 0 : 1;
    if (n !== want) fail('transitions', `${where}: ${node} finished ${n} times, expected ${want} (a transition committed ${n > want ? 'twice' : 'never'})`);
  }
  for (const type of ['RUN_WAITING', 'RUN_RESUMED']) {
    const n = count(type);
    if (n !== 1) fail('transitions', `${where}: ${n} ${type} events, expected 1`);
  }

  // The map: every item finished exactly once, none begun again after it finished, none out of range.
  const total = itemsOf(run.input_json).length;
  const finishedAt = new Map<number, number>();
  for (const e of timeline) {
    if (e.item_index === null) continue;
    if (e.node_id !== MAP_NODE || e.item_index < 0 || e.item_index >= total) fail('transitions', `${where}: event ${e.type} at seq ${e.seq} has item ${e.item_index} of node ${e.node_id}`);
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
  if (!isDeepStrictEqual(startedNodes, [...SPLIT_BRANCHES])) fail('branches', `${where}: BRANCH_STARTED at ${JSON.stringify(startedNodes)}, expected ${JSON.stringify(SPLIT_BRANCHES)}`);
  const branchOfNode = new Map(splitStarted.map((e) => [e.node_id!, e.branch_id]));
  if (new Set(branchOfNode.values()).size !== splitStarted.length) fail('branches', `${where}: split branches share an id`);
  for (const e of timeline) {
    if (e.node_id !== null && branchOfNode.has(e.node_id) && e.type !== 'JOIN_ARRIVED' && e.branch_id !== branchOfNode.get(e.node_id)) {
      fail('branches', `${where}: ${e.type} of ${e.node_id} at seq ${e.seq} is on branch ${e.branch_id}, not the branch the split started there (${branchOfNode.get(e.node_id)})`);
    }
  }
  const arrived = timeline.filter((e) => e.type === 'JOIN_ARRIVED' && e.node_id === 'gather');
  const arrivedBranches = arrived.map((e) => e.branch_id).sort();
  if (!isDeepStrictEqual(arrivedBranches, [...branchOfNode.values()].sort())) fail('branches', `${where}: branches ${JSON.stringify(arrivedBranches)} arrived at the join, expected ${JSON.stringify([...branchOfNode.values()])}`);
  const joined = timeline.filter((e) => e.type === 'JOIN_COMPLETED');
  if (joined.length !== 1) fail('branches', `${where}: ${joined.length} JOIN_COMPLETED events, expected 1`);
  const joinStarts = timeline.filter((e) => e.type === 'NODE_STARTED' && e.node_id === 'gather');
  if (joined[0] && (joinStarts.some((e) => e.seq < joined[0]!.seq) || arrived.some((e) => e.seq > joined[0]!.seq))) fail('branches', `${where}: the join node began before every branch arrived`);
  if (count('NODE_FINISHED', 'gather') !== 1) fail('branches', `${where}: the join node finished ${count('NODE_FINISHED', 'gather')} times`);
  for (const type of ['BRANCH_ABORTED', 'BRANCH_ENDED', 'RUN_ABORTED']) if (count(type) > 0) fail('branches', `${where}: ${count(type)} ${type} events`);
  if (joinStarts.length > 1) bump('join attempts retried (runs)');

  // Attempts: each begun one (per branch, per item) closed by exactly one outcome.
  const open = new Map<string, number>();
  let itemsOpen = 0;
  let maxItemsOpen = 0;
  let maxOpen = 0;
  for (const e of timeline) {
    const key = `${e.branch_id}|${e.item_index ?? '-'}`;
    if (e.type === 'NODE_STARTED') {
      if (open.has(key)) fail('attempts', `${where}: NODE_STARTED at seq ${e.seq} (${e.node_id}${e.item_index === null ? '' : ` item ${e.item_index}`}) while its attempt from seq ${open.get(key)} was open`);
      open.set(key, e.seq);
      if (e.item_index !== null) maxItemsOpen = Math.max(maxItemsOpen, ++itemsOpen);
      maxOpen = Math.max(maxOpen, open.size);
    } else if (OUTCOMES.has(e.type)) {
      // The map node's own NODE_FINISHED (no item) closes no attempt: its items had theirs.
      if (e.type === 'NODE_FINISHED' && e.node_id === MAP_NODE && e.item_index === null) continue;
      if (!open.has(key)) fail('attempts', `${where}: ${e.type} at seq ${e.seq} (${e.node_id}${e.item_index === null ? '' : ` item ${e.item_index}`}) closes no attempt`);
      else if (e.item_index !== null) itemsOpen -= 1;
      open.delete(key);
    }
    bump(`events ${e.type}`);
  }
  for (const [key, seq] of open) fail('attempts', `${where}: the attempt begun at seq ${seq} (${key}) has no outcome`);
  if (maxItemsOpen > MAP_CONCURRENCY) fail('attempts', `${where}: ${maxItemsOpen} map items in flight at once, concurrency is ${MAP_CONCURRENCY}`);
  if (maxItemsOpen > 1) bump('runs with map items in flight together');
  if (maxOpen > 1) bump('runs with attempts of several branches/items in flight together');
  bump(`branch ${branch}`);
}
