/**
 * Fast in-memory PGlite stores for tests: initdb in WebAssembly takes seconds, so each test
 * process builds ONE migrated database, dumps it, and starts every further store from that dump.
 */
import { PGlite } from '@electric-sql/pglite';
import { createPGliteExecutor, createPGliteStorage } from '../../src/storage/pglite.js';
import { migrate } from '../../src/storage/sql/migrate.js';
import type { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';

let template: Promise<Blob> | null = null;

/** A dump of an in-memory database migrated into schema 'public' (built once per test process). */
export function migratedTemplate(): Promise<Blob> {
  template ??= (async () => {
    const db = await PGlite.create();
    try {
      await migrate(createPGliteExecutor({ pglite: db }));
      return await db.dumpDataDir('none');
    } finally {
      await db.close();
    }
  })();
  return template;
}

/** A fresh, empty, migrated in-memory PGlite store (schema 'public'). */
export async function createTemplatedPGliteStorage(): Promise<SqlFlowStorage> {
  return createPGliteStorage({ loadDataDir: await migratedTemplate() });
}
