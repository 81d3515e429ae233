/**
 * Durable failure handlers (`onFailure`), on every store: a run that ends FAILED starts its flow's
 * `onFailure` flow once, in the same write, with `{ runId, flowId, version, error }` as input; the
 * two runs name each other (`failureHandlerRunId`, `failureOf`) without being parent and child;
 * runs that end COMPLETED or CANCELLED start none; a handler that cannot be started says why on
 * the failed run's timeline; a chain of handlers ends where it would loop; and many workers on
 * one store start exactly one handler per failed run.
 */
import { describe, expect, it } from 'vitest';
import { FlowEngine, flow, type FailureHandlerInput, type FlowDefinition, type FlowRunRecord, type FlowStorage, type NodeResult } from '@hazeljs/flow';
import { createMemoryStorage } from '../../src/storage/memory.js';
import { createPostgresStorage } from '../../src/storage/postgres.js';
import { storeCases } from '../helpers/stores.js';
import { engineOnStore } from '../helpers/engine-on-store.js';
import { createTestSchema, TEST_DATABASE_URL } from '../helpers/pg.js';

const fails = (code = 'OUT_OF_STOCK'): NodeResult => ({ status: 'error', error: { code, message: `no luck: ${code}`, retryable: false } });

describe.each(storeCases)('onFailure on $name', (store) => {
  const t = engineOnStore(store);
  const { uniq, start } = t;

  /** A handler flow that records its input as its output (or fails, with `failing`). */
  function handlerFlow(options: { failing?: boolean; onFailure?: { flowId: string; version: string }; id?: string } = {}): FlowDefinition {
    return flow(options.id ?? uniq('handler'), '1', options.onFailure ? { onFailure: options.onFailure } : undefined)
      .entry('h')
      .node('h', (ctx): NodeResult => (options.failing ? fails('HANDLER_BROKE') : { status: 'ok', output: ctx.input }))
      .build();
  }

  function failingFlow(onFailure: { flowId: string; version: string }, id = uniq('order')): FlowDefinition {
    return flow(id, '2', { onFailure })
      .entry('charge')
      .node('charge', () => ({ status: 'ok', output: { charged: 5 } }))
      .node('ship', () => fails())
      .edge('charge', 'ship')
      .build();
  }

  async function handlersOf(runId: string, handler: FlowDefinition): Promise<FlowRunRecord[]> {
    const page = await t.engine.listRuns({ flowId: handler.flowId, limit: 1000 });
    return page.runs.filter((r) => r.failureOf === runId);
  }

  it('a run that ends FAILED starts its handler once, with the failure as input, and the two runs name each other', async () => {
    const handler = handlerFlow();
    await t.engine.registerDefinition(handler);
    const def = failingFlow({ flowId: handler.flowId, version: '1' });
    const runId = await start(def, { order: 1 }, { tenantId: 'acme' });
    const failed = await t.engine.runToCompletion(runId);
    expect(failed.status).toBe('FAILED');
    expect(failed.failureHandlerRunId).toEqual(expect.any(String));
    expect(failed.failureOf).toBeNull();

    const [h, ...more] = await handlersOf(runId, handler);
    expect(more).toEqual([]);
    expect(h!.runId).toBe(failed.failureHandlerRunId);
    expect(h).toMatchObject({ failureOf: runId, failureHandlerRunId: null, parentRunId: null, parentNodeId: null, tenantId: 'acme' });
    expect(h!.idempotencyKey).toBe(`onFailure:${runId}`);
    const error = { code: 'OUT_OF_STOCK', message: 'no luck: OUT_OF_STOCK', retryable: false };
    expect(h!.inputJson).toEqual({ runId, flowId: def.flowId, version: '2', error });
    expect(failed.error).toEqual(error);

    // The failure and the start are one write: the failed run's last events say so.
    const events = await t.engine.getTimeline(runId);
    expect(events.slice(-2).map((e) => e.type)).toEqual(['RUN_ABORTED', 'FAILURE_HANDLER_STARTED']);
    expect(events.at(-1)!.payloadJson).toEqual({ handlerRunId: h!.runId, flowId: handler.flowId, version: '1' });
    expect((await t.engine.getTimeline(h!.runId))[0]).toMatchObject({ type: 'RUN_STARTED', payloadJson: { failureOf: runId } });

    // Not a child: the failed run lists no children, and the handler runs on its own.
    expect((await t.engine.listRuns({ parentRunId: runId })).runs).toEqual([]);
    const done = await t.engine.runToCompletion(h!.runId);
    expect(done.status).toBe('COMPLETED');
    expect(done.outputsJson).toEqual({ h: { runId, flowId: def.flowId, version: '2', error } });
    expect((await t.engine.getRun(runId))!.failureHandlerRunId).toBe(h!.runId);
  });

  it('runs that end COMPLETED or CANCELLED start no handler', async () => {
    const handler = handlerFlow();
    await t.engine.registerDefinition(handler);
    const ok = flow(uniq('fine'), '1', { onFailure: { flowId: handler.flowId, version: '1' } })
      .entry('a')
      .node('a', () => ({ status: 'ok' }))
      .build();
    const waits = flow(uniq('waits'), '1', { onFailure: { flowId: handler.flowId, version: '1' } })
      .entry('a')
      .node('a', (): NodeResult => ({ status: 'wait', reason: 'forever' }))
      .build();
    const completed = await t.engine.runToCompletion(await start(ok));
    expect(completed).toMatchObject({ status: 'COMPLETED', failureHandlerRunId: null });
    const waiting = await start(waits);
    await t.engine.tick(waiting);
    const cancelled = await t.engine.cancelRun(waiting);
    expect(cancelled).toMatchObject({ status: 'CANCELLED', failureHandlerRunId: null });
    expect((await t.engine.listRuns({ flowId: handler.flowId })).runs).toEqual([]);
    for (const runId of [completed.runId, waiting]) {
      expect((await t.engine.getTimeline(runId)).map((e) => e.type)).not.toContain('FAILURE_HANDLER_STARTED');
    }
  });

  it('a handler flow not registered here is not started, and the failed run says why', async () => {
    const def = failingFlow({ flowId: uniq('nowhere'), version: '9' });
    const failed = await t.engine.runToCompletion(await start(def));
    expect(failed).toMatchObject({ status: 'FAILED', failureHandlerRunId: null, error: { code: 'OUT_OF_STOCK' } });
    const last = (await t.engine.getTimeline(failed.runId)).at(-1)!;
    expect(last.type).toBe('FAILURE_HANDLER_SKIPPED');
    expect(last.payloadJson).toMatchObject({ flowId: def.onFailure!.flowId, version: '9', reason: expect.stringContaining('is not registered') });
  });

  it("a handler's failure starts its own flow's handler; a cycle of handlers ends where it would loop", async () => {
    // order -> audit (fails) -> alert: a chain of three.
    const alert = handlerFlow();
    const audit = handlerFlow({ failing: true, onFailure: { flowId: alert.flowId, version: '1' } });
    await t.engine.registerDefinition(alert);
    await t.engine.registerDefinition(audit);
    const order = await start(failingFlow({ flowId: audit.flowId, version: '1' }));
    const failed = await t.engine.runToCompletion(order);
    const auditRun = await t.engine.runToCompletion(failed.failureHandlerRunId!);
    expect(auditRun).toMatchObject({ status: 'FAILED', failureOf: order, error: { code: 'HANDLER_BROKE' } });
    const alertRun = await t.engine.runToCompletion(auditRun.failureHandlerRunId!);
    expect(alertRun).toMatchObject({ status: 'COMPLETED', failureOf: auditRun.runId });
    expect((alertRun.outputsJson.h as { runId: string }).runId).toBe(auditRun.runId);

    // ping's handler is pong, pong's is ping: ping fails, pong fails, and ping is not started again.
    const pingId = uniq('ping');
    const pongId = uniq('pong');
    const pong = handlerFlow({ id: pongId, failing: true, onFailure: { flowId: pingId, version: '2' } });
    await t.engine.registerDefinition(pong);
    const ping = await start(failingFlow({ flowId: pongId, version: '1' }, pingId));
    const pingRun = await t.engine.runToCompletion(ping);
    const pongRun = await t.engine.runToCompletion(pingRun.failureHandlerRunId!);
    expect(pongRun).toMatchObject({ status: 'FAILED', failureOf: ping, failureHandlerRunId: null });
    const last = (await t.engine.getTimeline(pongRun.runId)).at(-1)!;
    expect(last).toMatchObject({ type: 'FAILURE_HANDLER_SKIPPED', payloadJson: { flowId: pingId, version: '2' } });
    expect((last.payloadJson as { reason: string }).reason).toContain('cycle');
    expect((await t.engine.listRuns({ flowId: pingId })).runs).toHaveLength(1);
  });

  it('fires run:started for the handler run in the process whose commit started it', async () => {
    const handler = handlerFlow();
    await t.engine.registerDefinition(handler);
    const started: string[] = [];
    const off = t.engine.on('run:started', ({ run }) => started.push(run.runId));
    try {
      const failed = await t.engine.runToCompletion(await start(failingFlow({ flowId: handler.flowId, version: '1' })));
      await expect.poll(() => started).toContain(failed.failureHandlerRunId);
    } finally {
      off();
    }
  });
});

/**
 * Several engines, each with a worker, on one store (Postgres: each with its own pool, as
 * separate processes would be): every run fails, and exactly one handler exists per failed run.
 */
describe.each(storeCases)('onFailure under concurrent workers on $name', (store) => {
  it('starts exactly one handler per failed run', { timeout: 60_000 }, async () => {
    const { storage, cleanup } = await store.make();
    const stores: FlowStorage[] = [storage];
    let dropSchema: (() => Promise<void>) | undefined;
    if (store.name === 'postgres') {
      // Other pools on a schema of their own, standing for other processes.
      const schema = await createTestSchema('flow_onfail_workers');
      dropSchema = () => schema.drop();
      stores.length = 0;
      for (let i = 0; i < 3; i++) stores.push(createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: schema.schema, poolSize: 3 }));
    }
    const handler = flow('onfail-workers-handler', '1')
      .entry('h')
      .node('h', () => ({ status: 'ok' }))
      .build();
    const def = flow('onfail-workers', '1', { onFailure: { flowId: handler.flowId, version: '1' } })
      .entry('a')
      .node('a', async (): Promise<NodeResult> => {
        await new Promise((r) => setTimeout(r, Math.random() * 5));
        return fails();
      })
      .build();
    const engines = [0, 1, 2].map((i) => new FlowEngine({ storage: stores[i % stores.length]! }));
    try {
      for (const engine of engines) {
        await engine.registerDefinition(handler);
        await engine.registerDefinition(def);
      }
      const RUNS = 40;
      const runIds: string[] = [];
      for (let i = 0; i < RUNS; i++) runIds.push((await engines[i % engines.length]!.startRun({ flowId: def.flowId, version: '1', input: { i } })).runId);
      for (const engine of engines) engine.startWorker({ concurrency: 6, pollIntervalMs: 50, logger: quiet });
      const reader = engines[0]!;
      await expect
        .poll(async () => (await reader.listRuns({ flowId: handler.flowId, status: 'COMPLETED', limit: 1000, summary: true })).runs.length, {
          timeout: 45_000,
          interval: 100,
        })
        .toBe(RUNS);
      const handlers = (await reader.listRuns({ flowId: handler.flowId, limit: 1000 })).runs;
      expect(handlers).toHaveLength(RUNS);
      expect(new Set(handlers.map((h) => h.failureOf))).toEqual(new Set(runIds));
      for (const runId of runIds) {
        const run = (await reader.getRun(runId))!;
        expect(run.status).toBe('FAILED');
        expect(handlers.find((h) => h.failureOf === runId)!.runId).toBe(run.failureHandlerRunId);
        expect((await reader.getTimeline(runId)).filter((e) => e.type === 'FAILURE_HANDLER_STARTED')).toHaveLength(1);
      }
    } finally {
      await Promise.all(engines.map((e) => e.close()));
      if (dropSchema) {
        await Promise.all(stores.map((s) => s.close()));
        await dropSchema();
      }
      await cleanup();
    }
  });
});

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('the example of docs/failures.md', () => {
  it('runs as written', async () => {
    const engine = new FlowEngine({ storage: createMemoryStorage() });
    try {
      const refund = flow('refund', '1')
        .entry('refund')
        .node('refund', (ctx): NodeResult => {
          const failed = ctx.input as FailureHandlerInput; // { runId, flowId, version, error }
          return { status: 'ok', output: { refunded: failed.runId, because: failed.error.code } };
        })
        .build();

      const order = flow('order', '1', { onFailure: { flowId: 'refund', version: '1' } })
        .entry('charge')
        .node('charge', () => ({ status: 'ok', output: { charged: 42 } }))
        .node('ship', () => ({ status: 'error', error: { code: 'NO_CARRIER', message: 'no carrier', retryable: false } }))
        .edge('charge', 'ship')
        .build();

      await engine.registerDefinition(refund);
      await engine.registerDefinition(order);
      const { runId } = await engine.startRun({ flowId: 'order', version: '1', input: {} });
      const failed = await engine.runToCompletion(runId); // FAILED, failureHandlerRunId set
      const handled = await engine.runToCompletion(failed.failureHandlerRunId!); // COMPLETED, failureOf === runId

      expect(failed.status).toBe('FAILED');
      expect(handled).toMatchObject({ status: 'COMPLETED', failureOf: runId, outputsJson: { refund: { refunded: runId, because: 'NO_CARRIER' } } });
    } finally {
      await engine.close();
    }
  });
});
