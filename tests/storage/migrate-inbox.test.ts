/**
 * Upgrading a database of the v2 schema (runs of branches, before the inbox): its runs read back
 * as top-level runs (parentRunId null) with an empty inbox, and go on under the new model.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresExecutor } from '../../src/storage/postgres.js';
import type { SqlExecutor } from '../../src/storage/sql/executor.js';
import { loadMigrationFiles } from '../../src/storage/sql/migration-files.js';
import { assertMigrated, migrate } from '../../src/storage/sql/migrate.js';
import { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';
import { j, step } from '../contract/contract-helpers.js';
import { itUpgradesOnBoth, withMigrationsBefore } from '../helpers/upgrade.js';

const INBOX_MIGRATION = '20261130000000_inbox_events';

const schemas: TestSchema[] = [];
afterAll(async () => {
  await Promise.all(schemas.map((t) => t.drop()));
});

async function checkUpgradeFromV2(executor: SqlExecutor, schema: string): Promise<void> {
  // What the previous version of the package applied: the migrations before the inbox.
  await withMigrationsBefore(INBOX_MIGRATION, async (dir) => {
    const v2 = loadMigrationFiles(dir).map((f) => f.name);
    expect(v2).not.toContain(INBOX_MIGRATION);
    expect((await migrate(executor, { schema, migrationsDir: dir })).applied).toEqual(v2);
  });
  const q = `"${schema}"`;
  const b1 = { branchId: 'b1', nodeId: 'ask', status: 'WAITING', attempt: 1, recoveries: 0, dueAt: null, waitReason: 'approval', error: null };
  await executor.query(
    `INSERT INTO ${q}.flow_runs (run_id, flow_id, flow_version, status, current_node_id, input_json, state_json, branches_json, last_seq, attempts_json, wait_reason)
     VALUES ('waiting', 'f', '1', 'WAITING', 'ask', '{"in":1}', '{}', $1::jsonb, 2, '{"ask":1}', 'approval'),
            ('done', 'f', '1', 'COMPLETED', NULL, '{}', '{}', '[]', 1, '{}', NULL)`,
    [JSON.stringify([b1])],
  );
  await executor.query(`INSERT INTO ${q}.flow_node_values (run_id, node_id, kind, value_json) VALUES ('done', 'a', 'output', '"A"')`);

  // The inbox migration, and whatever came after it.
  const later = loadMigrationFiles()
    .map((f) => f.name)
    .filter((name) => name >= INBOX_MIGRATION);
  expect(later[0]).toBe(INBOX_MIGRATION);
  expect((await migrate(executor, { schema })).applied).toEqual(later);
  await assertMigrated(executor, { schema });
  const storage = new SqlFlowStorage(executor, { schema, ownsExecutor: false });
  try {
    const waiting = (await storage.getRun('waiting'))!;
    expect(waiting).toMatchObject({ status: 'WAITING', parentRunId: null, parentNodeId: null, hasInbox: false, inputJson: { in: 1 }, branches: [b1] });
    expect(await storage.getRun('done')).toMatchObject({
      status: 'COMPLETED',
      parentRunId: null,
      parentNodeId: null,
      hasInbox: false,
      outputsJson: { a: 'A' },
    });
    expect((await storage.listRuns({ parentRunId: 'waiting' })).runs).toEqual([]);
    expect(await storage.getInbox('waiting')).toEqual([]);
    expect(await storage.findDueRuns({ limit: 10 })).toEqual([]);
    // An answer to the old run's manual wait (its waitId is unknown to it: 0) makes it due; its holder applies it.
    expect(await storage.addToInbox({ runId: 'waiting', kind: 'resume', waitId: 0, branchId: 'b1', payload: j({ yes: true }) })).toBe(true);
    expect(await storage.findDueRuns({ limit: 10 })).toEqual(['waiting']);
    const lease = (await storage.lockRun('waiting', { onlyIfDue: true }))!;
    expect(lease.run).toEqual({ ...waiting, hasInbox: true, readAt: expect.any(Date) });
    const [entry] = await storage.getInbox('waiting');
    const next = await lease.commit(
      step(
        waiting,
        { status: 'COMPLETED', currentNodeId: null, branches: j([]), waitReason: null },
        {
          consumeInbox: [entry!.id],
          values: [{ nodeId: 'ask', kind: 'output', value: j({ yes: true }) }],
          events: [{ type: 'RUN_RESUMED', nodeId: 'ask', branchId: 'b1' }, { type: 'RUN_COMPLETED' }],
          release: true,
        },
      ),
    );
    expect(next).toMatchObject({ status: 'COMPLETED', hasInbox: false, parentRunId: null, outputsJson: { ask: { yes: true } } });
    expect(await storage.getRun('waiting')).toEqual({ ...next, readAt: expect.any(Date) });
  } finally {
    await storage.close();
  }
}

describe('upgrading a database of the v2 schema (branches, no inbox)', () => {
  itUpgradesOnBoth('runs read back as top-level runs with an empty inbox, and go on', 'flow_upgrade_v2', checkUpgradeFromV2);

  it.skipIf(!HAVE_PG)('a store without autoMigrate on the v2 schema names the missing tables', async () => {
    const t = await createTestSchema('flow_migrate_v2');
    schemas.push(t);
    const executor = createPostgresExecutor({ connectionString: TEST_DATABASE_URL, poolSize: 2, listen: false });
    try {
      await withMigrationsBefore(INBOX_MIGRATION, (dir) => migrate(executor, { schema: t.schema, migrationsDir: dir }));
      await expect(assertMigrated(executor, { schema: t.schema })).rejects.toMatchObject({
        code: 'SCHEMA_NOT_MIGRATED',
        message: expect.stringContaining(INBOX_MIGRATION),
      });
      const storage = new SqlFlowStorage(executor, { schema: t.schema, ownsExecutor: false, autoMigrate: false });
      await expect(storage.getRun('x')).rejects.toMatchObject({ code: 'SCHEMA_MISSING', message: expect.stringContaining('flow_inbox') });
      await storage.close();
    } finally {
      await executor.close();
    }
  });
});
