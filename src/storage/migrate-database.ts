/**
 * Schema setup for deploy scripts: apply this package's pending migrations to a Postgres database
 * and return. The engine does the same on first use (unless `autoMigrate: false`); this is for
 * pipelines that migrate before starting the app. Safe to run from many processes at once.
 */
import { environment } from '../config.js';
import { createPostgresExecutor } from './postgres.js';
import { migrate, type MigrateResult } from './sql/migrate.js';

export interface MigrateDatabaseOptions {
  /** postgres://user:pass@host:5432/db (default: DATABASE_URL). */
  connectionString?: string;
  /** Postgres schema of the flow tables (default 'public'). */
  schema?: string;
}

export async function migrateDatabase(options: MigrateDatabaseOptions = {}): Promise<MigrateResult & { target: string; schema: string }> {
  const connectionString = options.connectionString ?? environment.databaseUrl;
  const schema = options.schema ?? 'public';
  const executor = createPostgresExecutor({ connectionString, poolSize: 1, listen: false });
  try {
    const result = await migrate(executor, { schema });
    return { ...result, target: executor.target, schema };
  } finally {
    await executor.close();
  }
}
