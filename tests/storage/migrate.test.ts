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
import { splitSqlStatements } from '../../src/storage/sql/sql-split.js';
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
      const tables = await t.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
        [t.schema],
      );
      expect(tables.map((r) => r.table_name)).toEqual(['_prisma_migrations', 'flow_definitions', 'flow_events', 'flow_idempotency', 'flow_runs']);
      const history = await t.query(`SELECT * FROM "${t.schema}"._prisma_migrations`);
      expect(history).toHaveLength(1);
      const [row] = history;
      const file = loadMigrationFiles()[0]!;
      expect(row).toMatchObject({ migration_name: file.name, checksum: file.checksum, logs: null, rolled_back_at: null, applied_steps_count: 1 });
      expect(row!.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(row!.finished_at).toBeInstanceOf(Date);
      expect(row!.finished_at.getTime()).toBeGreaterThanOrEqual(row!.started_at.getTime());
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
      expect(results.flatMap((r) => r.applied)).toEqual(loadMigrationFiles().map((f) => f.name));
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
      const cols = await t.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'flow_runs' AND column_name = 'note'`, [t.schema]);
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
      const names = await t.query<{ migration_name: string }>(`SELECT migration_name FROM "${t.schema}"._prisma_migrations`);
      expect(names.map((r) => r.migration_name)).toEqual([loadMigrationFiles()[0]!.name]);
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
