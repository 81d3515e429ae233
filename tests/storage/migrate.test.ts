import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors.js';
import { createPGliteExecutor } from '../../src/storage/pglite.js';
import { createPostgresExecutor } from '../../src/storage/postgres.js';
import { defaultMigrationsDir, loadMigrationFiles } from '../../src/storage/sql/migration-files.js';
import { assertMigrated, migrate } from '../../src/storage/sql/migrate.js';
import type { SqlExecutor } from '../../src/storage/sql/executor.js';
import { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import { splitSqlStatements } from '../../src/storage/sql/sql-split.js';
import type { BranchRecord, JsonText } from '../../src/storage/types.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';

const schemas: TestSchema[] = [];
async function freshSchema(): Promise<TestSchema> {
  const t = await createTestSchema('flow_migrate');
  schemas.push(t);
  return t;
}
afterAll(async () => {
  await Promise.all(schemas.map((t) => t.drop()));
});

const pgExecutor = () => createPostgresExecutor({ connectionString: TEST_DATABASE_URL, poolSize: 2, listen: false });

describe('migration files', () => {
  it('are found from the package root and checksummed as Prisma does (sha256 hex of the file)', () => {
    const dir = defaultMigrationsDir();
    expect(dir.replace(/\\/g, '/')).toMatch(/\/prisma\/migrations$/);
    const files = loadMigrationFiles(dir);
    expect(files[0]!.name).toMatch(/^\d{14}_init$/);
    const bytes = readFileSync(join(dir, files[0]!.name, 'migration.sql'));
    expect(files[0]!.checksum).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('split into statements without breaking dollar-quoted bodies or strings', () => {
    const script = `-- c;omment\nCREATE TABLE "a;b" (x TEXT DEFAULT 'x;y');\nCREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n/* ; */ SELECT $1;`;
    expect(splitSqlStatements(script)).toEqual([
      `-- c;omment\nCREATE TABLE "a;b" (x TEXT DEFAULT 'x;y')`,
      'CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$',
      '/* ; */ SELECT $1',
    ]);
  });
});

describe.skipIf(!HAVE_PG)('migrate (postgres)', () => {
  it('applies the migrations into a new schema and records them as Prisma does', async () => {
    const t = await freshSchema();
    const executor = pgExecutor();
    try {
      const first = await migrate(executor, { schema: t.schema });
      expect(first.applied).toEqual(loadMigrationFiles().map((f) => f.name));
      const tables = await t.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, [
        t.schema,
      ]);
      expect(tables.map((r) => r.table_name)).toEqual([
        '_prisma_migrations',
        'flow_concurrency_slots',
        'flow_definitions',
        'flow_event_receipts',
        'flow_event_waits',
        'flow_events',
        'flow_idempotency',
        'flow_inbox',
        'flow_node_values',
        'flow_rate_limits',
        'flow_runs',
        'flow_schedules',
        'flow_sent_events',
        'flow_workers',
      ]);
      const history = await t.query(`SELECT * FROM "${t.schema}"._prisma_migrations ORDER BY started_at`);
      const files = loadMigrationFiles();
      expect(history).toHaveLength(files.length);
      for (const [i, file] of files.entries()) {
        const row = history[i]!;
        expect(row).toMatchObject({ migration_name: file.name, checksum: file.checksum, logs: null, rolled_back_at: null, applied_steps_count: 1 });
        expect(row.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(row.finished_at).toBeInstanceOf(Date);
        expect(row.finished_at.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
      }
      // Prisma's column types, so `prisma migrate deploy` reads the table as its own.
      const cols = await t.query<{ column_name: string; data_type: string }>(
        `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = '_prisma_migrations' ORDER BY ordinal_position`,
        [t.schema],
      );
      expect(cols.map((c) => `${c.column_name}:${c.data_type}`)).toEqual([
        'id:character varying',
        'checksum:character varying',
        'finished_at:timestamp with time zone',
        'migration_name:character varying',
        'logs:text',
        'rolled_back_at:timestamp with time zone',
        'started_at:timestamp with time zone',
        'applied_steps_count:integer',
      ]);
      expect((await migrate(executor, { schema: t.schema })).applied).toEqual([]);
      await assertMigrated(executor, { schema: t.schema });
    } finally {
      await executor.close();
    }
  });

  it('is safe when many processes start at once: each migration is applied exactly once', async () => {
    const t = await freshSchema();
    const executors = Array.from({ length: 5 }, pgExecutor);
    try {
      const results = await Promise.all(executors.map((e) => migrate(e, { schema: t.schema })));
      // Whichever process applied it (one may apply the first ones, another the rest), each once.
      expect(results.flatMap((r) => r.applied).sort()).toEqual(loadMigrationFiles().map((f) => f.name));
      const [count] = await t.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${t.schema}"._prisma_migrations`);
      expect(count!.n).toBe(loadMigrationFiles().length);
    } finally {
      await Promise.all(executors.map((e) => e.close()));
    }
  });

  it('applies only the new migrations of a later version', async () => {
    const t = await freshSchema();
    const dir = mkdtempSync(join(tmpdir(), 'flow-migrations-'));
    const executor = pgExecutor();
    try {
      cpSync(defaultMigrationsDir(), dir, { recursive: true });
      await migrate(executor, { schema: t.schema, migrationsDir: dir });
      mkdirSync(join(dir, '29990101000000_add_note'));
      writeFileSync(join(dir, '29990101000000_add_note', 'migration.sql'), 'ALTER TABLE "flow_runs" ADD COLUMN "note" TEXT;\n');
      expect((await migrate(executor, { schema: t.schema, migrationsDir: dir })).applied).toEqual(['29990101000000_add_note']);
      const cols = await t.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'flow_runs' AND column_name = 'note'`, [
        t.schema,
      ]);
      expect(cols).toHaveLength(1);
      // Now the database is newer than the package's own migrations: refuse it.
      const err = await migrate(executor, { schema: t.schema }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).code).toBe('SCHEMA_TOO_NEW');
      expect((err as StorageError).message).toContain('29990101000000_add_note');
      expect((err as StorageError).message).toMatch(/upgrade @hazeljs\/flow/);
    } finally {
      await executor.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a database with an unfinished (failed) migration', async () => {
    const t = await freshSchema();
    const executor = pgExecutor();
    try {
      await migrate(executor, { schema: t.schema });
      await t.query(
        `INSERT INTO "${t.schema}"._prisma_migrations (id, checksum, migration_name, logs, started_at, applied_steps_count)
         VALUES (gen_random_uuid()::text, 'x', '20251125000000_init_retry', 'boom', now(), 0)`,
      );
      await expect(migrate(executor, { schema: t.schema })).rejects.toMatchObject({ code: 'MIGRATION_FAILED' });
    } finally {
      await executor.close();
    }
  });

  it('rolls a failing migration back entirely and records nothing', async () => {
    const t = await freshSchema();
    const dir = mkdtempSync(join(tmpdir(), 'flow-migrations-'));
    const executor = pgExecutor();
    try {
      cpSync(defaultMigrationsDir(), dir, { recursive: true });
      mkdirSync(join(dir, '29990101000000_broken'));
      writeFileSync(join(dir, '29990101000000_broken', 'migration.sql'), 'CREATE TABLE "half_done" (x INT);\nSELECT 1/0;\n');
      await expect(migrate(executor, { schema: t.schema, migrationsDir: dir })).rejects.toMatchObject({ code: 'MIGRATION_FAILED' });
      const names = await t.query<{ migration_name: string }>(`SELECT migration_name FROM "${t.schema}"._prisma_migrations ORDER BY started_at`);
      expect(names.map((r) => r.migration_name)).toEqual(loadMigrationFiles().map((f) => f.name));
      expect(await t.query(`SELECT to_regclass($1) AS t`, [`"${t.schema}".half_done`])).toEqual([{ t: null }]);
    } finally {
      await executor.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('migrate (pglite)', () => {
  it('applies the same files to embedded Postgres, in a non-default schema too', async () => {
    const executor = createPGliteExecutor();
    try {
      expect((await migrate(executor, { schema: 'flow_embedded' })).applied).toHaveLength(loadMigrationFiles().length);
      expect((await migrate(executor, { schema: 'flow_embedded' })).applied).toEqual([]);
      const rows = await executor.query(`SELECT count(*)::int AS n FROM flow_embedded._prisma_migrations`);
      expect(rows).toEqual([{ n: loadMigrationFiles().length }]);
    } finally {
      await executor.close();
    }
  });
});

/** A folder holding only the init migration: what the previous version of the package applied. */
function initOnlyMigrationsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flow-migrations-v1-'));
  const init = loadMigrationFiles()[0]!.name;
  cpSync(join(defaultMigrationsDir(), init), join(dir, init), { recursive: true });
  return dir;
}

/**
 * Runs of every kind, as the previous version (one cursor, outputs in `outputs_json`) left them,
 * migrated to branches: each live run reads back with its one branch `b1` and its outputs.
 */
async function checkUpgradeFromInit(executor: SqlExecutor, schema: string): Promise<void> {
  const dir = initOnlyMigrationsDir();
  try {
    expect((await migrate(executor, { schema, migrationsDir: dir })).applied).toEqual([loadMigrationFiles()[0]!.name]);
    const q = `"${schema}"`;
    const run = (id: string, status: string, node: string | null, outputs: unknown, extra: string, values: string) =>
      executor.query(
        `INSERT INTO ${q}.flow_runs (run_id, flow_id, flow_version, status, current_node_id, input_json, state_json, outputs_json, last_seq, ${extra})
         VALUES ($1, 'f', '1', $2::text::${q}.flow_run_status, $3, '{"in":1}', '{"s":1}', $4::jsonb, 3, ${values})`,
        [id, status, node, JSON.stringify(outputs)],
      );
    const outputs = { a: { x: [1, 'ü'] }, n: null, '': 0 };
    await run('running', 'RUNNING', 'b', outputs, 'attempt, attempt_in_flight', '0, false');
    await run('inflight', 'RUNNING', 'b', {}, 'attempt, attempt_in_flight, recoveries', '1, true, 1');
    await run('retry', 'RUNNING', 'b', {}, 'attempt, next_attempt_at', `2, date_trunc('milliseconds', now() + interval '1 hour')`);
    await run('waiting', 'WAITING', 'ask', { a: 1 }, 'next_attempt_at, wait_reason', `'2030-01-02T03:04:05.678Z', 'timer'`);
    await run('failed', 'FAILED', 'b', { a: 1 }, 'error_json', `'{"code":"E","message":"m"}'`);
    await run('done', 'COMPLETED', null, { a: 1, b: 2 }, 'attempt', '0');
    for (const id of ['running', 'retry', 'done']) {
      await executor.query(
        `INSERT INTO ${q}.flow_events (run_id, seq, type, node_id, attempt, error_json) VALUES
           ($1, 1, 'RUN_STARTED', 'a', NULL, NULL), ($1, 2, 'NODE_FINISHED', 'a', 1, NULL), ($1, 3, 'NODE_FAILED', 'b', 2, '{"code":"BOOM","message":"failed","retryable":true}')`,
        [id],
      );
    }

    expect((await migrate(executor, { schema })).applied).toEqual(
      loadMigrationFiles()
        .slice(1)
        .map((f) => f.name),
    );
    const storage = new SqlFlowStorage(executor, { schema, ownsExecutor: false });
    try {
      // The branches migration's shape (every field on every branch); a WAITING one is read with its `waitFor`.
      const b1 = (nodeId: string, more: Record<string, unknown> = {}): BranchRecord =>
        ({
          branchId: 'b1',
          nodeId,
          status: 'READY',
          attempt: 0,
          recoveries: 0,
          dueAt: null,
          waitReason: null,
          error: null,
          ...more,
        }) as BranchRecord;
      const running = (await storage.getRun('running'))!;
      expect(running).toMatchObject({
        status: 'RUNNING',
        currentNodeId: 'b',
        inputJson: { in: 1 },
        stateJson: { s: 1 },
        outputsJson: outputs,
        version: 1,
        lastSeq: 3,
      });
      expect(running.branches).toEqual([b1('b')]);
      expect((await storage.getRun('inflight'))!.branches).toEqual([b1('b', { status: 'RUNNING', attempt: 1, recoveries: 1 })]);
      const retry = (await storage.getRun('retry'))!;
      expect(retry.branches).toEqual([
        b1('b', { status: 'RETRY', attempt: 2, dueAt: retry.nextAttemptAt!.toISOString(), error: { code: 'BOOM', message: 'failed', retryable: true } }),
      ]);
      expect((await storage.getRun('waiting'))!).toMatchObject({
        outputsJson: { a: 1 },
        branches: [b1('ask', { status: 'WAITING', dueAt: '2030-01-02T03:04:05.678Z', waitReason: 'timer', waitFor: 'timer', waitId: 0 })],
      });
      expect(await storage.getRun('failed')).toMatchObject({ status: 'FAILED', branches: [], outputsJson: { a: 1 } });
      expect(await storage.getRun('done')).toMatchObject({ status: 'COMPLETED', branches: [], outputsJson: { a: 1, b: 2 } });
      // The node events of a live run belong to b1; a finished run's timeline is left as it was.
      expect((await storage.getEvents('retry')).map((e) => e.branchId)).toEqual([null, 'b1', 'b1']);
      expect((await storage.getEvents('done')).map((e) => [e.type, e.branchId, e.itemIndex])).toEqual([
        ['RUN_STARTED', null, null],
        ['NODE_FINISHED', null, null],
        ['NODE_FAILED', null, null],
      ]);
      // And the run goes on under the new model.
      const lease = (await storage.lockRun('running'))!;
      expect(lease.run).toEqual({ ...running, readAt: expect.any(Date) });
      const next = await lease.commit({
        expectedVersion: running.version,
        update: {
          status: 'COMPLETED',
          currentNodeId: null,
          branches: '[]' as JsonText,
          attempt: 0,
          attemptInFlight: false,
          recoveries: 0,
          nextAttemptAt: null,
          waitReason: null,
          error: null,
        },
        values: [{ nodeId: 'b', kind: 'output', value: '"B"' as JsonText }],
        events: [{ type: 'NODE_FINISHED', nodeId: 'b', branchId: 'b1' }, { type: 'RUN_COMPLETED' }],
        release: true,
      });
      expect(next.outputsJson).toEqual({ ...outputs, b: 'B' });
      expect(await storage.getRun('running')).toEqual({ ...next, readAt: expect.any(Date) });
      const columns = await executor.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'flow_runs' AND column_name = 'outputs_json'`,
        [schema],
      );
      expect(columns).toEqual([]);
    } finally {
      await storage.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('upgrading a database of the previous version (init migration only)', () => {
  it.skipIf(!HAVE_PG)('postgres: live runs get their one branch b1, outputs move to rows, and the runs go on', async () => {
    const t = await freshSchema();
    const executor = pgExecutor();
    try {
      await checkUpgradeFromInit(executor, t.schema);
    } finally {
      await executor.close();
    }
  });

  it('pglite: the same', async () => {
    const executor = createPGliteExecutor();
    try {
      await checkUpgradeFromInit(executor, 'flow_upgrade');
    } finally {
      await executor.close();
    }
  }, 60_000);

  it.skipIf(!HAVE_PG)('a store without autoMigrate names what the previous version lacks', async () => {
    const t = await freshSchema();
    const executor = pgExecutor();
    const dir = initOnlyMigrationsDir();
    try {
      await migrate(executor, { schema: t.schema, migrationsDir: dir });
      await expect(assertMigrated(executor, { schema: t.schema })).rejects.toMatchObject({
        code: 'SCHEMA_NOT_MIGRATED',
        message: expect.stringContaining(loadMigrationFiles()[1]!.name),
      });
      const storage = new SqlFlowStorage(executor, { schema: t.schema, ownsExecutor: false, autoMigrate: false });
      await expect(storage.getRun('x')).rejects.toMatchObject({ code: 'SCHEMA_MISSING', message: expect.stringContaining('flow_node_values') });
      await storage.close();
    } finally {
      await executor.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
