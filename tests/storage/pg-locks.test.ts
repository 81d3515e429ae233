/**
 * Run locks across processes: two stores with separate pools stand for two worker processes.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StaleRunError } from '../../src/errors.js';
import { createPostgresStorage } from '../../src/storage/postgres.js';
import type { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import type { FlowRunRecord, JsonText, Transition } from '../../src/storage/types.js';
import { createBareRun } from '../helpers/bare-run.js';
import { createTestSchema, flowLocksHeld, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';

const j = (v: unknown) => JSON.stringify(v) as JsonText;

function step(run: FlowRunRecord, extra: Partial<Transition> = {}): Transition {
  return {
    expectedVersion: run.version,
    update: {
      status: run.status,
      currentNodeId: run.currentNodeId,
      attempt: run.attempt + 1,
      attemptInFlight: false,
      recoveries: 0,
      nextAttemptAt: null,
      waitReason: null,
      error: null,
    },
    events: [{ type: 'NODE_FINISHED', nodeId: run.currentNodeId }],
    ...extra,
  };
}

describe.skipIf(!HAVE_PG)('advisory run locks across processes (pg)', () => {
  let t: TestSchema;
  let a: SqlFlowStorage;
  let b: SqlFlowStorage;
  const newRun = () => createBareRun(a, { flowId: 'locks' });

  beforeAll(async () => {
    t = await createTestSchema('flow_locks');
    a = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 3 });
    b = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 3 });
    await Promise.all([a.init(), b.init()]);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await t?.drop();
  });

  it('busy -> null; released -> available; nothing left in pg_locks', async () => {
    const run = await newRun();
    const lease = await a.lockRun(run.runId);
    expect(lease).not.toBeNull();
    expect(await flowLocksHeld(t)).toBe(1);
    expect(await b.lockRun(run.runId)).toBeNull();
    expect(await b.findDueRuns({ limit: 100 })).not.toContain(run.runId); // skipped: its lock is held
    await lease!.release();
    expect(await flowLocksHeld(t)).toBe(0);
    const other = await b.lockRun(run.runId);
    expect(other).not.toBeNull();
    expect(await a.lockRun(run.runId)).toBeNull();
    await other!.release();
    expect(await flowLocksHeld(t)).toBe(0);
  });

  it('a commit with release lets go of the lock after the commit is visible', async () => {
    const run = await newRun();
    let current = run;
    // Ping-pong between the two "processes": each new holder must read the previous holder's
    // commit (a stale read would surface as a StaleRunError on its own commit), outputs included
    // (those no fence would catch: they are read by a function of their own, after the lock).
    for (let i = 0; i < 40; i++) {
      const store = i % 2 === 0 ? a : b;
      let lease = await store.lockRun(run.runId);
      while (!lease) lease = await store.lockRun(run.runId);
      expect(lease.run!.version).toBe(current.version);
      expect(Object.keys(lease.run!.outputsJson)).toHaveLength(i);
      current = await lease.commit(step(lease.run!, { release: true, values: [{ nodeId: `n${i}`, kind: 'output', value: j(i) }] }));
    }
    expect(current.version).toBe(run.version + 40);
    expect(await flowLocksHeld(t)).toBe(0);
  });

  it('hands the lock over under contention without stale reads', async () => {
    const run = await newRun();
    const stale: unknown[] = [];
    const worker = async (store: SqlFlowStorage, steps: number) => {
      for (let done = 0; done < steps;) {
        const lease = await store.lockRun(run.runId);
        if (!lease) continue;
        try {
          await lease.commit(step(lease.run!, { release: true }));
          done++;
        } catch (err) {
          stale.push(err);
          await lease.release();
        }
      }
    };
    await Promise.all([worker(a, 25), worker(b, 25), worker(a, 25), worker(b, 25)]);
    expect(stale).toEqual([]);
    expect((await a.getRun(run.runId))!.version).toBe(run.version + 100);
    expect((await a.getEvents(run.runId)).map((e) => e.seq)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
  });

  it('drops the lock when the holding connection dies (the crash story)', async () => {
    const run = await newRun();
    const lease = await a.lockRun(run.runId);
    expect(lease).not.toBeNull();
    expect(await b.lockRun(run.runId)).toBeNull();
    const [holder] = await t.query<{ pid: number }>(
      `SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objsubid = 1
         AND (l.classid::int8 << 32) | l.objid::int8 = hashtextextended('hazel-flow:' || $1 || ':' || $2, 0)`,
      [t.schema, run.runId],
    );
    await t.query('SELECT pg_terminate_backend($1)', [holder!.pid]);
    const taken = await b.lockRun(run.runId);
    expect(taken).not.toBeNull();
    // The dead holder cannot commit; releasing it is harmless and does not touch b's lock.
    await expect(lease!.commit(step(run))).rejects.toThrow();
    await lease!.release();
    expect(await a.lockRun(run.runId)).toBeNull();
    await taken!.release();
  });

  it('fences a holder whose row moved: StaleRunError and nothing written', async () => {
    const run = await newRun();
    const lease = (await a.lockRun(run.runId))!;
    await b.cancelRun(run.runId, [{ type: 'RUN_CANCELLED' }], { code: 'CANCELLED', message: 'by test' });
    const key = 'idem-' + randomUUID();
    const attempt = lease.commit(
      step(run, {
        idempotency: { key, runId: run.runId, nodeId: 'n', result: j({ output: 1 }) },
        events: [{ type: 'NODE_FINISHED' }, { type: 'RUN_COMPLETED' }],
      }),
    );
    await expect(attempt).rejects.toBeInstanceOf(StaleRunError);
    expect(await a.getIdempotencyRecord(key)).toBeNull();
    expect((await a.getEvents(run.runId)).map((e) => e.type)).toEqual(['RUN_STARTED', 'RUN_CANCELLED']);
    expect((await a.getRun(run.runId))!.status).toBe('CANCELLED');
    await lease.release();
    expect(await flowLocksHeld(t)).toBe(0);
  });

  it('releases every held lock at close', async () => {
    const c = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 3 });
    const runs = [await newRun(), await newRun()];
    for (const r of runs) expect(await c.lockRun(r.runId)).not.toBeNull();
    expect(await flowLocksHeld(t)).toBe(2);
    await c.close();
    expect(await flowLocksHeld(t)).toBe(0);
    await expect(c.getRun(runs[0]!.runId)).rejects.toMatchObject({ code: 'STORAGE_CLOSED' });
  });
});
