/**
 * The store matrix for behaviour tests: every engine-level test runs against each store, so the
 * same semantics are proven on memory, embedded PGlite and real Postgres. Postgres is left out
 * (with a message) when unreachable, unless FLOW_REQUIRE_POSTGRES=1 (see ./pg.ts).
 */
import type { FlowStorage } from '../../src/storage/types.js';
import { createMemoryStorage } from '../../src/storage/memory.js';
import { createPostgresStorage } from '../../src/storage/postgres.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL } from './pg.js';
import { createTemplatedPGliteStorage } from './pglite-template.js';

export interface StoreCase {
  name: string;
  /** A fresh, isolated store and a cleanup that removes what it created. */
  make(): Promise<{ storage: FlowStorage; cleanup(): Promise<void> }>;
}

const memory: StoreCase = { name: 'memory', make: async () => ({ storage: createMemoryStorage(), cleanup: async () => {} }) };

const pglite: StoreCase = {
  name: 'pglite',
  make: async () => {
    const storage = await createTemplatedPGliteStorage();
    return { storage, cleanup: () => storage.close() };
  },
};

const postgres: StoreCase = {
  name: 'postgres',
  make: async () => {
    const schema = await createTestSchema('flow_engine');
    const storage = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: schema.schema, poolSize: 4 });
    return {
      storage,
      cleanup: async () => {
        await storage.close();
        await schema.drop();
      },
    };
  },
};

export const storeCases: StoreCase[] = HAVE_PG ? [memory, pglite, postgres] : [memory, pglite];
