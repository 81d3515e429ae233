/**
 * The verdict on the saga runs (chaos/saga-flow.ts), read from the database after every worker
 * stopped: each input started one run, and each run ended as its input says —
 *  - caught: COMPLETED at `waitlist`, which saw the booking's failure (`ctx.error`); one
 *    NODE_CAUGHT; nothing undone;
 *  - completed: COMPLETED at `confirm`; nothing caught, nothing undone;
 *  - compensated: FAILED with NO_COURIER, `compensated: true`; one RUN_COMPENSATING, then one
 *    NODE_COMPENSATED per finished step — each parcel of the map, pay, hold — newest first (the
 *    parcels in the reverse of the order they finished), no compensation failed for good,
 *    RUN_ABORTED last;
 * and the undo rows are exactly those of the failed runs' undone steps, one per key.
 */
import { isDeepStrictEqual } from 'node:util';
import type { DatabaseAdmin } from './database-admin.js';
import { expectedSagaOutputs, SAGA_FLOW_ID, SAGA_PARCELS, sagaPath, sagaUndos, type SagaInput } from './saga-flow.js';
import type { CheckId } from './verify.js';

interface SagaRunRow {
  run_id: string;
  status: string;
  input_json: SagaInput;
  outputs_json: Record<string, unknown>;
  error_code: string | null;
  compensated: boolean | null;
}
interface SagaEventRow {
  run_id: string;
  seq: number;
  type: string;
  node_id: string | null;
  item_index: number | null;
  final: string | null;
}
interface EffectRow {
  key: string;
  run_id: string;
  node_id: string;
  item_index: number | null;
}

/** The types that tell a failure path; the rest of a saga run's timeline is checked by the soak's generic checks. */
const PATH_TYPES = [
  'NODE_CAUGHT',
  'RUN_COMPENSATING',
  'COMPENSATION_STARTED',
  'NODE_COMPENSATED',
  'COMPENSATION_FAILED',
  'NODE_INTERRUPTED',
  'NODE_FINISHED',
  'RUN_ABORTED',
  'RUN_COMPLETED',
];

export async function verifySagas(
  admin: DatabaseAdmin,
  schema: string,
  expected: number,
  effects: readonly EffectRow[],
  conflicts: readonly { run_id: string }[],
  fail: (check: CheckId, message: string) => void,
  bump: (key: string, by?: number) => void,
): Promise<void> {
  const s = `"${schema}"`;
  const runs = await admin.query<SagaRunRow>(
    `SELECT run_id, status::text AS status, input_json, ${s}.flow_run_outputs(run_id) AS outputs_json, error_json ->> 'code' AS error_code, compensated
     FROM ${s}.flow_runs WHERE flow_id = $1`,
    [SAGA_FLOW_ID],
  );
  const events = await admin.query<SagaEventRow>(
    `SELECT e.run_id, e.seq, e.type::text AS type, e.node_id, e.item_index, e.payload_json ->> 'final' AS final
     FROM ${s}.flow_events e JOIN ${s}.flow_runs r USING (run_id)
     WHERE r.flow_id = $1 AND (e.type::text = ANY($2::text[]) OR e.seq = r.last_seq) ORDER BY e.run_id, e.seq`,
    [SAGA_FLOW_ID, PATH_TYPES],
  );
  const timelines = new Map<string, SagaEventRow[]>();
  for (const e of events) (timelines.get(e.run_id) ?? timelines.set(e.run_id, []).get(e.run_id)!).push(e);
  const sagaRunIds = new Set(runs.map((r) => r.run_id));

  const inputs = new Set<number>();
  for (const run of runs) {
    if (inputs.has(run.input_json.i)) fail('sagas', `saga input ${run.input_json.i} was started as more than one run`);
    inputs.add(run.input_json.i);
  }
  if (runs.length !== expected) fail('sagas', `${runs.length} saga runs in the database, expected ${expected}`);

  const byKey = new Map(effects.filter((e) => sagaRunIds.has(e.run_id)).map((e) => [e.key, e]));
  let undoRows = 0;
  for (const run of runs) {
    const where = `saga run ${run.run_id} (input ${run.input_json.i})`;
    const path = sagaPath(run.input_json);
    bump(`saga ${path}`);
    const timeline = timelines.get(run.run_id) ?? [];
    const of = (type: string) => timeline.filter((e) => e.type === type);
    const compensating = of('RUN_COMPENSATING');
    const compensated = of('NODE_COMPENSATED');
    bump('saga NODE_COMPENSATED', compensated.length);
    bump('saga compensation attempts failed and retried', of('COMPENSATION_FAILED').filter((e) => e.final !== 'true').length);
    const start = compensating[0]?.seq ?? Number.POSITIVE_INFINITY;
    bump('saga compensations interrupted', of('NODE_INTERRUPTED').filter((e) => e.seq > start).length);

    if (path !== 'compensated') {
      if (run.status !== 'COMPLETED' || run.compensated !== null)
        fail('sagas', `${where}: ended ${run.status} (compensated ${run.compensated}, error ${run.error_code}), expected COMPLETED`);
      else if (!isDeepStrictEqual(run.outputs_json, expectedSagaOutputs(run.input_json)))
        fail('sagas', `${where}: outputs ${JSON.stringify(run.outputs_json)}, expected ${JSON.stringify(expectedSagaOutputs(run.input_json))}`);
      const caught = of('NODE_CAUGHT').map((e) => e.node_id);
      if (!isDeepStrictEqual(caught, path === 'caught' ? ['book'] : [])) fail('sagas', `${where}: NODE_CAUGHT at ${JSON.stringify(caught)}`);
      if (compensating.length + compensated.length > 0) fail('sagas', `${where}: compensated (${compensated.length} NODE_COMPENSATED), though it completed`);
      for (const [key] of sagaUndos(run.input_json)) if (byKey.has(key)) fail('sagas', `${where}: undo row ${key}, though nothing was to be undone`);
      continue;
    }

    if (run.status !== 'FAILED' || run.compensated !== true || run.error_code !== 'NO_COURIER')
      fail('sagas', `${where}: ended ${run.status}, compensated ${run.compensated}, error ${run.error_code}; expected FAILED, compensated true, NO_COURIER`);
    if (compensating.length !== 1) fail('sagas', `${where}: ${compensating.length} RUN_COMPENSATING events, expected 1`);
    if (of('NODE_CAUGHT').length > 0) fail('sagas', `${where}: a failure was caught, though the catch does not take NO_COURIER`);
    // Newest first: the parcels in the reverse of the order they finished, then pay, then hold — each once.
    const parcelsFinished = of('NODE_FINISHED')
      .filter((e) => e.node_id === 'pack' && e.item_index !== null)
      .map((e) => `pack#${e.item_index}`);
    const want = [...parcelsFinished.reverse(), 'pay', 'hold'];
    const got = compensated.map((e) => (e.item_index === null ? e.node_id! : `${e.node_id}#${e.item_index}`));
    if (!isDeepStrictEqual(got, want) || parcelsFinished.length !== SAGA_PARCELS)
      fail('sagas', `${where}: NODE_COMPENSATED ${JSON.stringify(got)}, expected ${JSON.stringify(want)} (one per finished step, newest first)`);
    const finalFailures = of('COMPENSATION_FAILED').filter((e) => e.final === 'true');
    if (finalFailures.length > 0)
      fail('sagas', `${where}: ${finalFailures.length} compensations failed for good (${finalFailures.map((e) => e.node_id).join(', ')})`);
    if (timeline.at(-1)?.type !== 'RUN_ABORTED') fail('sagas', `${where}: its last event is ${timeline.at(-1)?.type}, expected RUN_ABORTED`);
    for (const [key, undo] of sagaUndos(run.input_json)) {
      undoRows += 1;
      const row = byKey.get(key);
      if (!row) fail('sagas', `${where}: no undo row ${key}`);
      else if (row.run_id !== run.run_id || row.node_id !== undo.nodeId || row.item_index !== undo.itemIndex)
        fail('sagas', `${where}: undo row ${key} is ${JSON.stringify(row)}, expected ${JSON.stringify({ run_id: run.run_id, ...undo })}`);
    }
  }
  if (byKey.size !== undoRows) fail('sagas', `${byKey.size} undo rows, expected ${undoRows} (those of the failed runs' undone steps)`);
  bump('saga undo rows', byKey.size);
  bump('saga undos re-executed after their write (conflicts)', conflicts.filter((c) => sagaRunIds.has(c.run_id)).length);
}
