/**
 * Contract of transactional nodes (`transaction: true`, docs/transactions.md), through the engine
 * on each store: a handler's writes through `ctx.tx` and the step's commit are one transaction, so
 * a write stays exactly once when the step commits, and never when it does not (a throw, an error
 * result, a timeout, a cancel, a stale holder, a wait); the retry's write stays. A `forEach` node's
 * items each commit in their own. On the memory store such an attempt fails with a clear error.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { FlowEngine } from '../../src/flow-engine.js';
import { flow } from '../../src/definitions/builder.js';
import type { FlowContext, NodeOptions, NodeResult, SqlTransaction } from '../../src/definitions/types.js';
import type { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import type { FlowStorage } from '../../src/storage/types.js';
import type { StoreHandle } from './storage-contract.js';

/** One engine per store, never closed here (closing it closes the store, which the suite owns). */
const engines = new WeakMap<FlowStorage, FlowEngine>();
function engineOn(storage: FlowStorage): FlowEngine {
  let engine = engines.get(storage);
  if (!engine) engines.set(storage, (engine = new FlowEngine({ storage })));
  return engine;
}

/** A statement in the attempt's transaction, whatever the store: `query` (pg, PGlite) or the Prisma client's raw execute. */
export async function txWrite(ctx: FlowContext, text: string, params: unknown[]): Promise<void> {
  if (ctx.tx === undefined) throw new Error('no ctx.tx');
  const prisma = ctx.tx as unknown as { $executeRawUnsafe?: (q: string, ...p: unknown[]) => Promise<number> };
  if (typeof prisma.$executeRawUnsafe === 'function') await prisma.$executeRawUnsafe(text, ...params);
  else await (ctx.tx as SqlTransaction).query(text, params);
}

/** A table of orders in the store's schema, written by the nodes, counted by the tests. */
async function ordersTable(storage: FlowStorage) {
  const sql = storage as SqlFlowStorage;
  const name = `${sql.names.runs.split('.')[0]}."orders_${randomUUID().slice(0, 8)}"`;
  await sql.executor.query(`CREATE TABLE ${name} (id serial PRIMARY KEY, run_id text NOT NULL, item int, attempt int NOT NULL)`);
  return {
    name,
    insert: `INSERT INTO ${name} (run_id, item, attempt) VALUES ($1, $2, $3)`,
    rows: async (runId: string) =>
      (
        await sql.executor.query<{ item: number | null; attempt: number }>(`SELECT item, attempt FROM ${name} WHERE run_id = $1 ORDER BY item, attempt`, [
          runId,
        ])
      ).map((r) => ({ item: r.item, attempt: r.attempt })),
  };
}

const RETRY = { retry: { maxAttempts: 3, backoff: 'fixed' as const, baseDelayMs: 1 } };

export function transactionsContract(handle: () => StoreHandle): void {
  const store = () => handle().storage;
  const sqlStore = () => store().kind !== 'memory';

  /** Registers a one-node flow and runs it to its end. */
  async function runOne(handler: (ctx: FlowContext) => Promise<NodeResult> | NodeResult, options: NodeOptions = { transaction: true }) {
    const engine = engineOn(store());
    const def = flow(`tx-${randomUUID()}`, '1').entry('write').node('write', handler, options).build();
    await engine.registerDefinition(def);
    const { runId } = await engine.startRun({ flowId: def.flowId, version: '1', input: {} });
    return { engine, runId, run: await engine.runToCompletion(runId) };
  }

  it('transactions: a write of a node that succeeds is there exactly once, and ctx.tx refuses a late use', async () => {
    if (!sqlStore()) return;
    const orders = await ordersTable(store());
    let kept: FlowContext['tx'];
    const { runId, run } = await runOne(async (ctx) => {
      await txWrite(ctx, orders.insert, [ctx.runId, null, ctx.meta.attempt]);
      kept = ctx.tx;
      return { status: 'ok', output: { written: true } };
    });
    expect(run).toMatchObject({ status: 'COMPLETED', outputsJson: { write: { written: true } } });
    expect(await orders.rows(runId)).toEqual([{ item: null, attempt: 1 }]);
    // The transaction ended with the step: a handle kept past it sends nothing.
    const late = kept as unknown as { query?: unknown; $executeRawUnsafe?: unknown };
    await expect(txWrite({ tx: late } as unknown as FlowContext, orders.insert, [runId, 9, 9])).rejects.toThrow();
    expect(await orders.rows(runId)).toHaveLength(1);
  });

  it('transactions: a write followed by a throw or an error result is rolled back; the retry’s write stays', async () => {
    if (!sqlStore()) return;
    const orders = await ordersTable(store());
    const { runId, run, engine } = await runOne(
      async (ctx) => {
        await txWrite(ctx, orders.insert, [ctx.runId, null, ctx.meta.attempt]);
        if (ctx.meta.attempt === 1) throw new Error('boom after the write');
        if (ctx.meta.attempt === 2) return { status: 'error', error: { code: 'NOPE', message: 'error result after the write' } };
        return { status: 'ok' };
      },
      { transaction: true, ...RETRY },
    );
    expect(run.status).toBe('COMPLETED');
    expect(await orders.rows(runId)).toEqual([{ item: null, attempt: 3 }]);
    const failed = (await engine.getTimeline(runId)).filter((e) => e.type === 'NODE_FAILED');
    expect(failed.map((e) => e.attempt)).toEqual([1, 2]);
  });

  it('transactions: a write of an attempt that times out is rolled back, a late write fails, and the retry’s write stays', async () => {
    if (!sqlStore()) return;
    const orders = await ordersTable(store());
    let late: Promise<unknown> | undefined;
    const { runId, run } = await runOne(
      async (ctx) => {
        await txWrite(ctx, orders.insert, [ctx.runId, null, ctx.meta.attempt]);
        if (ctx.meta.attempt === 1) {
          await new Promise((r) => setTimeout(r, 150));
          late = txWrite(ctx, orders.insert, [ctx.runId, 99, 1]); // after the timeout: refused
          await late.catch(() => undefined);
        }
        return { status: 'ok' };
      },
      { transaction: true, timeoutMs: 50, ...RETRY },
    );
    expect(run.status).toBe('COMPLETED');
    await new Promise((r) => setTimeout(r, 200));
    await expect(late).rejects.toThrow();
    expect(await orders.rows(runId)).toEqual([{ item: null, attempt: 2 }]);
  });

  it('transactions: a write of an attempt whose run is cancelled is rolled back', async () => {
    if (!sqlStore()) return;
    const orders = await ordersTable(store());
    const engine = engineOn(store());
    let wrote!: () => void;
    const written = new Promise<void>((r) => (wrote = r));
    const def = flow(`tx-${randomUUID()}`, '1')
      .entry('write')
      .node(
        'write',
        async (ctx) => {
          await txWrite(ctx, orders.insert, [ctx.runId, null, ctx.meta.attempt]);
          wrote();
          await new Promise((r) => ctx.signal.addEventListener('abort', r, { once: true }));
          return { status: 'ok' };
        },
        // No timeout: the cancel itself must end the attempt, also on PGlite, whose one session
        // the attempt's transaction holds (the cancel stops it before its own statements).
        { transaction: true, ...RETRY },
      )
      .build();
    await engine.registerDefinition(def);
    const { runId } = await engine.startRun({ flowId: def.flowId, version: '1', input: {} });
    const driving = engine.runToCompletion(runId);
    await written;
    const cancelled = await engine.cancelRun(runId, 'changed my mind');
    expect(cancelled.status).toBe('CANCELLED');
    expect((await driving).status).toBe('CANCELLED');
    expect(await orders.rows(runId)).toEqual([]);
  });

  it('transactions: a stale holder’s write goes with its refused commit; the next holder’s stays', async () => {
    if (!sqlStore()) return;
    const orders = await ordersTable(store());
    const sql = store() as SqlFlowStorage;
    const { runId, run, engine } = await runOne(async (ctx) => {
      await txWrite(ctx, orders.insert, [ctx.runId, null, ctx.meta.attempt]);
      if (ctx.meta.attempt === 1) {
        // Another holder commits meanwhile (its version moves on): this holder's fence must refuse it.
        // PGlite is one session, so the other "holder" writes in this transaction, and goes with it too.
        const bump = `UPDATE ${sql.names.runs} SET version = version + 1 WHERE run_id = $1`;
        if (sql.embedded) await txWrite(ctx, bump, [ctx.runId]);
        else await sql.executor.query(bump, [ctx.runId]);
      }
      return { status: 'ok' };
    });
    expect(run.status).toBe('COMPLETED');
    expect(await orders.rows(runId)).toEqual([{ item: null, attempt: 2 }]);
    expect((await engine.getTimeline(runId)).some((e) => e.type === 'NODE_INTERRUPTED')).toBe(true);
  });

  it('transactions: a forEach node commits each item in its own transaction; a failed item’s write goes, its retry’s stays', async () => {
    if (!sqlStore()) return;
    const orders = await ordersTable(store());
    const { runId, run } = await runOne(
      async (ctx) => {
        await txWrite(ctx, orders.insert, [ctx.runId, ctx.itemIndex, ctx.meta.attempt]);
        if (ctx.item === 'b' && ctx.meta.attempt === 1) throw new Error('item b fails once');
        return { status: 'ok', output: ctx.item };
      },
      { transaction: true, forEach: () => ['a', 'b', 'c'], concurrency: 2, ...RETRY },
    );
    expect(run).toMatchObject({ status: 'COMPLETED', outputsJson: { write: ['a', 'b', 'c'] } });
    expect(await orders.rows(runId)).toEqual([
      { item: 0, attempt: 1 },
      { item: 1, attempt: 2 },
      { item: 2, attempt: 1 },
    ]);
  });

  it('transactions: a transactional node that waits or starts a child fails (not retried) and its write is rolled back', async () => {
    if (!sqlStore()) return;
    const orders = await ordersTable(store());
    const waited = await runOne(
      async (ctx) => {
        await txWrite(ctx, orders.insert, [ctx.runId, null, ctx.meta.attempt]);
        return { status: 'wait', reason: 'manual' };
      },
      { transaction: true, ...RETRY },
    );
    expect(waited.run).toMatchObject({ status: 'FAILED', error: { code: 'TRANSACTIONAL_NODE_WAIT', retryable: false } });
    const child = await runOne(
      async (ctx) => {
        await txWrite(ctx, orders.insert, [ctx.runId, null, ctx.meta.attempt]);
        return { status: 'child', flowId: 'whatever', version: '1' };
      },
      { transaction: true, ...RETRY },
    );
    expect(child.run).toMatchObject({ status: 'FAILED', error: { code: 'TRANSACTIONAL_NODE_CHILD', retryable: false } });
    expect([...(await orders.rows(waited.runId)), ...(await orders.rows(child.runId))]).toEqual([]);
  });

  it('transactions: each attempt runs at the isolation level its node asks for (read committed by default)', async () => {
    if (!sqlStore()) return;
    const levels: string[] = [];
    const read = async (ctx: FlowContext) => {
      const prisma = ctx.tx as unknown as { $queryRawUnsafe?: (q: string) => Promise<Array<{ transaction_isolation: string }>> };
      const rows = prisma.$queryRawUnsafe
        ? await prisma.$queryRawUnsafe('SHOW transaction_isolation')
        : (await (ctx.tx as SqlTransaction).query<{ transaction_isolation: string }>('SHOW transaction_isolation')).rows;
      levels.push(rows[0]!.transaction_isolation);
      return { status: 'ok' } as const;
    };
    for (const transaction of [true, { isolation: 'repeatable read' as const }, { isolation: 'serializable' as const }]) {
      expect((await runOne(read, { transaction })).run.status).toBe('COMPLETED');
    }
    expect(levels).toEqual(['read committed', 'repeatable read', 'serializable']);
  });

  it('transactions: on the memory store the attempt fails at once with TRANSACTIONS_UNSUPPORTED, naming the store', async () => {
    if (sqlStore()) return;
    let calls = 0;
    const { run } = await runOne(
      () => {
        calls += 1;
        return { status: 'ok' };
      },
      { transaction: { isolation: 'serializable' }, ...RETRY },
    );
    expect(calls).toBe(0);
    expect(run).toMatchObject({ status: 'FAILED', error: { code: 'TRANSACTIONS_UNSUPPORTED', retryable: false } });
    expect(run.error!.message).toContain('memory store');
  });
}
