/**
 * Upgrading a database of the version before business outcomes (`20261208000000_outcomes`): its
 * runs read with `outcome` null and match no outcome filter, go on and get one when a node sets
 * it; an idempotency record written then (without an outcome) is reused without setting one; and
 * the outcome index is the partial one the list query relies on.
 */
import { describe, expect } from 'vitest';
import { FlowEngine, flow } from '@hazeljs/flow';
import type { SqlExecutor } from '../../src/storage/sql/executor.js';
import { migrate } from '../../src/storage/sql/migrate.js';
import { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import { j, step } from '../contract/contract-helpers.js';
import { itUpgradesOnBoth, withMigrationsBefore, migrationsFrom } from '../helpers/upgrade.js';

const MIGRATION = '20261208000000_outcomes';

async function checkUpgrade(executor: SqlExecutor, schema: string): Promise<void> {
  await withMigrationsBefore(MIGRATION, (dir) => migrate(executor, { schema, migrationsDir: dir }));
  const q = `"${schema}"`;
  const ready = [{ branchId: 'b1', nodeId: 'a', status: 'READY', attempt: 0, recoveries: 0 }];
  for (const [runId, status] of [
    ['old-running', 'RUNNING'],
    ['old-done', 'COMPLETED'],
  ] as const) {
    await executor.query(
      `INSERT INTO ${q}.flow_runs (run_id, flow_id, flow_version, status, current_node_id, input_json, state_json, branches_json, last_seq)
       VALUES ($1, 'old-flow', '1', $2::${q}.flow_run_status, 'a', '{}', '{}', $3::jsonb, 1)`,
      [runId, status, JSON.stringify(status === 'RUNNING' ? ready : [])],
    );
  }
  await executor.query(
    `INSERT INTO ${q}.flow_idempotency (key, run_id, node_id, result_json) VALUES ('charge-old', 'old-done', 'charge', '{"output":{"charged":true}}')`,
  );

  expect((await migrate(executor, { schema })).applied).toEqual(migrationsFrom(MIGRATION));
  const [index] = await executor.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'flow_runs_outcome_created_idx'`, [schema]);
  expect(String(index?.indexdef)).toMatch(/\(outcome, created_at, run_id\) WHERE \(outcome IS NOT NULL\)$/);

  const storage = new SqlFlowStorage(executor, { schema, ownsExecutor: false, autoMigrate: false });
  const engine = new FlowEngine({ storage });
  try {
    for (const runId of ['old-running', 'old-done']) expect((await storage.getRun(runId))!.outcome).toBeNull();
    expect((await storage.listRuns({ flowId: 'old-flow', summary: true })).runs.map((r) => r.outcome)).toEqual([null, null]);
    expect((await storage.listRuns({ outcome: ['refunded', 'declined'] })).runs).toEqual([]);

    // A run of the previous version goes on and gets an outcome.
    const lease = (await storage.lockRun('old-running'))!;
    const done = await lease.commit(
      step(
        lease.run!,
        { status: 'COMPLETED', currentNodeId: null, branches: j([]), outcome: 'refunded' },
        { events: [{ type: 'RUN_COMPLETED' }], release: true },
      ),
    );
    expect(done).toMatchObject({ status: 'COMPLETED', outcome: 'refunded' });
    expect((await storage.listRuns({ outcome: 'refunded' })).runs.map((r) => r.runId)).toEqual(['old-running']);

    // A result reused from a record of the previous version brings no outcome.
    let calls = 0;
    const def = flow('charge-flow', '1')
      .entry('charge')
      .node(
        'charge',
        () => {
          calls += 1;
          return { status: 'ok', outcome: 'charged' };
        },
        { idempotencyKey: () => 'charge-old' },
      )
      .build();
    await engine.registerDefinition(def);
    const { runId } = await engine.startRun({ flowId: 'charge-flow', version: '1', input: {} });
    const run = await engine.runToCompletion(runId);
    expect(calls).toBe(0);
    expect(run).toMatchObject({ status: 'COMPLETED', outcome: null, outputsJson: { charge: { charged: true } } });
  } finally {
    await engine.close();
    await storage.close();
  }
}

describe('the outcomes migration on a database of the previous version', () => {
  itUpgradesOnBoth('reads old runs with no outcome, lets them get one, and adds the partial outcome index', 'flow_outcomes_upgrade', checkUpgrade);
});
