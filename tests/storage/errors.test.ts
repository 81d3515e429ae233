/**
 * Configuration and schema failures surface as typed StorageErrors at the first call, with
 * messages that say where (host, database) and what to do — and never contain a password.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors.js';
import { createFlowPrismaClient, createPrismaStorage, type PrismaClientLike } from '../../src/prisma.js';
import { createPostgresStorage } from '../../src/storage/postgres.js';
import { describeConnectionString, findErrorCode, toStorageError } from '../../src/storage/sql/errors.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';

const SECRET = 'hunter2-s3cret';

async function failure(p: Promise<unknown>): Promise<StorageError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StorageError);
  return err as StorageError;
}

describe('connection errors', () => {
  it('an unreachable server: names host and database, not the password; nothing fails at construction', async () => {
    const storage = createPostgresStorage({ connectionString: `postgres://flow:${SECRET}@127.0.0.1:1/orders_db`, listen: false });
    const err = await failure(storage.getRun('x'));
    expect(err.code).toBe('CONNECTION_FAILED');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('127.0.0.1:1');
    expect(err.message).toContain('orders_db');
    expect(err.message).not.toContain(SECRET);
    expect(String(err.stack)).not.toContain(SECRET);
    await storage.close();
  });

  it('a malformed connection string: a clear error at the first call, password redacted', async () => {
    const storage = createPostgresStorage({ connectionString: `postgres://flow:${SECRET}@db.example:notaport/orders_db` });
    const err = await failure(storage.init());
    expect(err.code).toBe('INVALID_CONNECTION_STRING');
    expect(err.message).toContain('db.example');
    expect(err.message).toContain('orders_db');
    expect(err.message).not.toContain(SECRET);
    await storage.close();
  });

  it('describes connection strings without credentials', () => {
    expect(describeConnectionString(`postgresql://u:${SECRET}@h.example:6543/db?sslmode=require`)).toBe('postgres://u@h.example:6543/db');
    expect(describeConnectionString('mysql://x@y/z')).toBeNull();
  });

  it('finds the SQLSTATE through wrappers (Prisma, pools)', () => {
    const wrapped = { code: 'P2010', message: 'Raw query failed', meta: { driverAdapterError: { cause: { originalCode: '40P01' } } } };
    expect(findErrorCode(wrapped)).toBe('40P01');
    const mapped = toStorageError(wrapped, 'postgres://h:5432/db', 'commit');
    expect(mapped).toMatchObject({ code: 'TRANSIENT_DB_ERROR', retryable: true });
    const missing = { code: 'P2010', meta: { driverAdapterError: { cause: { originalCode: '42P01', kind: 'TableDoesNotExist' } } } };
    expect(toStorageError(missing, 'postgres://h:5432/db', 'getRun')).toMatchObject({ code: 'SCHEMA_MISSING', retryable: false });
  });
});

describe.skipIf(!HAVE_PG)('schema errors (postgres)', () => {
  const schemas: TestSchema[] = [];
  const clients: PrismaClientLike[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.$disconnect()));
    await Promise.all(schemas.map((t) => t.drop()));
  });

  it('a missing database is named', async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = '/no_such_flow_db';
    url.password = SECRET;
    const storage = createPostgresStorage({ connectionString: url.toString(), listen: false });
    const err = await failure(storage.init());
    expect(err.code).toBe('DATABASE_NOT_FOUND');
    expect(err.message).toContain('no_such_flow_db');
    expect(err.message).not.toContain(SECRET);
    await storage.close();
  });

  it('without autoMigrate, a schema without the flow tables is a clear error', async () => {
    const t = await createTestSchema('flow_empty');
    schemas.push(t);
    const storage = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, autoMigrate: false, listen: false });
    const err = await failure(storage.getRun('x'));
    expect(err.code).toBe('SCHEMA_MISSING');
    expect(err.message).toContain(t.schema);
    expect(err.message).toMatch(/prisma migrate deploy|autoMigrate/);
    await storage.close();
  });

  it('a Prisma client whose database lacks the tables gets a clear StorageError', async () => {
    const t = await createTestSchema('flow_prisma_empty');
    schemas.push(t);
    await t.query(`CREATE SCHEMA "${t.schema}"`);
    const client = await createFlowPrismaClient({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 2 });
    clients.push(client);
    const storage = createPrismaStorage(client, { schema: t.schema });
    const err = await failure(
      storage.createRun({
        runId: 'r1',
        flowId: 'f',
        flowVersion: '1',
        tenantId: null,
        idempotencyKey: null,
        currentNodeId: 'a',
        input: '{}' as never,
        state: '{}' as never,
        branches: '[]' as never,
        events: [],
      }),
    );
    expect(err.code).toBe('SCHEMA_MISSING');
    expect(err.message).toContain('flow_runs');
    expect(err.message).toContain(t.schema);
    // With autoMigrate the same client builds the tables itself.
    const migrating = createPrismaStorage(client, { schema: t.schema, autoMigrate: true });
    await migrating.init();
    expect(await migrating.getRun('r1')).toBeNull();
  });
});
