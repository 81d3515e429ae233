import { describe, it } from 'vitest';
import { createFlowPrismaClient, createPrismaStorage, type PrismaClientLike } from '../../src/prisma.js';
import { createPostgresStorage } from '../../src/storage/postgres.js';
import type { FlowStorage } from '../../src/storage/types.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL } from '../helpers/pg.js';
import { describeStorageContract } from './storage-contract.js';

if (HAVE_PG) {
  describeStorageContract('prisma (generated client on @prisma/adapter-pg)', async () => {
    const t = await createTestSchema('flow_contract_prisma');
    // The schema is built by our own migrate (through pg); the Prisma stores only use it.
    const migrator = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 1, listen: false });
    await migrator.init();
    await migrator.close();
    const clients: PrismaClientLike[] = [];
    const stores: FlowStorage[] = [];
    const make = async () => {
      const client = await createFlowPrismaClient({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 4 });
      clients.push(client);
      const storage = createPrismaStorage(client, { schema: t.schema, listenConnectionString: TEST_DATABASE_URL });
      stores.push(storage);
      return storage;
    };
    const storage = await make();
    return {
      storage,
      second: make,
      cleanup: async () => {
        await Promise.all(stores.map((s) => s.close()));
        await Promise.all(clients.map((c) => c.$disconnect()));
        await t.drop();
      },
    };
  });
} else {
  describe.skip('storage contract: prisma — Postgres unreachable', () => it('skipped', () => {}));
}
