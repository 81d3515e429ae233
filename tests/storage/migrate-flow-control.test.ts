/**
 * The flow_control migration on a database of the previous version: a store whose schema lacks it
 * refuses to start (autoMigrate off), naming what is missing; once migrated, runs made before it
 * read with priority 0 and no flow control, and runs with limits are admitted under them.
 */
import { describe, expect } from 'vitest';
import type { SqlExecutor } from '../../src/storage/sql/executor.js';
import { loadMigrationFiles } from '../../src/storage/sql/migration-files.js';
import { migrate } from '../../src/storage/sql/migrate.js';
import { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import { itUpgradesOnBoth, withMigrationsBefore, migrationsFrom } from '../helpers/upgrade.js';
import { newRun } from '../contract/contract-helpers.js';

const FLOW_CONTROL = loadMigrationFiles().find((f) => f.name.endsWith('_flow_control'))!.name;

async function checkUpgrade(executor: SqlExecutor, schema: string): Promise<void> {
  await withMigrationsBefore(FLOW_CONTROL, (dir) => migrate(executor, { schema, migrationsDir: dir }));
  const refused = new SqlFlowStorage(executor, { schema, ownsExecutor: false, autoMigrate: false });
  await expect(refused.getRun('x')).rejects.toMatchObject({ code: 'SCHEMA_MISSING', message: expect.stringContaining('flow_admit_run') });
  await refused.close();
  await executor.query(
    `INSERT INTO "${schema}".flow_runs (run_id, flow_id, flow_version, status, current_node_id, input_json, state_json) VALUES ('old', 'f', '1', 'RUNNING', 'a', 'null', '{}')`,
  );
  expect((await migrate(executor, { schema })).applied).toEqual(migrationsFrom(FLOW_CONTROL));
  const storage = new SqlFlowStorage(executor, { schema, ownsExecutor: false, autoMigrate: false });
  try {
    expect(await storage.getRun('old')).toMatchObject({ runId: 'old', priority: 0, flowControl: null });
    const limited = { concurrency: [{ limit: 1, key: 'k', scope: 'active' as const }], rateLimit: null, debounce: null };
    const a = (await storage.createRun(newRun({ flowId: 'f', flowControl: limited }))).run;
    const b = (await storage.createRun(newRun({ flowId: 'f', flowControl: limited }))).run;
    const lease = (await storage.lockRun(a.runId, { onlyIfDue: true }))!;
    expect(lease).not.toBeNull();
    await lease.release();
    expect(await storage.lockRun(b.runId, { onlyIfDue: true })).toBeNull();
  } finally {
    await storage.close();
  }
}

describe('the flow_control migration on a database of the previous version', () => {
  itUpgradesOnBoth('adds priority, flow control and their tables; a schema without them is refused', 'flow_control_upgrade', checkUpgrade);
});
