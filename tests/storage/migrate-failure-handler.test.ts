/**
 * The failure_handler migration on a database of the previous version: a store whose schema lacks
 * its columns refuses to start (every read of a run names them) rather than fail each call; once
 * migrated, a run written by the previous version reads with no link, and when it fails, its
 * commit starts its failure handler like any other.
 */
import { describe, expect } from 'vitest';
import { FlowEngine, flow, type NodeResult } from '@hazeljs/flow';
import type { SqlExecutor } from '../../src/storage/sql/executor.js';
import { loadMigrationFiles } from '../../src/storage/sql/migration-files.js';
import { migrate } from '../../src/storage/sql/migrate.js';
import { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import { itUpgradesOnBoth, withMigrationsBefore, migrationsFrom } from '../helpers/upgrade.js';

const FAILURE_HANDLER = loadMigrationFiles().find((f) => f.name.endsWith('_failure_handler'))!.name;

async function checkUpgrade(executor: SqlExecutor, schema: string): Promise<void> {
  await withMigrationsBefore(FAILURE_HANDLER, (dir) => migrate(executor, { schema, migrationsDir: dir }));
  const refused = new SqlFlowStorage(executor, { schema, ownsExecutor: false, autoMigrate: false });
  await expect(refused.getRun('x')).rejects.toThrow(/lacks .*the column\(s\) .*failure_of, failure_handler_run_id(, [a-z_]+)* of flow_runs/);
  await refused.close();

  // A run the previous version left RUNNING at node "a".
  const branches = `'[{"branchId":"b1","nodeId":"a","status":"READY","attempt":0,"recoveries":0}]'`;
  await executor.query(
    `INSERT INTO "${schema}".flow_runs (run_id, flow_id, flow_version, status, current_node_id, input_json, state_json, branches_json, last_seq)
     VALUES ('old-run', 'upgraded', '1', 'RUNNING', 'a', '{}', '{}', ${branches}, 0)`,
  );

  expect((await migrate(executor, { schema })).applied).toEqual(migrationsFrom(FAILURE_HANDLER));
  const storage = new SqlFlowStorage(executor, { schema, ownsExecutor: false, autoMigrate: false });
  const engine = new FlowEngine({ storage });
  try {
    expect(await storage.getRun('old-run')).toMatchObject({ status: 'RUNNING', failureOf: null, failureHandlerRunId: null });
    const handler = flow('upgraded-handler', '1')
      .entry('h')
      .node('h', (ctx) => ({ status: 'ok', output: ctx.input }))
      .build();
    const def = flow('upgraded', '1', { onFailure: { flowId: 'upgraded-handler', version: '1' } })
      .entry('a')
      .node('a', (): NodeResult => ({ status: 'error', error: { code: 'OLD', message: 'failed after the upgrade', retryable: false } }))
      .build();
    await engine.registerDefinition(handler);
    await engine.registerDefinition(def);
    const failed = await engine.runToCompletion('old-run');
    expect(failed).toMatchObject({ status: 'FAILED', failureHandlerRunId: expect.any(String) });
    const done = await engine.runToCompletion(failed.failureHandlerRunId!);
    expect(done).toMatchObject({ status: 'COMPLETED', failureOf: 'old-run' });
    expect(done.outputsJson.h).toMatchObject({ runId: 'old-run', error: { code: 'OLD' } });
  } finally {
    await engine.close();
    await storage.close();
  }
}

describe('the failure_handler migration on a database of the previous version', () => {
  itUpgradesOnBoth('is required, and a run of the previous version starts its handler when it fails', 'flow_failure_handler_upgrade', checkUpgrade);
});
