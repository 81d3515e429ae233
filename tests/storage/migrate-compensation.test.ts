/**
 * Upgrading a database of the version before compensation (before `20261208000020_compensation`)
 * with runs in it, finished and waiting: they read back with `compensation` and `compensated`
 * null; a waiting one resumes and completes under the upgraded engine, logging what it finishes
 * from then on; a cancel that compensates works on them (the inbox now takes kind 'cancel').
 *
 * Decision kept here: a node that finished before the upgrade is in no compensation log, so it
 * is not undone — the flow that ran it had no `compensate` then. Only what finishes afterwards is.
 */
import { describe, expect } from 'vitest';
import { FlowEngine, flow, type FlowContext, type NodeResult } from '@hazeljs/flow';
import type { SqlExecutor } from '../../src/storage/sql/executor.js';
import { migrate } from '../../src/storage/sql/migrate.js';
import { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import { itUpgradesOnBoth, withMigrationsBefore, migrationsFrom } from '../helpers/upgrade.js';

const MIGRATION = '20261208000020_compensation';

/** charge → approve (waits for a resume) → reserve → confirm (waits once more when the input says `hold`). */
function legacyFlow(undone: string[]) {
  const undo = (what: string) => (ctx: FlowContext) => (undone.push(`${ctx.runId}:${what}`), { status: 'ok' } as NodeResult);
  return flow('legacy', '1')
    .entry('charge')
    .node('charge', () => ({ status: 'ok', output: 'charged' }), { compensate: undo('refund') })
    .node('approve', (ctx): NodeResult => {
      const payload = ctx.state._resumePayload as { by?: string } | undefined;
      return payload === undefined ? { status: 'wait', reason: 'approval' } : { status: 'ok', output: { approvedBy: payload.by } };
    })
    .node('reserve', () => ({ status: 'ok', output: 'reserved' }), { compensate: undo('release') })
    .node('confirm', (ctx): NodeResult => {
      if ((ctx.input as { hold?: boolean }).hold && ctx.state._resumePayload === undefined) return { status: 'wait', reason: 'hold' };
      return { status: 'ok', output: 'confirmed' };
    })
    .edge('charge', 'approve')
    .edge('approve', 'reserve')
    .edge('reserve', 'confirm')
    .build();
}

async function checkUpgrade(executor: SqlExecutor, schema: string): Promise<void> {
  await withMigrationsBefore(MIGRATION, (dir) => migrate(executor, { schema, migrationsDir: dir }));
  const q = `"${schema}"`;

  // As the previous version left them: runs waiting at `approve` (charge finished), one completed, one failed.
  const waitingAtApprove = [
    { branchId: 'b1', nodeId: 'approve', status: 'WAITING', attempt: 1, recoveries: 0, waitId: 4, waitReason: 'approval', waitFor: 'resume' },
  ];
  const insertRun = (
    runId: string,
    status: string,
    input: unknown,
    branches: unknown[],
    extra: { current: string | null; waitReason?: string; error?: unknown },
  ) =>
    executor.query(
      `INSERT INTO ${q}.flow_runs (run_id, flow_id, flow_version, status, current_node_id, input_json, state_json, branches_json, last_seq, attempts_json, wait_reason, error_json)
       VALUES ($1, 'legacy', '1', $2::${q}.flow_run_status, $3, $4::jsonb, '{}', $5::jsonb, 4, '{"charge":1,"approve":1}', $6, $7::jsonb)`,
      [
        runId,
        status,
        extra.current,
        JSON.stringify(input),
        JSON.stringify(branches),
        extra.waitReason ?? null,
        extra.error === undefined ? null : JSON.stringify(extra.error),
      ],
    );
  const insertHistory = async (runId: string, last: string) => {
    const events: Array<[number, string, string | null]> = [
      [1, 'RUN_STARTED', 'charge'],
      [2, 'NODE_STARTED', 'charge'],
      [3, 'NODE_FINISHED', 'charge'],
      [4, last, 'approve'],
    ];
    for (const [seq, type, nodeId] of events) {
      await executor.query(`INSERT INTO ${q}.flow_events (run_id, seq, type, node_id, branch_id, attempt) VALUES ($1, $2, $3, $4, 'b1', 1)`, [
        runId,
        seq,
        type,
        nodeId,
      ]);
    }
    await executor.query(`INSERT INTO ${q}.flow_node_values (run_id, node_id, kind, value_json) VALUES ($1, 'charge', 'output', '"charged"')`, [runId]);
  };
  for (const [runId, input] of [
    ['resumes', {}],
    ['holds', { hold: true }],
    ['cancelled', {}],
  ] as const) {
    await insertRun(runId, 'WAITING', input, waitingAtApprove, { current: 'approve', waitReason: 'approval' });
    await insertHistory(runId, 'RUN_WAITING');
  }
  await insertRun('done', 'COMPLETED', {}, [], { current: null });
  await insertHistory('done', 'RUN_COMPLETED');
  const failure = { code: 'NO_COURIER', message: 'no courier', retryable: false };
  await insertRun('failed', 'FAILED', {}, [{ branchId: 'b1', nodeId: 'approve', status: 'FAILED', attempt: 1, recoveries: 0, error: failure }], {
    current: 'approve',
    error: failure,
  });
  await insertHistory('failed', 'RUN_ABORTED');

  expect((await migrate(executor, { schema })).applied).toEqual(migrationsFrom(MIGRATION));
  const storage = new SqlFlowStorage(executor, { schema, ownsExecutor: false, autoMigrate: false });
  const engine = new FlowEngine({ storage });
  const undone: string[] = [];
  try {
    await engine.registerDefinition(legacyFlow(undone));
    for (const runId of ['resumes', 'holds', 'cancelled', 'done', 'failed']) {
      expect(await engine.getRun(runId)).toMatchObject({ runId, compensation: null, compensated: null });
    }
    expect(await engine.getRun('done')).toMatchObject({ status: 'COMPLETED', outputsJson: { charge: 'charged' } });
    expect(await engine.getRun('failed')).toMatchObject({ status: 'FAILED', error: { code: 'NO_COURIER' } });
    const summaries = (await engine.listRuns({ flowId: 'legacy', limit: 10, summary: true })).runs;
    expect(summaries).toHaveLength(5);
    for (const r of summaries) {
      expect(r.compensated).toBeNull();
      expect(r).not.toHaveProperty('compensation');
    }

    // A waiting run resumes and completes; what it finishes from now on is logged (reserve), charge is not.
    await engine.resumeRun('resumes', { by: 'ops' });
    const completed = await engine.runToCompletion('resumes');
    expect(completed).toMatchObject({
      status: 'COMPLETED',
      compensated: null,
      compensation: { finished: [{ nodeId: 'reserve', branchId: 'b1' }], phase: null },
      outputsJson: { charge: 'charged', approve: { approvedBy: 'ops' }, reserve: 'reserved', confirm: 'confirmed' },
    });

    // A cancel with compensation on a run that went on after the upgrade: reserve is undone, once.
    await engine.resumeRun('holds', { by: 'ops' });
    expect((await engine.runToCompletion('holds')).status).toBe('WAITING');
    const held = await engine.cancelRun('holds', { compensate: true, reason: 'customer left' });
    expect(held).toMatchObject({ status: 'CANCELLED', compensated: true, error: { code: 'CANCELLED', message: 'customer left' } });
    expect(undone).toEqual(['holds:release']);
    const heldTimeline = (await engine.getTimeline('holds')).map((e) => e.type);
    expect(heldTimeline.filter((t) => t === 'NODE_COMPENSATED')).toHaveLength(1);
    expect(heldTimeline.at(-1)).toBe('RUN_CANCELLED');

    // …and on a run still as the previous version left it: nothing of it is in a log, nothing is undone.
    const cancelled = await engine.cancelRun('cancelled', { compensate: true });
    expect(cancelled).toMatchObject({ status: 'CANCELLED', compensated: true, branches: [] });
    expect(undone).toEqual(['holds:release']);
    expect((await engine.getTimeline('cancelled')).map((e) => e.type).slice(4)).toEqual(['BRANCH_ABORTED', 'RUN_COMPENSATING', 'RUN_CANCELLED']);
    expect(await storage.getInbox('cancelled')).toEqual([]);
  } finally {
    await engine.close();
  }
}

describe('upgrading a database of the version before compensation', () => {
  itUpgradesOnBoth(
    'its runs read back with compensation and compensated null; a waiting one resumes and completes, a cancel with compensate works',
    'flow_upgrade_compensation',
    checkUpgrade,
  );
});
