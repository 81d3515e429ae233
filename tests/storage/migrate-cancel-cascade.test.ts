/**
 * The cancel_cascade migration on a database of the previous version: it repairs what that
 * version left (cancelled runs with live branches, runs waiting under a parent that had failed or
 * been cancelled), and a store whose schema lacks its function refuses to start rather than
 * leave children behind.
 */
import { describe, expect } from 'vitest';
import type { SqlExecutor } from '../../src/storage/sql/executor.js';
import { loadMigrationFiles } from '../../src/storage/sql/migration-files.js';
import { migrate } from '../../src/storage/sql/migrate.js';
import { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import { itUpgradesOnBoth, withMigrationsBefore, migrationsFrom } from '../helpers/upgrade.js';

const CASCADE = loadMigrationFiles().find((f) => f.name.endsWith('_cancel_cascade'))!.name;

async function checkUpgrade(executor: SqlExecutor, schema: string): Promise<void> {
  await withMigrationsBefore(CASCADE, (dir) => migrate(executor, { schema, migrationsDir: dir }));
  // Without the function, a store refuses to start (autoMigrate off): a cancel would strand children.
  const refused = new SqlFlowStorage(executor, { schema, ownsExecutor: false, autoMigrate: false });
  await expect(refused.getRun('x')).rejects.toMatchObject({ code: 'SCHEMA_MISSING', message: expect.stringContaining('flow_cancel_runs') });
  await refused.close();

  const live = `'[{"branchId":"b1","nodeId":"a","status":"WAITING","attempt":1,"recoveries":0,"dueAt":null,"waitReason":"x","error":null}]'`;
  const insert = (runId: string, status: string, parent: string | null) =>
    executor.query(
      `INSERT INTO "${schema}".flow_runs (run_id, flow_id, flow_version, status, current_node_id, input_json, state_json, branches_json, parent_run_id)
       VALUES ($1, 'f', '1', $2::"${schema}".flow_run_status, 'a', 'null', '{}', ${live}, $3)`,
      [runId, status, parent],
    );
  await insert('cancelled', 'CANCELLED', null);
  await insert('failed', 'FAILED', null);
  await insert('orphan', 'WAITING', 'failed');
  await insert('orphan-child', 'RUNNING', 'orphan');
  await insert('alive', 'WAITING', null);
  await insert('kept', 'WAITING', 'alive');

  expect((await migrate(executor, { schema })).applied).toEqual(migrationsFrom(CASCADE));
  const storage = new SqlFlowStorage(executor, { schema, ownsExecutor: false, autoMigrate: false });
  try {
    expect((await storage.getRun('cancelled'))!.branches).toEqual([]);
    for (const runId of ['orphan', 'orphan-child']) {
      expect(await storage.getRun(runId)).toMatchObject({ status: 'CANCELLED', branches: [], error: { code: 'CANCELLED' } });
      expect((await storage.getEvents(runId)).map((e) => e.type)).toEqual(['RUN_CANCELLED']);
    }
    expect((await storage.getRun('orphan'))!.error!.message).toBe('its parent run had ended');
    expect((await storage.getRun('orphan-child'))!.error!.message).toBe('parent run orphan was cancelled');
    for (const runId of ['alive', 'kept']) expect((await storage.getRun(runId))!.status).toBe('WAITING');
  } finally {
    await storage.close();
  }
}

describe('the cancel_cascade migration on a database of the previous version', () => {
  itUpgradesOnBoth('repairs cancelled runs and runs left under ended parents; a schema without it is refused', 'flow_cascade_upgrade', checkUpgrade);
});
