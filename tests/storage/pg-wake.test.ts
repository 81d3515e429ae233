/**
 * Wake-ups across processes: a NOTIFY sent by another store's commit reaches this store's
 * listeners, and the LISTEN connection comes back after the server drops it.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStorage } from '../../src/storage/postgres.js';
import type { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import type { JsonText, NewRun } from '../../src/storage/types.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';

const newRun = (): NewRun => ({
  runId: randomUUID(),
  flowId: 'wake',
  flowVersion: '1',
  tenantId: null,
  idempotencyKey: null,
  currentNodeId: 'a',
  input: '{}' as JsonText,
  state: '{}' as JsonText,
  branches: '[]' as JsonText,
  events: [{ type: 'RUN_STARTED' }],
});

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!HAVE_PG)('wake-ups across processes (LISTEN/NOTIFY)', () => {
  let t: TestSchema;
  let listener: SqlFlowStorage;
  let writer: SqlFlowStorage;

  beforeAll(async () => {
    t = await createTestSchema('flow_wake');
    listener = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 2 });
    writer = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 2 });
    await Promise.all([listener.init(), writer.init()]);
  });
  afterAll(async () => {
    await listener?.close();
    await writer?.close();
    await t?.drop();
  });

  const listening = async () =>
    (await t.query(`SELECT 1 FROM pg_stat_activity WHERE query = $1 AND datname = current_database()`, [`LISTEN "hazel_flow_wake:${t.schema}"`])).length > 0;

  it('hears runs created and woken by another process, once each', async () => {
    const heard: string[] = [];
    const off = listener.onWake((id) => heard.push(id));
    try {
      await until(listening);
      const { run } = await writer.createRun(newRun());
      await until(() => heard.includes(run.runId));
      const lease = (await writer.lockRun(run.runId))!;
      await lease.commit({
        expectedVersion: run.version,
        update: {
          status: 'RUNNING',
          currentNodeId: 'a',
          attempt: 0,
          attemptInFlight: false,
          recoveries: 0,
          nextAttemptAt: null,
          waitReason: null,
          error: null,
        },
        events: [],
        wake: true,
        release: true,
      });
      await until(() => heard.filter((id) => id === run.runId).length === 2);
      // This process's own commit: heard at once, and its NOTIFY echo is not delivered a second time.
      const own: string[] = [];
      const offOwn = listener.onWake((id) => own.push(id));
      const mine = (await listener.createRun(newRun())).run;
      expect(own).toEqual([mine.runId]);
      await new Promise((r) => setTimeout(r, 300));
      expect(own).toEqual([mine.runId]);
      offOwn();
    } finally {
      off();
    }
  });

  it('re-LISTENs after the server drops the connection', { timeout: 60_000 }, async () => {
    const heard: string[] = [];
    const off = listener.onWake((id) => heard.push(id));
    try {
      await until(listening);
      await t.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1 AND datname = current_database()`, [
        `LISTEN "hazel_flow_wake:${t.schema}"`,
      ]);
      // Reconnection backs off; on a loaded machine it can take a while.
      await until(listening, 30_000);
      const { run } = await writer.createRun(newRun());
      await until(() => heard.includes(run.runId));
    } finally {
      off();
    }
    // The last unsubscribe closes the LISTEN connection.
    await until(async () => !(await listening()));
  });
});
