/**
 * Driver hygiene: no code path sends a statement on a `pg` connection while another is in flight
 * on it. pg@8 queues such a statement but warns ("Calling client.query() when the client is
 * already executing a query", a DeprecationWarning) and pg@9 refuses it. Every `pg.Client#query`
 * of this process is watched (pools, held lease sessions, transactions, the LISTEN connection,
 * Prisma's adapter), through a pg-heavy scenario: migrations, a worker driving runs with retries,
 * event waits (the commit in a transaction after the event-name locks), child runs, cancels and
 * wake-ups, and callers that overlap on one lease (three commits at once, a commit and a
 * release, a re-read after a refused commit let go of the lease) on pg and on Prisma.
 */
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FlowEngine, StaleRunError, createPostgresStorage, flow } from '@hazeljs/flow';
import { createFlowPrismaClient, createPrismaStorage, type PrismaClientLike } from '@hazeljs/flow/prisma';
import type { FlowStorage, JsonText, Transition } from '../../src/storage/types.js';
import { createBareRun } from '../helpers/bare-run.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';

type WatchedClient = { _activeQuery?: unknown; _queryQueue?: unknown[]; _sentQueryQueue?: unknown[] };

/** Calls of `pg.Client#query` made while the client had a statement in flight or queued, with where they came from. */
const overlaps: string[] = [];
const deprecations: string[] = [];
const originalQuery = pg.Client.prototype.query;

function watch(): void {
  pg.Client.prototype.query = function (this: WatchedClient, ...args: unknown[]) {
    const busy = this._activeQuery != null || (this._queryQueue?.length ?? 0) > 0 || (this._sentQueryQueue?.length ?? 0) > 0;
    const here = new Error('a statement sent while another was in flight').stack ?? '';
    if (busy) overlaps.push(`${here}\n--- while this one was in flight:\n${(this as { lastSent?: string }).lastSent ?? '?'}`);
    (this as { lastSent?: string }).lastSent = here;
    return (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof pg.Client.prototype.query;
  process.on('warning', onWarning);
}

function onWarning(warning: Error): void {
  if (warning.name === 'DeprecationWarning' && /already executing a query/.test(warning.message)) deprecations.push(warning.stack ?? warning.message);
}

const j = (v: unknown) => JSON.stringify(v) as JsonText;

function hygieneFlows() {
  let flaky = 0;
  const child = flow('hygiene-child', '1')
    .entry('c')
    .node('c', async () => ({ status: 'ok', output: 'child done' }))
    .build();
  const parent = flow('hygiene', '1')
    .entry('a')
    .node(
      'a',
      async (ctx) =>
        flaky++ % 3 === 0 && ctx.meta.attempt === 1
          ? { status: 'error', error: { code: 'FLAKY', message: 'once', retryable: true } }
          : { status: 'ok', patch: { a: 1 } },
      {
        retry: { maxAttempts: 3, backoff: 'fixed', baseDelayMs: 1 },
      },
    )
    .node('wait', async (ctx) =>
      ctx.state._resumePayload === undefined ? { status: 'wait', event: { name: 'hygiene.go', key: ctx.runId } } : { status: 'ok' },
    )
    .node('spawn', async () => ({ status: 'child', flowId: 'hygiene-child', version: '1' }))
    .edge('a', 'wait')
    .edge('wait', 'spawn')
    .build();
  return [parent, child];
}

/** Callers that overlap on one lease: three commits at once (one wins the fence), then a commit racing a release. */
async function overlappingLeaseCalls(storage: FlowStorage): Promise<void> {
  const run = await createBareRun(storage, { flowId: 'overlap', currentNodeId: 'a', events: [{ type: 'RUN_STARTED', nodeId: 'a' }] });
  const step = (nodeId: string, extra: Partial<Transition> = {}): Transition => ({
    expectedVersion: run.version,
    update: { status: 'RUNNING', currentNodeId: nodeId, attempt: 0, attemptInFlight: false, recoveries: 0, nextAttemptAt: null, waitReason: null, error: null },
    events: [{ type: 'NODE_FINISHED', nodeId }],
    ...extra,
  });
  const lease = (await storage.lockRun(run.runId))!;
  const results = await Promise.allSettled(['n1', 'n2', 'n3'].map((n) => lease.commit(step(n))));
  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof StaleRunError)).toHaveLength(2);
  const next = { ...step('n4'), expectedVersion: lease.run!.version };
  await Promise.allSettled([lease.commit(next), lease.release(), lease.release()]);
  // A refused commit that lets go (its statement unlocks), then a re-read: the engine's path after
  // a StaleRunError. The connection went back to the pool with the release: the read must not use it.
  const again = (await storage.lockRun(run.runId))!;
  await expect(again.commit({ ...step('n5', { release: true }), expectedVersion: 1 })).rejects.toBeInstanceOf(StaleRunError);
  await Promise.all([again.reload(), storage.getRun(run.runId), storage.getRun(run.runId)]);
}

describe.skipIf(!HAVE_PG)('pg driver hygiene: one statement at a time per connection', () => {
  let t: TestSchema;
  const closers: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    watch();
    t = await createTestSchema('flow_hygiene');
  });
  beforeEach(() => {
    overlaps.length = 0;
    deprecations.length = 0;
  });
  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    pg.Client.prototype.query = originalQuery;
    process.off('warning', onWarning);
    await t?.drop();
  });

  it('a worker, events, children, cancels and overlapping lease calls on pg send no statement over another', async () => {
    const storage = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 6 });
    const engine = new FlowEngine({ storage });
    closers.push(() => engine.close());
    for (const def of hygieneFlows()) await engine.registerDefinition(def);
    const worker = engine.startWorker({ concurrency: 4, pollIntervalMs: 20, logger: { debug() {}, info() {}, warn() {}, error() {} } });
    await worker.started;

    const runIds = await Promise.all(Array.from({ length: 12 }, () => engine.startRun({ flowId: 'hygiene', version: '1', input: {} }).then((r) => r.runId)));
    const cancelled = runIds.slice(0, 2);
    await Promise.all(cancelled.map((id) => engine.cancelRun(id, 'hygiene').catch(() => undefined)));
    const rest = runIds.slice(2);
    const deadline = Date.now() + 20_000;
    const statusOf = async (id: string) => (await engine.getRun(id))!.status;
    // Each run parks on its event; send them as they park (some before: the run receives it when it gets there).
    while (Date.now() < deadline) {
      const statuses = await Promise.all(rest.map(statusOf));
      if (statuses.every((s) => s === 'COMPLETED')) break;
      await Promise.all(rest.map((id, i) => (statuses[i] === 'WAITING' ? engine.sendEvent({ name: 'hygiene.go', key: id, payload: { go: true } }) : null)));
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await Promise.all(rest.map(statusOf))).toEqual(rest.map(() => 'COMPLETED'));
    expect((await engine.listRuns({ flowId: 'hygiene-child', status: 'COMPLETED', limit: 100 })).runs.length).toBeGreaterThanOrEqual(rest.length);
    await engine.pruneRuns({ olderThan: new Date(Date.now() + 60_000) });
    await worker.stop();

    await overlappingLeaseCalls(storage);
    await engine.close();

    expect(overlaps).toEqual([]);
    expect(deprecations).toEqual([]);
  });

  it('overlapping lease calls and transactions through Prisma send no statement over another', async () => {
    const client = await createFlowPrismaClient<PrismaClientLike>({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 3 });
    closers.push(async () => client.$disconnect());
    const storage = createPrismaStorage(client, { schema: t.schema, listenConnectionString: TEST_DATABASE_URL });
    closers.push(() => storage.close());
    await storage.init();
    await overlappingLeaseCalls(storage);
    await storage.sendEvent({ eventId: crypto.randomUUID(), name: 'hygiene.prisma', key: null, payload: j(1) });
    expect(overlaps).toEqual([]);
    expect(deprecations).toEqual([]);
  });
});
