import { describe, it } from 'vitest';
import { createPostgresStorage } from '../../src/storage/postgres.js';
import type { FlowStorage } from '../../src/storage/types.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL } from '../helpers/pg.js';
import { describeStorageContract } from './storage-contract.js';

if (HAVE_PG) {
  describeStorageContract('postgres (pg)', async () => {
    const t = await createTestSchema('flow_contract_pg');
    const storage = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 4 });
    const others: FlowStorage[] = [];
    return {
      storage,
      // Another pool on the same schema: stands for another process.
      second: async () => {
        const other = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 2 });
        others.push(other);
        return other;
      },
      cleanup: async () => {
        await Promise.all([storage, ...others].map((s) => s.close()));
        await t.drop();
      },
    };
  });
} else {
  describe.skip('storage contract: postgres (pg) — Postgres unreachable', () => it('skipped', () => {}));
}
