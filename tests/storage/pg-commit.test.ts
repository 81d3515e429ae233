/**
 * The hot path on pg: lockRun is one round trip, a commit is one statement (so one round trip and
 * one transaction) that writes run + events + idempotency record together or not at all.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StaleRunError } from '../../src/errors.js';
import { createPostgresExecutor } from '../../src/storage/postgres.js';
import type { SqlExecutor, SqlSession } from '../../src/storage/sql/executor.js';
import { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import type { FlowRunRecord, JsonText, Transition } from '../../src/storage/types.js';
import { createTestSchema, flowLocksHeld, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';

const j = (v: unknown) => JSON.stringify(v) as JsonText;

/** Counts the statements sent on lease connections. */
function countingExecutor(inner: SqlExecutor): SqlExecutor & { leaseStatements: string[] } {
  const leaseStatements: string[] = [];
  return Object.assign(Object.create(inner) as SqlExecutor, {
    leaseStatements,
    hold: async (): Promise<SqlSession> => {
      const session = await inner.hold!();
      return {
        query: (sql, params) => {
          leaseStatements.push(sql);
          return session.query(sql, params);
        },
        release: (broken) => session.release(broken),
      };
    },
  });
}

function transition(run: FlowRunRecord, extra: Partial<Transition> = {}): Transition {
  return {
    expectedVersion: run.version,
    update: {
      status: 'RUNNING',
      currentNodeId: 'b',
      state: j({ step: 'b' }),
      outputs: j({ a: { ok: true } }),
      attempt: 1,
      attempts: j({ a: 1, b: 1 }),
      attemptInFlight: true,
      recoveries: 0,
      nextAttemptAt: null,
      waitReason: null,
      error: null,
    },
    events: [
      { type: 'NODE_FINISHED', nodeId: 'a', attempt: 1, durationMs: 5, payload: j({ out: 1 }) },
      { type: 'NODE_STARTED', nodeId: 'b', attempt: 1 },
    ],
    ...extra,
  };
}

describe.skipIf(!HAVE_PG)('pg commit path', () => {
  let t: TestSchema;
  let executor: ReturnType<typeof countingExecutor>;
  let s: SqlFlowStorage;
  const newRun = async () =>
    (
      await s.createRun({
        runId: randomUUID(),
        flowId: 'commit',
        flowVersion: '1',
        tenantId: null,
        idempotencyKey: null,
        currentNodeId: 'a',
        input: j({}),
        state: j({}),
        events: [{ type: 'RUN_STARTED', nodeId: 'a' }],
      })
    ).run;

  beforeAll(async () => {
    t = await createTestSchema('flow_commit');
    executor = countingExecutor(createPostgresExecutor({ connectionString: TEST_DATABASE_URL, poolSize: 3 }));
    s = new SqlFlowStorage(executor, { schema: t.schema });
    await s.init();
  });
  afterAll(async () => {
    await s?.close();
    await t?.drop();
  });

  it('lockRun, commit, and commit+release are one statement each on the lease connection', async () => {
    const run = await newRun();
    executor.leaseStatements.length = 0;
    const lease = (await s.lockRun(run.runId))!;
    expect(executor.leaseStatements).toHaveLength(1);
    const key = 'k-' + randomUUID();
    const next = await lease.commit(transition(run, { idempotency: { key, runId: run.runId, nodeId: 'a', result: j({ output: { ok: true } }) } }));
    expect(executor.leaseStatements).toHaveLength(2);
    await lease.commit({ ...transition(next), events: [{ type: 'NODE_FINISHED', nodeId: 'b' }], release: true });
    expect(executor.leaseStatements).toHaveLength(3);
    expect(await flowLocksHeld(t)).toBe(0);
    expect(await s.getIdempotencyRecord(key)).toMatchObject({ nodeId: 'a', result: { output: { ok: true } } });
  });

  it('writes run, events and idempotency record atomically: a failing part leaves nothing', async () => {
    const run = await newRun();
    // Occupy the seq the commit's second event will take: its INSERT fails inside the statement.
    await t.query(`INSERT INTO "${t.schema}".flow_events (run_id, seq, type) VALUES ($1, 3, 'SQUATTER')`, [run.runId]);
    const lease = (await s.lockRun(run.runId))!;
    const key = 'k-' + randomUUID();
    await expect(lease.commit(transition(run, { idempotency: { key, runId: run.runId, nodeId: 'a', result: j({}) } }))).rejects.toMatchObject({
      code: 'DUPLICATE_KEY',
    });
    expect(await s.getRun(run.runId)).toEqual({ ...run, dueInMs: 0 });
    expect((await s.getEvents(run.runId)).map((e) => e.type)).toEqual(['RUN_STARTED', 'SQUATTER']);
    expect(await s.getIdempotencyRecord(key)).toBeNull();
    await lease.release();
  });

  it('a stale version writes nothing and the lease can still be released', async () => {
    const run = await newRun();
    const lease = (await s.lockRun(run.runId))!;
    const moved = await lease.commit(transition(run));
    const key = 'k-' + randomUUID();
    await expect(lease.commit(transition(run, { idempotency: { key, runId: run.runId, nodeId: 'a', result: j({}) }, release: true }))).rejects.toBeInstanceOf(
      StaleRunError,
    );
    expect(await s.getRun(run.runId)).toEqual({ ...moved, dueInMs: 0 });
    expect(await s.getEvents(run.runId)).toHaveLength(3);
    expect(await s.getIdempotencyRecord(key)).toBeNull();
    // release: true was asked, so the lock is gone even though the commit was refused.
    expect(await flowLocksHeld(t)).toBe(0);
  });

  it('computes relative due times with the database clock and reports dueInMs on every read', async () => {
    const run = await newRun();
    const lease = (await s.lockRun(run.runId))!;
    const [{ db_now }] = (await t.query<{ db_now: Date }>('SELECT clock_timestamp() AS db_now')) as [{ db_now: Date }];
    const later = await lease.commit({ ...transition(run), update: { ...transition(run).update, nextAttemptAt: { delayMs: 30_000 } }, release: true });
    expect(later.nextAttemptAt!.getTime() - db_now.getTime()).toBeGreaterThanOrEqual(29_000);
    expect(later.nextAttemptAt!.getTime() - db_now.getTime()).toBeLessThanOrEqual(31_000);
    const read = (await s.getRun(run.runId))!;
    expect(read.dueInMs).toBeGreaterThan(25_000);
    expect(read.dueInMs).toBeLessThanOrEqual(30_000);
    const soon = await s.msUntilNextDue(['commit@1']);
    expect(soon).toBeGreaterThan(25_000);
  });

  it('keeps an idempotency key unique under concurrent createRun from many connections', async () => {
    const key = 'start-' + randomUUID();
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        s.createRun({
          runId: randomUUID(),
          flowId: 'commit',
          flowVersion: '1',
          tenantId: null,
          idempotencyKey: key,
          currentNodeId: 'a',
          input: j({}),
          state: j({}),
          events: [{ type: 'RUN_STARTED' }],
        }),
      ),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.run.runId)).size).toBe(1);
  });

  it('works on tables made by other migrations (no read-after-lock helper function)', async () => {
    const other = await createTestSchema('flow_nofn');
    const migrator = new SqlFlowStorage(createPostgresExecutor({ connectionString: TEST_DATABASE_URL, poolSize: 1, listen: false }), { schema: other.schema });
    await migrator.init();
    await migrator.close();
    await other.query(`DROP FUNCTION "${other.schema}".flow_run_fresh(text, boolean)`);
    const plain = new SqlFlowStorage(createPostgresExecutor({ connectionString: TEST_DATABASE_URL, poolSize: 2, listen: false }), { schema: other.schema, autoMigrate: false });
    try {
      const { run } = await plain.createRun({
        runId: randomUUID(), flowId: 'f', flowVersion: '1', tenantId: null, idempotencyKey: null, currentNodeId: 'a',
        input: j({}), state: j({}), events: [],
      });
      const lease = (await plain.lockRun(run.runId))!;
      expect(lease.run).toEqual(run);
      expect(await plain.lockRun(run.runId)).toBeNull();
      expect((await lease.commit(transition(run, { release: true }))).version).toBe(run.version + 1);
      expect(await plain.lockRun(randomUUID())).toMatchObject({ run: null });
    } finally {
      await plain.close();
      await other.drop();
    }
  });
});
