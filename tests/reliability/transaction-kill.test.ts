/**
 * Transactional nodes across real processes on real Postgres: a process SIGKILLed after its
 * step's write and before its commit leaves no write, and the process that recovers the run
 * writes it once; a process whose run lock was taken from it mid-step (its lock session cut, its
 * transaction still open) cannot commit its write after another took the run over — one write.
 * And transactional steps that collide (serializable, write skew) are run again by the engine,
 * not failed, until every run completes — on the pg and Prisma stores.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowEngine, createPostgresStorage, flow, type FlowStorage, type SqlTransaction } from '@hazeljs/flow';
import { createFlowPrismaClient, createPrismaStorage, type PrismaClientLike } from '@hazeljs/flow/prisma';
import { spawnScript, withApplicationName, type ScriptProcess } from '../../chaos/child-process.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';
import { waitFor } from '../helpers/worker-cluster.js';
import { transactionFlow } from './fixtures/transaction-flow.js';

const WORKER = fileURLToPath(new URL('./fixtures/transaction-worker-process.ts', import.meta.url));

describe.skipIf(!HAVE_PG)('transactional nodes across processes (Postgres)', () => {
  let t: TestSchema;
  let engine: FlowEngine;
  let orders: string;
  const procs: ScriptProcess[] = [];
  const releaseDir = mkdtempSync(join(tmpdir(), 'flow-tx-'));

  beforeAll(async () => {
    t = await createTestSchema('flow_tx_kill');
    orders = `"${t.schema}".orders`;
    engine = new FlowEngine({ storage: createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 4 }) });
    await engine.registerDefinition(
      transactionFlow(async (ctx) => {
        await (ctx.tx as SqlTransaction).query(`INSERT INTO ${orders} (run_id, writer) VALUES ($1, 'recoverer')`, [ctx.runId]);
        return { status: 'ok' };
      }),
    );
    await t.query(`CREATE TABLE ${orders} (id serial PRIMARY KEY, run_id text NOT NULL, writer text NOT NULL)`);
  });
  afterAll(async () => {
    for (const p of procs) if (!p.hasExited) p.child.kill('SIGKILL');
    await engine?.close();
    await t?.drop();
    rmSync(releaseDir, { recursive: true, force: true });
  });

  const writers = async (runId: string) => (await t.query<{ writer: string }>(`SELECT writer FROM ${orders} WHERE run_id = $1`, [runId])).map((r) => r.writer);
  const spawnWorker = (app: string) => {
    const p = spawnScript(WORKER, {
      DATABASE_URL: withApplicationName(TEST_DATABASE_URL, app),
      FLOW_SCHEMA: t.schema,
      ORDERS: orders,
      RELEASE_DIR: releaseDir,
    });
    procs.push(p);
    return p;
  };

  it('a process killed after its write and before its commit leaves no write; the recovering process writes once', { timeout: 90_000 }, async () => {
    const { runId } = await engine.startRun({ flowId: 'tx-crash', version: '1', input: null });
    const a = spawnWorker(`${t.schema}-killed`);
    await a.line((l) => l.startsWith(`WROTE ${runId}`), 60_000);
    expect(await writers(runId)).toEqual([]); // written, not committed
    a.child.kill('SIGKILL');
    await a.exited;
    // Its sessions die with it: the run's lock and the open transaction (rolled back by the server).
    const run = await engine.runToCompletion(runId);
    expect(run.status).toBe('COMPLETED');
    expect(await writers(runId)).toEqual(['recoverer']);
    expect((await engine.getTimeline(runId)).some((e) => e.type === 'NODE_INTERRUPTED')).toBe(true);
  });

  it('a process whose lock was cut mid-step cannot commit its write after another took the run over: one write', { timeout: 90_000 }, async () => {
    const { runId } = await engine.startRun({ flowId: 'tx-crash', version: '1', input: null });
    const app = `${t.schema}-cut`;
    const a = spawnWorker(app);
    await a.line((l) => l.startsWith(`WROTE ${runId}`), 60_000);
    // Cut only A's lock session (the one holding advisory locks): its step's transaction stays open.
    const cut = await t.query<{ n: number }>(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
        WHERE application_name = $1 AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)`,
      [app],
    );
    expect(cut[0]!.n).toBe(1);
    // The test's engine races A for the run: it takes it over and writes (A's write is uncommitted, invisible).
    expect((await engine.runToCompletion(runId)).status).toBe('COMPLETED');
    expect(await writers(runId)).toEqual(['recoverer']);
    // A goes on: its commit finds its lock gone (or the run moved), and its write is rolled back with it.
    writeFileSync(join(releaseDir, runId), '');
    await waitFor(
      "A's transaction to end",
      async () => (await t.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state LIKE 'idle in transaction%'`, [app])).length === 0,
      30_000,
    );
    expect(await writers(runId)).toEqual(['recoverer']);
    a.child.kill('SIGKILL');
  });

  it('two processes racing for the same runs write each exactly once', { timeout: 90_000 }, async () => {
    const runIds: string[] = [];
    for (let i = 0; i < 12; i++) {
      const { runId } = await engine.startRun({ flowId: 'tx-crash', version: '1', input: null });
      runIds.push(runId);
      writeFileSync(join(releaseDir, runId), ''); // no pause
    }
    const [a, b] = [spawnWorker(`${t.schema}-race-a`), spawnWorker(`${t.schema}-race-b`)];
    await waitFor(
      'every run to complete',
      async () => (await Promise.all(runIds.map((id) => engine.getRun(id)))).every((r) => r?.status === 'COMPLETED'),
      60_000,
    );
    for (const runId of runIds) expect(await writers(runId)).toHaveLength(1);
    a.child.kill('SIGKILL');
    b.child.kill('SIGKILL');
  });
});

describe.skipIf(!HAVE_PG).each(['pg', 'prisma'] as const)('transactional nodes that collide (serializable, %s store)', (kind) => {
  let t: TestSchema;
  let storage: FlowStorage;
  let client: PrismaClientLike | undefined;

  beforeAll(async () => {
    t = await createTestSchema(`flow_tx_conflict_${kind}`);
    const pgStore = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 12 });
    await pgStore.init(); // creates the schema
    if (kind === 'pg') {
      storage = pgStore;
    } else {
      await pgStore.close();
      client = await createFlowPrismaClient({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 12 });
      storage = createPrismaStorage(client, { schema: t.schema });
    }
    await t.query(`CREATE TABLE "${t.schema}".ledger (id serial PRIMARY KEY, run_id text NOT NULL, balance int NOT NULL)`);
  });
  afterAll(async () => {
    await storage?.close();
    await client?.$disconnect();
    await t?.drop();
  });

  it('serialization failures are retried without a failed attempt, and every run completes with one write', { timeout: 90_000 }, async () => {
    const engine = new FlowEngine({ storage });
    const ledger = `"${t.schema}".ledger`;
    let calls = 0;
    // Each step reads the balance and appends the next one: concurrent serializable steps conflict (write skew).
    const query = async (tx: unknown, text: string, params: unknown[] = []) =>
      kind === 'pg'
        ? (await (tx as SqlTransaction).query(text, params)).rows
        : await (tx as { $queryRawUnsafe(q: string, ...p: unknown[]): Promise<Record<string, unknown>[]> }).$queryRawUnsafe(text, ...params);
    await engine.registerDefinition(
      flow('collide', '1')
        .entry('append')
        .node(
          'append',
          async (ctx) => {
            calls += 1;
            const [row] = await query(ctx.tx, `SELECT COALESCE(max(balance), 0)::int AS balance FROM ${ledger}`);
            await new Promise((r) => setTimeout(r, 5));
            await query(ctx.tx, `INSERT INTO ${ledger} (run_id, balance) VALUES ($1, $2) RETURNING id`, [ctx.runId, Number(row!.balance) + 1]);
            return { status: 'ok' };
          },
          { transaction: { isolation: 'serializable' } },
        )
        .build(),
    );
    const runIds = await Promise.all(Array.from({ length: 8 }, async () => (await engine.startRun({ flowId: 'collide', version: '1', input: null })).runId));
    const runs = await Promise.all(runIds.map((id) => engine.runToCompletion(id)));
    expect(runs.map((r) => r.status)).toEqual(runIds.map(() => 'COMPLETED'));
    // Serializable: the balances are 1..8, each written once — as if the steps had run one after another.
    const rows = await t.query<{ run_id: string; balance: number }>(`SELECT run_id, balance FROM ${ledger} ORDER BY balance`);
    expect(rows.map((r) => r.balance)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(new Set(rows.map((r) => r.run_id))).toEqual(new Set(runIds));
    expect(calls).toBeGreaterThan(8); // some lost a race and ran again
    for (const runId of runIds) {
      const timeline = await engine.getTimeline(runId);
      expect(timeline.filter((e) => e.type === 'NODE_FAILED')).toEqual([]);
      expect(timeline.find((e) => e.type === 'NODE_FINISHED')).toMatchObject({ attempt: 1 });
    }
  });
});
