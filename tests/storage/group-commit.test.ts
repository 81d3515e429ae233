/**
 * Group commit on the SQL stores (pg and PGlite): commits of different runs that come together
 * share one statement, each run still fenced on its own — a stale or failing run in a group
 * neither refuses nor fails the others. On pg, the run locks of a store live on its lock session:
 * taken in batches, exclusive within the process too, and all gone at once with that connection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flow } from '../../src/definitions/builder.js';
import { InvalidArgumentError, StaleRunError } from '../../src/errors.js';
import { FlowEngine } from '../../src/flow-engine.js';
import { createPGliteExecutor } from '../../src/storage/pglite.js';
import { createPostgresExecutor, createPostgresStorage } from '../../src/storage/postgres.js';
import type { SqlExecutor, SqlParam, SqlSession } from '../../src/storage/sql/executor.js';
import { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import type { FlowRunRecord, JsonText, Transition } from '../../src/storage/types.js';
import { createBareRun } from '../helpers/bare-run.js';
import { createTestSchema, flowLocksHeld, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';
import { migratedTemplate } from '../helpers/pglite-template.js';

const j = (v: unknown) => JSON.stringify(v) as JsonText;
const isCommit = (sql: string) => sql.startsWith('WITH t AS MATERIALIZED');

/** Records how many transitions each commit statement carried, and the statements of the lock session. */
function recording(inner: SqlExecutor) {
  const groups: number[] = [];
  const lockStatements: string[] = [];
  const wrapped = Object.assign(Object.create(inner) as SqlExecutor, {
    query: (sql: string, params?: readonly SqlParam[]) => {
      if (isCommit(sql)) groups.push((JSON.parse(params![0] as string) as unknown[]).length);
      return inner.query(sql, params);
    },
  });
  if (inner.hold) {
    wrapped.hold = async (): Promise<SqlSession> => {
      const session = await inner.hold!();
      return {
        get lost() {
          return session.lost;
        },
        query: (sql, params) => (lockStatements.push(sql), session.query(sql, params)),
        release: (broken) => session.release(broken),
      };
    };
  }
  return Object.assign(wrapped, { groups, lockStatements });
}

const threeNodes = flow('grouped-3', '1')
  .entry('a')
  .node('a', (ctx) => ({ status: 'ok', patch: { a: ctx.input } }))
  .node('b', () => ({ status: 'ok', output: 'b' }))
  .node('c', (ctx) => ({ status: 'ok', output: Object.keys(ctx.outputs) }))
  .edge('a', 'b')
  .edge('b', 'c')
  .build();

function step(run: FlowRunRecord, extra: Partial<Transition> = {}): Transition {
  return {
    expectedVersion: run.version,
    update: {
      status: 'RUNNING',
      currentNodeId: 'n',
      attempt: run.attempt + 1,
      attemptInFlight: false,
      recoveries: 0,
      nextAttemptAt: null,
      waitReason: null,
      error: null,
    },
    values: [{ nodeId: 'n', kind: 'output', value: j(run.attempt + 1) }],
    events: [{ type: 'NODE_FINISHED', nodeId: 'n' }],
    ...extra,
  };
}

interface Case {
  name: string;
  open(
    options?: ConstructorParameters<typeof SqlFlowStorage>[1],
  ): Promise<{ storage: SqlFlowStorage; executor: ReturnType<typeof recording>; close(): Promise<void> }>;
}

const cases: Case[] = [
  {
    name: 'pglite',
    open: async (options) => {
      const executor = recording(createPGliteExecutor({ loadDataDir: await migratedTemplate() }));
      const storage = new SqlFlowStorage(executor, { durable: false, ...options });
      return { storage, executor, close: () => storage.close() };
    },
  },
];
let pgSchema: TestSchema | undefined;
if (HAVE_PG) {
  cases.push({
    name: 'postgres',
    open: async (options) => {
      pgSchema ??= await createTestSchema('flow_group');
      const executor = recording(createPostgresExecutor({ connectionString: TEST_DATABASE_URL, poolSize: 4 }));
      const storage = new SqlFlowStorage(executor, { schema: pgSchema.schema, ...options });
      return { storage, executor, close: () => storage.close() };
    },
  });
}
afterAll(async () => {
  await pgSchema?.drop();
});

const newRun = (s: SqlFlowStorage) => createBareRun(s, { flowId: 'grouped' });

describe.each(cases)('group commit on $name', (c) => {
  let h: Awaited<ReturnType<Case['open']>>;
  beforeAll(async () => {
    h = await c.open();
    await h.storage.init();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('runs advanced together share commit statements, and each ends as if it had run alone', async () => {
    const engine = new FlowEngine({ storage: h.storage });
    await engine.registerDefinition(threeNodes);
    const runIds = await Promise.all(
      Array.from({ length: 20 }, (_, i) => engine.startRun({ flowId: 'grouped-3', version: '1', input: i }).then((r) => r.runId)),
    );
    h.executor.groups.length = 0;
    const runs = await Promise.all(runIds.map((id) => engine.runToCompletion(id)));
    // Each run: its first begin, then one commit per step (3) — 80 transitions in all.
    expect(h.executor.groups.reduce((a, b) => a + b, 0)).toBe(80);
    expect(h.executor.groups.length).toBeLessThan(80);
    expect(Math.max(...h.executor.groups)).toBeGreaterThan(1);
    runs.forEach((run, i) => {
      expect(run).toMatchObject({ status: 'COMPLETED', stateJson: { a: i }, outputsJson: { b: 'b', c: ['b'] } });
    });
    for (const id of runIds) {
      expect((await engine.getTimeline(id)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    }
  });

  it('a stale holder in a group is refused alone: the other runs of its statement commit', async () => {
    const [a, b, d] = await Promise.all([newRun(h.storage), newRun(h.storage), newRun(h.storage)]);
    const leases = await Promise.all([a, b, d].map((r) => h.storage.lockRun(r.runId)));
    await h.storage.cancelRun(b.runId, [{ type: 'RUN_CANCELLED' }], { code: 'CANCELLED', message: 'by test' });
    h.executor.groups.length = 0;
    const results = await Promise.allSettled([a, b, d].map((r, i) => leases[i]!.commit(step(r, { release: true }))));
    expect(h.executor.groups).toEqual([3]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(StaleRunError);
    for (const r of [a, d]) {
      expect((await h.storage.getRun(r.runId))!).toMatchObject({ version: r.version + 1, outputsJson: { n: 1 } });
      expect((await h.storage.getEvents(r.runId)).map((e) => e.type)).toEqual(['RUN_STARTED', 'NODE_FINISHED']);
    }
    expect((await h.storage.getRun(b.runId))!).toMatchObject({ status: 'CANCELLED', outputsJson: {} });
    expect((await h.storage.getEvents(b.runId)).map((e) => e.type)).toEqual(['RUN_STARTED', 'RUN_CANCELLED']);
  });

  it('a transition that fails in a group fails alone: the others are committed, the failed one wrote nothing', async () => {
    const [a, b, d] = await Promise.all([newRun(h.storage), newRun(h.storage), newRun(h.storage)]);
    const leases = await Promise.all([a, b, d].map((r) => h.storage.lockRun(r.runId)));
    // Occupy the seq b's event will take: its part of the statement fails.
    await h.storage.executor.query(`INSERT INTO ${h.storage.names.events} (run_id, seq, type) VALUES ($1, 2, 'SQUATTER')`, [b.runId]);
    h.executor.groups.length = 0;
    const results = await Promise.allSettled([a, b, d].map((r, i) => leases[i]!.commit(step(r))));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'DUPLICATE_KEY' });
    // The group failed as a whole, then each went again alone.
    expect(h.executor.groups).toEqual([3, 1, 1, 1]);
    for (const r of [a, d]) expect((await h.storage.getRun(r.runId))!.version).toBe(r.version + 1);
    expect(await h.storage.getRun(b.runId)).toMatchObject({ version: b.version, outputsJson: {} });
    // The failed holder still holds its run and can go on.
    await h.storage.executor.query(`DELETE FROM ${h.storage.names.events} WHERE type = 'SQUATTER'`);
    await expect(leases[1]!.commit(step(b, { release: true }))).resolves.toMatchObject({ version: b.version + 1 });
    await Promise.all([leases[0]!.release(), leases[2]!.release()]);
  });

  it('maxWaitMs holds a commit back for company, up to that long', async () => {
    const held = await c.open({ groupCommit: { maxWaitMs: 300 } });
    try {
      const [a, b] = await Promise.all([newRun(held.storage), newRun(held.storage)]);
      const [la, lb] = await Promise.all([held.storage.lockRun(a.runId), held.storage.lockRun(b.runId)]);
      held.executor.groups.length = 0;
      const started = Date.now();
      const first = la!.commit(step(a, { release: true }));
      await new Promise((r) => setTimeout(r, 20));
      const second = lb!.commit(step(b, { release: true }));
      await Promise.all([first, second]);
      expect(held.executor.groups).toEqual([2]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    } finally {
      await held.close();
    }
  });

  it('refuses bad groupCommit options with a typed error', () => {
    for (const groupCommit of [{ maxBatch: -1 }, { maxWaitMs: Number.NaN }, { maxInFlight: 'two' as unknown as number }]) {
      expect(() => new SqlFlowStorage(h.storage.executor, { groupCommit })).toThrow(InvalidArgumentError);
    }
    expect(() => createPostgresStorage({ connectionString: TEST_DATABASE_URL, groupCommit: { maxBatch: -3 } })).toThrow(/groupCommit\.maxBatch/);
  });
});

describe.skipIf(!HAVE_PG)('the lock session (pg)', () => {
  let t: TestSchema;
  let a: ReturnType<typeof recording>;
  let s: SqlFlowStorage;
  let other: SqlFlowStorage;
  beforeAll(async () => {
    t = await createTestSchema('flow_lock_session');
    a = recording(createPostgresExecutor({ connectionString: TEST_DATABASE_URL, poolSize: 3 }));
    s = new SqlFlowStorage(a, { schema: t.schema });
    other = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 2 });
    await Promise.all([s.init(), other.init()]);
  });
  afterAll(async () => {
    await s?.close();
    await other?.close();
    await t?.drop();
  });

  it('takes the locks of many runs in one statement, and lets go of them in one', async () => {
    const runs = await Promise.all(Array.from({ length: 10 }, () => newRun(s)));
    a.lockStatements.length = 0;
    const leases = await Promise.all(runs.map((r) => s.lockRun(r.runId)));
    expect(leases.every((l) => l !== null)).toBe(true);
    expect(a.lockStatements).toEqual([s.sql.lockRuns]);
    expect(await flowLocksHeld(t)).toBe(10);
    await Promise.all(leases.map((l) => l!.release()));
    expect(a.lockStatements).toEqual([s.sql.lockRuns, s.sql.unlockRuns]);
    expect(await flowLocksHeld(t)).toBe(0);
  });

  it('holds a run once within the process too: of concurrent lockRun calls exactly one gets it', async () => {
    const run = await newRun(s);
    const leases = await Promise.all(Array.from({ length: 5 }, () => s.lockRun(run.runId)));
    expect(leases.filter((l) => l !== null)).toHaveLength(1);
    expect(await s.lockRun(run.runId)).toBeNull();
    expect(await other.lockRun(run.runId)).toBeNull();
    await leases.find((l) => l !== null)!.release();
    const again = await s.lockRun(run.runId);
    expect(again).not.toBeNull();
    await again!.release();
  });

  it('losing the lock session frees every lock at once; its leases turn stale; later locks use a new session', async () => {
    const runs = await Promise.all(Array.from({ length: 3 }, () => newRun(s)));
    const leases = await Promise.all(runs.map((r) => s.lockRun(r.runId)));
    const [holder] = await t.query<{ pid: number }>(
      `SELECT DISTINCT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objsubid = 1
         AND (l.classid::int8 << 32) | l.objid::int8 = hashtextextended('hazel-flow:' || $1 || ':' || $2, 0)`,
      [t.schema, runs[0]!.runId],
    );
    await t.query('SELECT pg_terminate_backend($1)', [holder!.pid]);
    // Another process takes every run at once.
    const taken = await Promise.all(runs.map((r) => other.lockRun(r.runId)));
    expect(taken.every((l) => l !== null)).toBe(true);
    // The old leases cannot commit (nothing is written), and letting them go touches nobody's lock.
    for (const [i, lease] of leases.entries()) {
      await expect(lease!.commit(step(runs[i]!))).rejects.toBeInstanceOf(StaleRunError);
      await lease!.release();
    }
    for (const r of runs) expect((await s.getRun(r.runId))!.version).toBe(r.version);
    expect(await s.lockRun(runs[0]!.runId)).toBeNull();
    await Promise.all(taken.map((l) => l!.release()));
    // A new session serves the store from now on.
    const fresh = await s.lockRun(runs[0]!.runId);
    expect(fresh).not.toBeNull();
    await expect(fresh!.commit(step(runs[0]!, { release: true }))).resolves.toMatchObject({ version: runs[0]!.version + 1 });
    expect(await flowLocksHeld(t)).toBe(0);
  });
});
