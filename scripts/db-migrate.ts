/**
 * `npm run db:migrate`: applies this package's migrations to DATABASE_URL with the engine's own
 * migrator (same result as `prisma migrate deploy`, recorded in `_prisma_migrations`), without
 * the Prisma CLI. Optional: FLOW_DB_SCHEMA=<schema> (default public).
 */
import { migrateDatabase } from '../src/storage/migrate-database.js';

if (!process.env.DATABASE_URL) {
  console.error('db:migrate: set DATABASE_URL (postgres://user:pass@host:5432/db)');
  process.exit(1);
}
try {
  const { applied, target, schema } = await migrateDatabase({ schema: process.env.FLOW_DB_SCHEMA || 'public' });
  console.log(
    applied.length > 0
      ? `Applied ${applied.length} migration(s) to schema "${schema}" of ${target}: ${applied.join(', ')}`
      : `Schema "${schema}" of ${target} is up to date.`,
  );
} catch (err) {
  console.error(`db:migrate failed: ${(err as Error).message}`);
  process.exitCode = 1;
}
