/**
 * The soak's verdict, read straight from the database after every worker has stopped:
 *  - every run reached COMPLETED with exactly the state and outputs of an uninterrupted run;
 *  - its transitions were committed exactly once: seqs 1..lastSeq without gaps, each node of its
 *    path finished once, one wait, one resume, one completion, every attempt begun closed once;
 *  - the idempotent side effect exists once per key;
 *  - every handler execution logged is in the timeline (its attempt was begun), none twice;
 *  - the timeline agrees with the row; no advisory lock is left; no run is stuck.
 */
import { isDeepStrictEqual } from 'node:util';
import type { DatabaseAdmin } from './database-admin.js';
import { sideTables } from './side-tables.js';
import { branchOf, chargeKey, expectedResult, type SoakInput } from './soak-flow.js';

interface RunRow {
  run_id: string;
  status: string;
  input_json: SoakInput;
  state_json: unknown;
  outputs_json: unknown;
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
  attempt: number | null;
}

/** The checks, by id, as the report lists them. */
export const CHECKS = {
  result: 'every run reached COMPLETED with exactly the state and outputs of an uninterrupted run',
  starts: 'each input started exactly one run (startRun retried with an idempotency key)',
  transitions: 'transitions committed exactly once: seqs 1..lastSeq without gaps or repeats; each node of the path finished once, the other branch never; one RUN_WAITING, one RUN_RESUMED, one RUN_COMPLETED (last)',
  attempts: 'every attempt begun (NODE_STARTED) closed by exactly one outcome; the row agrees (lastSeq, no attempt in flight, no node, no error)',
  effects: "the idempotent side effect exists exactly once per key, with its run's amount",
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

const OUTCOMES = new Set(['NODE_FINISHED', 'NODE_FAILED', 'RUN_WAITING', 'NODE_INTERRUPTED']);

export async function verifySoak(admin: DatabaseAdmin, schema: string, expectedRuns: number): Promise<Verdict> {
  const violations: Violation[] = [];
  const fail = (check: CheckId, message: string) => void violations.push({ check, message });
  const stats: Record<string, number> = {};
  const bump = (key: string, by = 1) => void (stats[key] = (stats[key] ?? 0) + by);
  const s = `"${schema}"`;
  const runs = await admin.query<RunRow>(
    `SELECT run_id, status::text AS status, input_json, state_json, outputs_json, last_seq, attempt_in_flight, current_node_id, error_json FROM ${s}.flow_runs`,
  );
  const events = await admin.query<EventRow>(`SELECT run_id, seq, type::text AS type, node_id, attempt FROM ${s}.flow_events ORDER BY run_id, seq`);
  const tables = sideTables(schema);
  const executions = await admin.query<{ run_id: string; node_id: string; attempt: number; n: number }>(tables.executions);
  const effects = await admin.query<{ key: string; run_id: string; amount: number }>(tables.sideEffects);

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
      fail('leftovers', `${where}: ended ${run.status} (at ${run.current_node_id}, attemptInFlight ${run.attempt_in_flight}, error ${JSON.stringify(run.error_json)}) — stuck or wrongly failed`);
      continue;
    }
    const expected = expectedResult(run.input_json);
    if (!isDeepStrictEqual(run.state_json, expected.state)) fail('result', `${where}: state ${JSON.stringify(run.state_json)}, expected ${JSON.stringify(expected.state)}`);
    if (!isDeepStrictEqual(run.outputs_json, expected.outputs)) fail('result', `${where}: outputs ${JSON.stringify(run.outputs_json)}, expected ${JSON.stringify(expected.outputs)}`);
    if (run.attempt_in_flight || run.current_node_id !== null || run.error_json !== null) fail('attempts', `${where}: COMPLETED but the row still says attempt in flight / node / error`);
    checkTimeline(where, run, timelines.get(run.run_id) ?? [], bump, fail);
  }

  // At-least-once, each execution accounted for: its attempt was begun (NODE_STARTED), and no attempt
  // ran twice. A resume restarts the attempt count, so one (node, attempt) may be begun more than once.
  const started = new Map<string, number>();
  for (const e of events) if (e.type === 'NODE_STARTED') started.set(`${e.run_id}|${e.node_id}|${e.attempt}`, (started.get(`${e.run_id}|${e.node_id}|${e.attempt}`) ?? 0) + 1);
  for (const x of executions) {
    bump('handler executions', x.n);
    const begun = started.get(`${x.run_id}|${x.node_id}|${x.attempt}`) ?? 0;
    if (begun === 0) fail('executions', `run ${x.run_id}: an execution of ${x.node_id} attempt ${x.attempt} has no NODE_STARTED in the timeline`);
    else if (x.n > begun) fail('executions', `run ${x.run_id}: attempt ${x.attempt} of ${x.node_id} was begun ${begun} time(s) but executed ${x.n} times`);
  }
  const chargeRuns = new Map<string, number>();
  for (const x of executions) if (x.node_id === 'charge') chargeRuns.set(x.run_id, (chargeRuns.get(x.run_id) ?? 0) + x.n);
  for (const n of chargeRuns.values()) if (n > 1) bump('charge handler re-executed (runs)');

  // The idempotent side effect: exactly one row per run's key, with that run's amount.
  const byKey = new Map(effects.map((e) => [e.key, e]));
  bump('side-effect rows', effects.length);
  for (const run of runs) {
    const effect = byKey.get(chargeKey(run.input_json.i));
    if (!effect) fail('effects', `run ${run.run_id}: no side effect under ${chargeKey(run.input_json.i)}`);
    else if (effect.amount !== run.input_json.amount) fail('effects', `run ${run.run_id}: side effect amount ${effect.amount}, expected ${run.input_json.amount}`);
  }
  if (effects.length !== runs.length) fail('effects', `${effects.length} side-effect rows for ${runs.length} runs`);

  const locks = await admin.runLocksHeld(schema);
  if (locks > 0) fail('leftovers', `${locks} run advisory lock(s) still held in pg_locks`);
  bump('advisory locks left', locks);
  return { violations, stats };
}

function checkTimeline(where: string, run: RunRow, timeline: EventRow[], bump: (key: string, by?: number) => void, fail: (check: CheckId, message: string) => void): void {
  if (timeline.length !== run.last_seq) fail('attempts', `${where}: lastSeq ${run.last_seq} but ${timeline.length} events`);
  timeline.forEach((e, i) => {
    if (e.seq !== i + 1) fail('transitions', `${where}: event #${i + 1} has seq ${e.seq} (gap or repeat)`);
  });
  const types = timeline.map((e) => e.type);
  if (types[0] !== 'RUN_STARTED') fail('transitions', `${where}: first event ${types[0]}`);
  if (types[types.length - 1] !== 'RUN_COMPLETED' || types.filter((t) => t === 'RUN_COMPLETED').length !== 1) fail('transitions', `${where}: RUN_COMPLETED is not the one last event`);
  const branch = branchOf(run.input_json);
  for (const node of ['prepare', 'check', 'charge', 'approval', 'cooldown', 'finish']) {
    const n = timeline.filter((e) => e.type === 'NODE_FINISHED' && e.node_id === node).length;
    const want = node === (branch === 'approval' ? 'cooldown' : 'approval') ? 0 : 1;
    if (n !== want) fail('transitions', `${where}: ${node} finished ${n} times, expected ${want} (a transition committed ${n > want ? 'twice' : 'never'})`);
  }
  for (const type of ['RUN_WAITING', 'RUN_RESUMED']) {
    const n = types.filter((t) => t === type).length;
    if (n !== 1) fail('transitions', `${where}: ${n} ${type} events, expected 1`);
  }
  let open = false;
  for (const e of timeline) {
    if (e.type === 'NODE_STARTED') {
      if (open) fail('attempts', `${where}: NODE_STARTED at seq ${e.seq} while an attempt was open`);
      open = true;
    } else if (OUTCOMES.has(e.type)) {
      if (!open) fail('attempts', `${where}: ${e.type} at seq ${e.seq} closes no attempt`);
      open = false;
    }
    bump(`events ${e.type}`);
  }
  if (open) fail('attempts', `${where}: an attempt has no outcome`);
  bump(`branch ${branch}`);
}
