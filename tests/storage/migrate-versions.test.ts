/**
 * Upgrading a database of the version before versions in operation (`20261209000010_versions`):
 * a store whose schema lacks the fork columns refuses to start, naming them; once migrated, a run
 * written by the previous version reads with `forkedFrom` null, and can be migrated, retried and
 * forked like any other.
 */
import { describe, expect } from 'vitest';
import { FlowEngine, flow } from '@hazeljs/flow';
import type { SqlExecutor } from '../../src/storage/sql/executor.js';
import { migrate } from '../../src/storage/sql/migrate.js';
import { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import { itUpgradesOnBoth, withMigrationsBefore, migrationsFrom } from '../helpers/upgrade.js';

const MIGRATION = '20261209000010_versions';

async function checkUpgrade(executor: SqlExecutor, schema: string): Promise<void> {
  await withMigrationsBefore(MIGRATION, (dir) => migrate(executor, { schema, migrationsDir: dir }));
  const refused = new SqlFlowStorage(executor, { schema, ownsExecutor: false, autoMigrate: false });
  await expect(refused.getRun('x')).rejects.toThrow(/forked_from_run_id, forked_from_node_id/);
  await refused.close();

  // A run the previous version left RUNNING at node "a" of 'upgraded@1'.
  const branches = `'[{"branchId":"b1","nodeId":"a","status":"READY","attempt":0,"recoveries":0}]'`;
  await executor.query(
    `INSERT INTO "${schema}".flow_runs (run_id, flow_id, flow_version, status, current_node_id, input_json, state_json, branches_json, last_seq)
     VALUES ('old-run', 'upgraded', '1', 'RUNNING', 'a', '{}', '{}', ${branches}, 0)`,
  );
  expect((await migrate(executor, { schema })).applied).toEqual(migrationsFrom(MIGRATION));

  const storage = new SqlFlowStorage(executor, { schema, ownsExecutor: false, autoMigrate: false });
  const engine = new FlowEngine({ storage });
  try {
    expect(await storage.getRun('old-run')).toMatchObject({ status: 'RUNNING', forkedFrom: null });
    await storage.saveDefinition({ flowId: 'upgraded', version: '1', fingerprint: 'old', graph: JSON.stringify({ nodes: [{ id: 'a' }] }) as never });
    await engine.registerDefinition(
      flow('upgraded', '2')
        .entry('a')
        .node('a', () => ({ status: 'ok', output: 'a of 2' }))
        .build(),
    );
    expect(await engine.migrateRuns({ flowId: 'upgraded', fromVersion: '1', toVersion: '2' })).toEqual({ migrated: ['old-run'], blocked: [] });
    expect(await engine.runToCompletion('old-run')).toMatchObject({ status: 'COMPLETED', flowVersion: '2', outputsJson: { a: 'a of 2' } });
    const { runId } = await engine.forkRun('old-run', { fromNodeId: 'a' });
    expect(await engine.runToCompletion(runId)).toMatchObject({ status: 'COMPLETED', forkedFrom: { runId: 'old-run', nodeId: 'a' } });
  } finally {
    await engine.close();
    await storage.close();
  }
}

describe('the versions migration on a database of the previous version', () => {
  itUpgradesOnBoth('refuses to start without the fork columns, then moves and forks runs of the previous version', 'flow_versions_upgrade', checkUpgrade);
});
