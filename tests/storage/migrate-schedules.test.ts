/**
 * The schedules migration on a database of the previous version: runs made before it read with
 * no schedule, a store whose schema lacks the schedules table refuses to start (autoMigrate off),
 * and once migrated schedules fire into the old tables.
 */
import { describe, expect } from 'vitest';
import type { SqlExecutor } from '../../src/storage/sql/executor.js';
import { loadMigrationFiles } from '../../src/storage/sql/migration-files.js';
import { migrate } from '../../src/storage/sql/migrate.js';
import { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import type { JsonText } from '../../src/storage/types.js';
import { itUpgradesOnBoth, withMigrationsBefore, migrationsFrom } from '../helpers/upgrade.js';

const SCHEDULES = loadMigrationFiles().find((f) => f.name.endsWith('_schedules'))!.name;

async function checkUpgrade(executor: SqlExecutor, schema: string): Promise<void> {
  await withMigrationsBefore(SCHEDULES, (dir) => migrate(executor, { schema, migrationsDir: dir }));
  const refused = new SqlFlowStorage(executor, { schema, ownsExecutor: false, autoMigrate: false });
  await expect(refused.getRun('x')).rejects.toMatchObject({ code: 'SCHEMA_MISSING', message: expect.stringContaining('flow_schedules') });
  await refused.close();
  await executor.query(
    `INSERT INTO "${schema}".flow_runs (run_id, flow_id, flow_version, status, current_node_id, input_json, state_json) VALUES ('old', 'f', '1', 'RUNNING', 'a', 'null', '{}')`,
  );

  expect((await migrate(executor, { schema })).applied).toEqual(migrationsFrom(SCHEDULES));
  const storage = new SqlFlowStorage(executor, { schema, ownsExecutor: false, autoMigrate: false });
  try {
    expect(await storage.getRun('old')).toMatchObject({ runId: 'old', scheduleId: null, scheduledAt: null });
    const due = new Date(Date.now() - 1000);
    const saved = (await storage.saveSchedule(
      {
        scheduleId: 's',
        flowId: 'f',
        version: null,
        cron: null,
        every: 60_000,
        timezone: 'UTC',
        input: 'null' as JsonText,
        overlap: 'skip',
        catchup: 'latest',
        catchupWindowMs: 86_400_000,
        jitterMs: 0,
        paused: false,
        nextFireAt: due,
        dueAt: due,
      },
      null,
    ))!;
    const claim = await storage.claimDueSchedules({ limit: 10, leaseMs: 1000 });
    expect(claim.schedules.map((s) => s.scheduleId)).toEqual(['s']);
    expect(claim.schedules[0]!.revision).toBe(saved.revision);
  } finally {
    await storage.close();
  }
}

describe('the schedules migration on a database of the previous version', () => {
  itUpgradesOnBoth("adds the schedules table and the runs' schedule columns; a schema without them is refused", 'flow_schedules_upgrade', checkUpgrade);
});
