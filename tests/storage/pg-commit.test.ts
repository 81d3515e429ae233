/**
 * The hot path on pg: lockRun is one round trip on the store's lock session, a commit is one
 * statement through the pool (so one round trip and one transaction) that writes run + node
 * values + events + idempotency record together or not at all.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StaleRunError } from '../../src/errors.js';
import { createPostgresExecutor } from '../../src/storage/postgres.js';
import type { SqlExecutor, SqlParam, SqlSession } from '../../src/storage/sql/executor.js';
import { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import type { FlowRunRecord, JsonText, NewRun, Transition } from '../../src/storage/types.js';
import { createTestSchema, flowLocksHeld, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';

const j = (v: unknown) => JSON.stringify(v) as JsonText;
const readAgain = (run: FlowRunRecord) => ({ ...run, dueInMs: 0, readAt: expect.any(Date) });
const runFields = (overrides: Partial<NewRun> = {}): NewRun => ({
  runId: randomUUID(),
  flowId: 'commit',
  flowVersion: '1',
  tenantId: null,
  idempotencyKey: null,
  currentNodeId: 'a',
  input: j({}),
  state: j({}),
  branches: j([{ branchId: 'b1', nodeId: 'a', status: 'READY', attempt: 0, recoveries: 0, dueAt: null, waitReason: null, error: null }]),
  events: [{ type: 'RUN_STARTED', nodeId: 'a' }],
  ...overrides,
});

/** Records the statements sent on the lock session (`lockStatements`) and through the pool (`poolStatements`). */
function countingExecutor(inner: SqlExecutor): SqlExecutor & { lockStatements: string[]; poolStatements: string[] } {
  const lockStatements: string[] = [];
  const poolStatements: string[] = [];
  return Object.assign(Object.create(inner) as SqlExecutor, {
    lockStatements,
    poolStatements,
    query: (sql: string, params?: readonly SqlParam[]) => (poolStatements.push(sql), inner.query(sql, params)),
    hold: async (): Promise<SqlSession> => {
      const session = await inner.hold!();
      return {
        query: (sql, params) => {
          lockStatements.push(sql);
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
      branches: j([{ branchId: 'b1', nodeId: 'b', status: 'RUNNING', attempt: 1, recoveries: 0, dueAt: null, waitReason: null, error: null }]),
      attempt: 1,
      attempts: j({ a: 1, b: 1 }),
      attemptInFlight: true,
      recoveries: 0,
      nextAttemptAt: null,
      waitReason: null,
      error: null,
    },
    values: [{ nodeId: 'a', kind: 'output', value: j({ ok: true }) }],
    events: [
      { type: 'NODE_FINISHED', nodeId: 'a', branchId: 'b1', attempt: 1, durationMs: 5, payload: j({ out: 1 }) },
      { type: 'NODE_STARTED', nodeId: 'b', branchId: 'b1', attempt: 1 },
    ],
    ...extra,
  };
}

describe.skipIf(!HAVE_PG)('pg commit path', () => {
  let t: TestSchema;
  let executor: ReturnType<typeof countingExecutor>;
  let s: SqlFlowStorage;
  const newRun = async () => (await s.createRun(runFields())).run;

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

  it('lockRun is one statement on the lock session, a commit one through the pool, a release one on the lock session', async () => {
    const run = await newRun();
    executor.lockStatements.length = 0;
    executor.poolStatements.length = 0;
    const lease = (await s.lockRun(run.runId))!;
    expect(executor.lockStatements).toEqual([s.sql.lockRuns]);
    const key = 'k-' + randomUUID();
    const next = await lease.commit(transition(run, { idempotency: { key, runId: run.runId, nodeId: 'a', result: j({ output: { ok: true } }) } }));
    expect(executor.poolStatements).toEqual([s.sql.commit]);
    await lease.commit({ ...transition(next), events: [{ type: 'NODE_FINISHED', nodeId: 'b' }], release: true });
    expect(executor.poolStatements).toEqual([s.sql.commit, s.sql.commit]);
    expect(executor.lockStatements).toEqual([s.sql.lockRuns, s.sql.unlockRuns]);
    expect(await flowLocksHeld(t)).toBe(0);
    expect(await s.getIdempotencyRecord(key)).toMatchObject({ nodeId: 'a', result: { output: { ok: true } } });
  });

  it('writes run, node values, events and idempotency record atomically: a failing part leaves nothing', async () => {
    const run = await newRun();
    const lease = (await s.lockRun(run.runId))!;
    const mapped = await lease.commit({
      ...transition(run),
      values: [
        { nodeId: 'm', kind: 'items', value: j([1, 2]) },
        { nodeId: 'm', kind: 'item', itemIndex: 0, value: j('x') },
      ],
    });
    // Occupy the seq the commit's second event will take: its INSERT fails inside the statement.
    await t.query(`INSERT INTO "${t.schema}".flow_events (run_id, seq, type) VALUES ($1, $2, 'SQUATTER')`, [run.runId, mapped.lastSeq + 2]);
    const key = 'k-' + randomUUID();
    const failing = transition(mapped, {
      idempotency: { key, runId: run.runId, nodeId: 'a', result: j({}) },
      clearMaps: ['m'],
      values: [
        { nodeId: 'a', kind: 'output', value: j('lost') },
        { nodeId: 'm', kind: 'item', itemIndex: 1, value: j('lost') },
      ],
    });
    await expect(lease.commit(failing)).rejects.toMatchObject({ code: 'DUPLICATE_KEY' });
    expect(await s.getRun(run.runId)).toEqual(readAgain(mapped));
    expect((await s.getEvents(run.runId)).map((e) => e.type)).toEqual(['RUN_STARTED', 'NODE_FINISHED', 'NODE_STARTED', 'SQUATTER']);
    expect(await s.getIdempotencyRecord(key)).toBeNull();
    const map = await s.getMapValues(run.runId, 'm');
    expect([map.items, [...map.outputs]]).toEqual([[1, 2], [[0, 'x']]]);
    await lease.release();
  });

  it('stores node values as rows: one per output, item list and item, each written once', async () => {
    const run = await newRun();
    const lease = (await s.lockRun(run.runId))!;
    const one = await lease.commit({
      ...transition(run),
      values: [
        { nodeId: 'a', kind: 'output', value: j({ ok: true }) },
        { nodeId: 'm', kind: 'items', value: j(['p', 'q']) },
        { nodeId: 'm', kind: 'item', itemIndex: 1, value: j('Q') },
      ],
    });
    await lease.commit({ ...transition(one), values: [{ nodeId: 'm', kind: 'item', itemIndex: 0, value: j('P') }], release: true });
    const rows = await t.query<{ node_id: string; kind: string; item_index: number; value_json: unknown; created_at: Date }>(
      `SELECT node_id, kind, item_index, value_json, created_at FROM "${t.schema}".flow_node_values WHERE run_id = $1 ORDER BY node_id, kind, item_index`,
      [run.runId],
    );
    expect(rows.map((r) => [r.node_id, r.kind, r.item_index, r.value_json])).toEqual([
      ['a', 'output', -1, { ok: true }],
      ['m', 'item', 0, 'P'],
      ['m', 'item', 1, 'Q'],
      ['m', 'items', -1, ['p', 'q']],
    ]);
    // The row written by the first commit was not rewritten by the second.
    expect(rows[2]!.created_at.getTime()).toBeLessThan(rows[1]!.created_at.getTime());
    // The table's checks refuse a row of no known kind, or an item without its index.
    await expect(
      t.query(`INSERT INTO "${t.schema}".flow_node_values (run_id, node_id, kind, value_json) VALUES ($1, 'x', 'bogus', '1')`, [run.runId]),
    ).rejects.toThrow(/check/);
    await expect(
      t.query(`INSERT INTO "${t.schema}".flow_node_values (run_id, node_id, kind, value_json) VALUES ($1, 'x', 'item', '1')`, [run.runId]),
    ).rejects.toThrow(/check/);
    await expect(
      t.query(`INSERT INTO "${t.schema}".flow_node_values (run_id, node_id, kind, item_index, value_json) VALUES ($1, 'x', 'output', 3, '1')`, [run.runId]),
    ).rejects.toThrow(/check/);
  });

  it('a stale version writes nothing and the lease can still be released', async () => {
    const run = await newRun();
    const lease = (await s.lockRun(run.runId))!;
    const moved = await lease.commit(transition(run));
    const key = 'k-' + randomUUID();
    await expect(lease.commit(transition(run, { idempotency: { key, runId: run.runId, nodeId: 'a', result: j({}) }, release: true }))).rejects.toBeInstanceOf(
      StaleRunError,
    );
    expect(await s.getRun(run.runId)).toEqual(readAgain(moved));
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
    const results = await Promise.all(Array.from({ length: 8 }, () => s.createRun(runFields({ idempotencyKey: key, events: [{ type: 'RUN_STARTED' }] }))));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.run.runId)).size).toBe(1);
  });

  it.each([['flow_run_fresh(text, boolean)'], ['flow_run_outputs(text)'], ['flow_run_has_inbox(text)']])(
    'works on tables made by other migrations (no read-after-lock helper function %s)',
    async (fn) => {
      const other = await createTestSchema('flow_nofn');
      const migrator = new SqlFlowStorage(createPostgresExecutor({ connectionString: TEST_DATABASE_URL, poolSize: 1, listen: false }), {
        schema: other.schema,
      });
      await migrator.init();
      await migrator.close();
      await other.query(`DROP FUNCTION "${other.schema}".${fn}`);
      const plain = new SqlFlowStorage(createPostgresExecutor({ connectionString: TEST_DATABASE_URL, poolSize: 2, listen: false }), {
        schema: other.schema,
        autoMigrate: false,
      });
      try {
        const { run } = await plain.createRun(runFields({ flowId: 'f', events: [] }));
        const lease = (await plain.lockRun(run.runId))!;
        expect(lease.run).toEqual({ ...run, readAt: expect.any(Date) });
        expect(await plain.lockRun(run.runId)).toBeNull();
        expect((await lease.commit(transition(run, { release: true }))).version).toBe(run.version + 1);
        const again = (await plain.lockRun(run.runId, { onlyIfDue: true }))!;
        expect(again.run!.outputsJson).toEqual({ a: { ok: true } });
        await again.release();
        expect(await plain.lockRun(randomUUID())).toMatchObject({ run: null });
      } finally {
        await plain.close();
        await other.drop();
      }
    },
  );
});
