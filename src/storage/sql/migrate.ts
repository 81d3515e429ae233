/**
 * Applies the package's Prisma-format migrations itself (as graphile-worker and pg-boss do), so
 * `createPostgresStorage()` works on an empty database with no CLI step, while `prisma migrate
 * deploy` / Prisma Studio keep working: each applied migration is recorded in `_prisma_migrations`
 * exactly as Prisma records it (same DDL, checksum = sha256 hex of the file, applied_steps_count 1).
 *
 * Concurrency: every migration runs in its own transaction that first takes
 * `pg_advisory_xact_lock(72707369)` — the key `prisma migrate deploy` locks — so many processes
 * starting at once, and a concurrent `prisma migrate deploy`, apply each file exactly once; the
 * others wait, then see it recorded. A database with migrations this code does not know was
 * migrated by a newer version: refuse it (SCHEMA_TOO_NEW) instead of running old SQL against it.
 */
import { randomUUID } from 'node:crypto';
import { StorageError } from '../../errors.js';
import type { SqlExecutor, SqlRunner } from './executor.js';
import { loadMigrationFiles, type MigrationFile } from './migration-files.js';
import { DEFAULT_SCHEMA, quoteIdent, sqlNames, type SqlNames } from './names.js';

/** The advisory-lock key of Prisma's schema engine: sharing it serializes us with `prisma migrate`. */
export const MIGRATION_LOCK_KEY = 72707369;

export interface MigrateOptions {
  /** Postgres schema to migrate (created if absent). Default 'public'. */
  schema?: string;
  /** Folder of `<name>/migration.sql` (default: the package's prisma/migrations). */
  migrationsDir?: string;
}

export interface MigrateResult {
  /** Names applied by this call (empty when the database was up to date). */
  applied: string[];
}

interface AppliedRow {
  migration_name: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  logs: string | null;
}

/** Prisma's own DDL for its history table (schema-engine, postgres flavour). */
function migrationsTableDdl(names: SqlNames): string {
  return `CREATE TABLE IF NOT EXISTS ${names.migrations} (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
)`;
}

export async function migrate(executor: SqlExecutor, options: MigrateOptions = {}): Promise<MigrateResult> {
  const names = sqlNames(options.schema ?? DEFAULT_SCHEMA);
  const files = loadMigrationFiles(options.migrationsDir);

  // Fast path, no lock: every process but the first finds everything applied.
  const before = await readHistory(executor, names);
  if (before && pending(checkHistory(before, files, names), files).length === 0) return { applied: [] };

  const applied: string[] = [];
  for (const file of files) {
    const didApply = await executor.transaction(async (tx) => {
      // In FROM: a void column in the result would upset some drivers (Prisma cannot deserialize it).
      await tx.query(`SELECT true AS locked FROM pg_advisory_xact_lock(${MIGRATION_LOCK_KEY}::bigint)`);
      await ensureHistoryTable(tx, names);
      const history = checkHistory((await readHistory(tx, names)) ?? [], files, names);
      if (history.has(file.name)) return false;
      // Migration SQL names its objects unqualified (as Prisma generates it): aim it at our schema.
      await tx.query(`SELECT set_config('search_path', $1, true)`, [quoteIdent(names.schema)]);
      try {
        await tx.exec(file.sql);
      } catch (err) {
        throw new StorageError('MIGRATION_FAILED', `Migration ${file.name} failed in schema "${names.schema}": ${(err as Error).message}`, { cause: err });
      }
      await tx.query(
        `INSERT INTO ${names.migrations} (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
         VALUES ($1, $2, clock_timestamp(), $3, NULL, NULL, now(), 1)`,
        // now() is the transaction's start: when this migration began.
        [randomUUID(), file.checksum, file.name],
      );
      return true;
    });
    if (didApply) applied.push(file.name);
  }
  return { applied };
}

/** Throws unless every migration of this package is recorded as applied (used when autoMigrate is off). */
export async function assertMigrated(runner: SqlRunner, options: MigrateOptions = {}): Promise<void> {
  const names = sqlNames(options.schema ?? DEFAULT_SCHEMA);
  const files = loadMigrationFiles(options.migrationsDir);
  const history = await readHistory(runner, names);
  const missing = pending(checkHistory(history ?? [], files, names), files);
  if (missing.length > 0) {
    throw new StorageError(
      'SCHEMA_NOT_MIGRATED',
      `Schema "${names.schema}" lacks migrations ${missing.join(', ')}: run \`prisma migrate deploy\` or enable autoMigrate`,
    );
  }
}

async function ensureHistoryTable(tx: SqlRunner, names: SqlNames): Promise<void> {
  // CREATE SCHEMA needs the CREATE privilege on the database even with IF NOT EXISTS: only ask when absent.
  const exists = await tx.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [names.schema]);
  if (exists.length === 0) await tx.query(`CREATE SCHEMA ${names.schemaIdent}`);
  await tx.query(migrationsTableDdl(names));
}

/** The history rows, or null when the history table does not exist yet. */
async function readHistory(runner: SqlRunner, names: SqlNames): Promise<AppliedRow[] | null> {
  const [table] = await runner.query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [names.migrations]);
  if (!table?.t) return null;
  return runner.query<AppliedRow & Record<string, unknown>>(
    `SELECT migration_name, finished_at, rolled_back_at, logs FROM ${names.migrations} ORDER BY started_at`,
  );
}

/** Names of applied migrations; throws on a failed migration or one newer than this code. */
function checkHistory(rows: AppliedRow[], files: MigrationFile[], names: SqlNames): Set<string> {
  const known = new Set(files.map((f) => f.name));
  const applied = new Set<string>();
  const unknown: string[] = [];
  for (const row of rows) {
    if (row.rolled_back_at) continue;
    if (!row.finished_at) {
      throw new StorageError(
        'MIGRATION_FAILED',
        `Migration ${row.migration_name} in schema "${names.schema}" was started but never finished${row.logs ? ` (${row.logs.slice(0, 300)})` : ''}; ` +
          'repair it and mark it with `prisma migrate resolve` before starting the engine',
      );
    }
    if (known.has(row.migration_name)) applied.add(row.migration_name);
    else unknown.push(row.migration_name);
  }
  if (unknown.length > 0) {
    const newest = files[files.length - 1]!.name;
    throw new StorageError(
      'SCHEMA_TOO_NEW',
      `Schema "${names.schema}" has migrations this version of @hazeljs/flow does not know (${unknown.join(', ')}; ` +
        `the newest it knows is ${newest}). It was migrated by a newer version: upgrade @hazeljs/flow. ` +
        `If the schema also holds another Prisma project's migrations, give the flow tables a schema of their own.`,
    );
  }
  return applied;
}

function pending(applied: Set<string>, files: MigrationFile[]): string[] {
  return files.filter((f) => !applied.has(f.name)).map((f) => f.name);
}
