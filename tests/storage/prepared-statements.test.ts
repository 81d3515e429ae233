/**
 * The hot path's statement budget and the prepared statements behind it, on pg and PGlite:
 * taking a run is one statement (lock and read), a step is one statement (one round trip, one
 * commit), and the statements are parsed once per connection — and keep working when a
 * statement fails or a later migration adds a column.
 */
import { randomUUID } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flow } from '../../src/definitions/builder.js';
import { FlowEngine } from '../../src/flow-engine.js';
import { createPGliteExecutor } from '../../src/storage/pglite.js';
import { createPostgresExecutor } from '../../src/storage/postgres.js';
import type { SqlExecutor, SqlParam, SqlSession } from '../../src/storage/sql/executor.js';
import { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import type { FlowStorage, JsonText } from '../../src/storage/types.js';
import { createTestSchema, flowLocksHeld, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';
import { migratedTemplate } from '../helpers/pglite-template.js';

const j = (v: unknown) => JSON.stringify(v) as JsonText;

const threeNodes = flow('prepared-3', '1')
  .entry('a')
  .node('a', () => ({ status: 'ok', patch: { a: 1 } }))
  .node('b', () => ({ status: 'ok', output: 'b' }))
  .node('c', () => ({ status: 'ok' }))
  .edge('a', 'b')
  .edge('b', 'c')
  .build();

/** Records every statement sent (outside transactions): on the pool and on lease connections. */
function recording(inner: SqlExecutor): SqlExecutor & { sent: string[] } {
  const sent: string[] = [];
  const record = <T>(sql: string, run: () => Promise<T>) => (sent.push(sql), run());
  const wrapped = Object.assign(Object.create(inner) as SqlExecutor, {
    sent,
    query: (sql: string, params?: readonly SqlParam[]) => record(sql, () => inner.query(sql, params)),
  });
  if (inner.hold) {
    wrapped.hold = async (): Promise<SqlSession> => {
      const session = await inner.hold!();
      return { query: (sql, params) => record(sql, () => session.query(sql, params)), release: (broken) => session.release(broken) };
    };
  }
  return wrapped;
}

const newRun = () => ({
  runId: randomUUID(),
  flowId: 'p',
  flowVersion: '1',
  tenantId: null,
  idempotencyKey: null,
  currentNodeId: 'a',
  input: j({ big: 'x'.repeat(100) }),
  state: j({}),
  branches: j([]),
  events: [{ type: 'RUN_STARTED' as const, nodeId: 'a' }],
});

/** The same checks on each SQL store; `schemaSql` runs DDL against the store's tables. */
function describeHotPath(
  name: string,
  open: () => Promise<{ executor: SqlExecutor & { sent: string[] }; storage: SqlFlowStorage; ddl(sql: string): Promise<void>; close(): Promise<void> }>,
) {
  describe(`hot path on ${name}`, () => {
    let h: Awaited<ReturnType<typeof open>>;
    let engine: FlowEngine;
    beforeAll(async () => {
      h = await open();
      engine = new FlowEngine({ storage: h.storage as FlowStorage });
      await engine.registerDefinition(threeNodes);
    });
    afterAll(async () => {
      await engine?.close();
      await h?.close();
    });

    it('runs a 3-node flow to completion in one statement per step, plus the lock, the first begin and (pg) the unlock', async () => {
      const { runId } = await engine.startRun({ flowId: 'prepared-3', version: '1', input: { n: 1 } });
      h.executor.sent.length = 0;
      const run = await engine.runToCompletion(runId);
      expect(run.status).toBe('COMPLETED');
      expect(run.stateJson).toEqual({ a: 1 });
      expect(run.outputsJson).toEqual({ b: 'b' });
      const q = h.storage.sql;
      const session = h.storage.executor.lockMode === 'session';
      // Each commit but the last begins the next attempt (the first: a's). On pg the lock and the
      // unlock go on the store's lock session (shared with the other runs' locks of the moment).
      expect(h.executor.sent).toEqual(
        session ? [q.lockRuns, q.commit, q.commit, q.commit, q.commit, q.unlockRuns] : [h.storage.sql.getRun, q.commit, q.commit, q.commit, q.commit],
      );
      // What the commits returned (built without reading the JSON back) is what a read gives.
      expect(run).toEqual({ ...(await engine.getRun(runId))!, dueInMs: 0, readAt: run.readAt });
      const timeline = await engine.getTimeline(runId);
      expect(timeline.map((e) => `${e.type}:${e.nodeId ?? ''}:${e.attempt ?? ''}`)).toEqual([
        'RUN_STARTED:a:',
        'NODE_STARTED:a:1',
        'NODE_FINISHED:a:1',
        'NODE_STARTED:b:1',
        'NODE_FINISHED:b:1',
        'NODE_STARTED:c:1',
        'NODE_FINISHED:c:1',
        'RUN_COMPLETED::',
      ]);
    });

    it('ticks in 3 statements (lock, begin, step; pg: + unlock), and resumes in 6 (read, inbox entry, lock, inbox, resume + begin, step; pg: + unlock)', async () => {
      const waits = flow('prepared-wait', '1')
        .entry('ask')
        .node('ask', (ctx) =>
          ctx.state._resumePayload === undefined ? { status: 'wait', reason: 'approval' } : { status: 'ok', output: ctx.state._resumePayload },
        )
        .build();
      await engine.registerDefinition(waits);
      const { runId } = await engine.startRun({ flowId: 'prepared-wait', version: '1', input: {} });
      h.executor.sent.length = 0;
      expect((await engine.tick(runId)).status).toBe('WAITING');
      const session = h.storage.executor.lockMode === 'session';
      expect(h.executor.sent).toHaveLength(session ? 4 : 3);
      h.executor.sent.length = 0;
      const done = await engine.resumeRun(runId, { yes: true });
      expect(done).toMatchObject({ status: 'COMPLETED', outputsJson: { ask: { yes: true } } });
      // The resume goes through the run's inbox (written without the lock), then is applied by the holder.
      const q = h.storage.sql;
      expect(h.executor.sent).toEqual([
        h.storage.sql.getRun,
        h.storage.sql.addToInbox,
        session ? q.lockRuns : h.storage.sql.getRun,
        h.storage.sql.getInbox,
        q.commit,
        q.commit,
        ...(session ? [q.unlockRuns] : []),
      ]);
      expect((await engine.getTimeline(runId)).map((e) => e.type)).toEqual([
        'RUN_STARTED',
        'NODE_STARTED',
        'RUN_WAITING',
        'RUN_RESUMED',
        'NODE_STARTED',
        'NODE_FINISHED',
        'RUN_COMPLETED',
      ]);
    });

    it('a failing prepared statement writes nothing and leaves the connection usable', async () => {
      const { run } = await h.storage.createRun(newRun());
      await h.ddl(`INSERT INTO flow_events (run_id, seq, type) VALUES ('${run.runId}', 2, 'SQUATTER')`);
      const lease = (await h.storage.lockRun(run.runId))!;
      const t = {
        expectedVersion: run.version,
        update: {
          status: 'RUNNING' as const,
          currentNodeId: 'b',
          attempt: 0,
          attemptInFlight: false,
          recoveries: 0,
          nextAttemptAt: null,
          waitReason: null,
          error: null,
        },
        events: [{ type: 'NODE_FINISHED' as const, nodeId: 'a' }],
      };
      await expect(lease.commit(t)).rejects.toMatchObject({ code: 'DUPLICATE_KEY' });
      expect(await h.storage.getRun(run.runId)).toEqual({ ...run, dueInMs: 0, readAt: expect.any(Date) });
      await h.ddl(`DELETE FROM flow_events WHERE type = 'SQUATTER'`);
      expect((await lease.commit({ ...t, release: true })).currentNodeId).toBe('b');
    });

    it('keeps working when a later migration adds a column to the tables', async () => {
      const { runId: before } = await engine.startRun({ flowId: 'prepared-3', version: '1', input: {} });
      // Every read statement prepared on every connection before the change.
      const reads = async () => {
        const lease = (await h.storage.lockRun(before))!;
        await Promise.all([
          h.storage.getRun(before),
          h.storage.getRun(before),
          h.storage.getEvents(before),
          h.storage.getMapValues(before, 'a'),
          h.storage.findDueRuns({ limit: 5 }),
          h.storage.msUntilNextDue(),
        ]);
        await lease.release();
      };
      await reads();
      const tables = ['flow_runs', 'flow_events', 'flow_node_values'];
      for (const table of tables) await h.ddl(`ALTER TABLE ${table} ADD COLUMN added_later int`);
      try {
        await reads();
        expect((await engine.runToCompletion(before)).status).toBe('COMPLETED');
        const { runId } = await engine.startRun({ flowId: 'prepared-3', version: '1', input: {} });
        expect((await engine.runToCompletion(runId)).status).toBe('COMPLETED');
        expect(await h.storage.cancelRun(runId, [], { code: 'CANCELLED', message: 'late' })).toMatchObject({ status: 'COMPLETED' });
      } finally {
        for (const table of tables) await h.ddl(`ALTER TABLE ${table} DROP COLUMN added_later`);
      }
    });
  });
}

if (HAVE_PG) {
  let t: TestSchema;
  describeHotPath('Postgres (pg)', async () => {
    t = await createTestSchema('flow_prepared');
    // Two connections (a lease holds one): statements are reused on each.
    const executor = recording(createPostgresExecutor({ connectionString: TEST_DATABASE_URL, poolSize: 2, listen: false }));
    const storage = new SqlFlowStorage(executor, { schema: t.schema });
    await storage.init();
    return {
      executor,
      storage,
      ddl: async (sql) => void (await t.query(`SET search_path TO "${t.schema}"; ${sql}`)),
      close: async () => {
        expect(await flowLocksHeld(t)).toBe(0);
        await storage.close();
        await t.drop();
      },
    };
  });

  it('pg: hot statements are named prepared statements, parsed once per connection', async () => {
    const schema = await createTestSchema('flow_named');
    const storage = new SqlFlowStorage(createPostgresExecutor({ connectionString: TEST_DATABASE_URL, poolSize: 1, listen: false }), { schema: schema.schema });
    try {
      const { run } = await storage.createRun(newRun());
      for (let i = 0; i < 3; i++) await storage.getRun(run.runId);
      const [row] = await storage.executor.query<{ n: number; calls: number }>(
        `SELECT count(*)::int AS n, count(*) FILTER (WHERE statement = $1)::int AS calls FROM pg_prepared_statements WHERE name LIKE 'hazel\\_flow\\_%'`,
        [storage.sql.getRun],
      );
      expect(row!.calls).toBe(1);
      expect(row!.n).toBeGreaterThanOrEqual(2);
      // Lost behind the driver's back: the statement runs unnamed from then on.
      await storage.executor.query('DEALLOCATE ALL');
      expect((await storage.getRun(run.runId))?.runId).toBe(run.runId);
      expect((await storage.getRun(run.runId))?.runId).toBe(run.runId);
    } finally {
      await storage.close();
      await schema.drop();
    }
  });
} else {
  describe.skip('hot path on Postgres — Postgres unreachable', () => it('skipped', () => {}));
}

describeHotPath('PGlite', async () => {
  const db = await PGlite.create({ loadDataDir: await migratedTemplate() });
  const executor = recording(createPGliteExecutor({ pglite: db }));
  const storage = new SqlFlowStorage(executor, { ownsExecutor: false });
  await storage.init();
  return { executor, storage, ddl: async (sql) => void (await db.exec(sql)), close: () => db.close() };
});

it('PGlite: prepares again when the session lost its statements (DEALLOCATE ALL) or their result shape changed', async () => {
  const db = await PGlite.create({ loadDataDir: await migratedTemplate() });
  try {
    const executor = createPGliteExecutor({ pglite: db });
    const storage = new SqlFlowStorage(executor, { ownsExecutor: false });
    const { run } = await storage.createRun(newRun());
    expect((await storage.getRun(run.runId))?.runId).toBe(run.runId);
    await db.exec('DEALLOCATE ALL');
    expect((await storage.getRun(run.runId))?.runId).toBe(run.runId);
    const star = 'SELECT * FROM flow_runs WHERE run_id = $1';
    executor.registerPrepared([star]);
    expect(await executor.query(star, [run.runId])).toHaveLength(1);
    await db.exec('ALTER TABLE flow_runs ADD COLUMN added_later int');
    expect((await executor.query(star, [run.runId]))[0]).toHaveProperty('added_later', null);
    await storage.close();
  } finally {
    await db.close();
  }
});
