/**
 * Finds and reads the package's Prisma-format migrations (`prisma/migrations/<name>/migration.sql`)
 * at run time. The same lookup works from `src/storage/sql/*.ts` (tests, tsx) and from
 * `dist/storage/sql/*.js` (the published build): walk up from this module to the package root.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StorageError } from '../../errors.js';

export interface MigrationFile {
  /** The folder name, e.g. `20251125000000_init`: what `_prisma_migrations.migration_name` holds. */
  name: string;
  sql: string;
  /** sha256 hex of the file's bytes: Prisma's `_prisma_migrations.checksum`. */
  checksum: string;
}

const MIGRATION_DIR_NAME = /^\d{14}_[A-Za-z0-9_]+$/;

/** `<package root>/prisma/migrations`, found by walking up from this module. */
export function defaultMigrationsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'prisma', 'migrations');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new StorageError(
        'MIGRATIONS_NOT_FOUND',
        `Cannot find prisma/migrations above ${fileURLToPath(import.meta.url)}; the package was installed without its prisma/ folder`,
      );
    }
    dir = parent;
  }
}

/** Every migration in the folder, in the order Prisma applies them (by name). */
export function loadMigrationFiles(dir: string = defaultMigrationsDir()): MigrationFile[] {
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && MIGRATION_DIR_NAME.test(e.name))
    .map((e) => e.name)
    .sort();
  if (names.length === 0) throw new StorageError('MIGRATIONS_NOT_FOUND', `No migrations found in ${dir}`);
  return names.map((name) => {
    const bytes = readFileSync(join(dir, name, 'migration.sql'));
    return { name, sql: bytes.toString('utf8'), checksum: createHash('sha256').update(bytes).digest('hex') };
  });
}
