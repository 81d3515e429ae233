/**
 * The operations migration on a database of the previous version: a store whose schema lacks the
 * workers' table and the runs' traceparent refuses to start (autoMigrate off), and once migrated,
 * runs made before it read with no traceparent and the workers' registry works.
 */
import { describe, expect } from 'vitest';
import type { SqlExecutor } from '../../src/storage/sql/executor.js';
import { loadMigrationFiles } from '../../src/storage/sql/migration-files.js';
import { migrate } from '../../src/storage/sql/migrate.js';
import { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import { itUpgradesOnBoth, withMigrationsBefore, migrationsFrom } from '../helpers/upgrade.js';

const OPERATIONS = loadMigrationFiles().find((f) => f.name.endsWith('_operations'))!.name;

async function checkUpgrade(executor: SqlExecutor, schema: string): Promise<void> {
  await withMigrationsBefore(OPERATIONS, (dir) => migrate(executor, { schema, migrationsDir: dir }));
  const refused = new SqlFlowStorage(executor, { schema, ownsExecutor: false, autoMigrate: false });
  await expect(refused.getRun('x')).rejects.toMatchObject({
    code: 'SCHEMA_MISSING',
    message: expect.stringMatching(/flow_workers.*traceparent of flow_runs/),
  });
  await refused.close();
  await executor.query(
    `INSERT INTO "${schema}".flow_runs (run_id, flow_id, flow_version, status, current_node_id, input_json, state_json) VALUES ('old', 'f', '1', 'RUNNING', 'a', 'null', '{}')`,
  );

  expect((await migrate(executor, { schema })).applied).toEqual(migrationsFrom(OPERATIONS));
  const storage = new SqlFlowStorage(executor, { schema, ownsExecutor: false, autoMigrate: false });
  try {
    expect(await storage.getRun('old')).toMatchObject({ runId: 'old', traceparent: null });
    await storage.recordWorker({
      workerId: 'w',
      host: 'h',
      pid: 1,
      startedAt: new Date(),
      heartbeatMs: 10_000,
      flowKeys: ['f@1'],
      concurrency: 1,
      inFlight: 0,
    });
    expect(await storage.listWorkers()).toMatchObject([{ workerId: 'w', status: 'live', flowKeys: ['f@1'] }]);
    expect(await storage.countDueRuns()).toMatchObject([{ flowId: 'f', flowVersion: '1', due: 1 }]);
  } finally {
    await storage.close();
  }
}

describe('the operations migration on a database of the previous version', () => {
  itUpgradesOnBoth('adds the workers table and the runs’ traceparent; a schema without them is refused', 'flow_operations_upgrade', checkUpgrade);
});
