/**
 * Upgrade tests: a database migrated the way a previous version of the package left it (the
 * migrations before one of ours), then upgraded and used — on Postgres (its own schema, dropped
 * afterwards) and on PGlite alike.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, it } from 'vitest';
import { createPGliteExecutor } from '../../src/storage/pglite.js';
import { createPostgresExecutor } from '../../src/storage/postgres.js';
import type { SqlExecutor } from '../../src/storage/sql/executor.js';
import { defaultMigrationsDir, loadMigrationFiles } from '../../src/storage/sql/migration-files.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from './pg.js';

/**
 * Calls `use` with a folder of the migrations that come before `migration` (by name: what the
 * previous version applied), removed afterwards.
 */
export async function withMigrationsBefore<T>(migration: string, use: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'flow-migrations-before-'));
  try {
    for (const file of loadMigrationFiles().filter((f) => f.name < migration)) {
      cpSync(join(defaultMigrationsDir(), file.name), join(dir, file.name), { recursive: true });
    }
    return await use(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The migrations from `migration` on, by name: what upgrading a database it lacks applies. */
export function migrationsFrom(migration: string): string[] {
  return loadMigrationFiles()
    .filter((f) => f.name >= migration)
    .map((f) => f.name);
}

/** Two tests of one upgrade `check`: `title` on Postgres, and "pglite: the same". */
export function itUpgradesOnBoth(title: string, schemaName: string, check: (executor: SqlExecutor, schema: string) => Promise<void>): void {
  const schemas: TestSchema[] = [];
  afterAll(async () => {
    await Promise.all(schemas.map((t) => t.drop()));
  });
  it.skipIf(!HAVE_PG)(`postgres: ${title}`, async () => {
    const t = await createTestSchema(schemaName);
    schemas.push(t);
    const executor = createPostgresExecutor({ connectionString: TEST_DATABASE_URL, poolSize: 2, listen: false });
    try {
      await check(executor, t.schema);
    } finally {
      await executor.close();
    }
  });
  it('pglite: the same', async () => {
    const executor = createPGliteExecutor();
    try {
      await check(executor, schemaName);
    } finally {
      await executor.close();
    }
  }, 60_000);
}
