/**
 * Retention through the engine, on every store: `pruneRuns` deletes finished runs in batches
 * (never live ones, never a parent before its live children, never a child before its live
 * parent), and `applyRetention` applies each flow's `retention` and the default for the others.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FlowEngine, InvalidArgumentError, createMemoryStorage, flow } from '@hazeljs/flow';
import type { JsonText } from '../../src/storage/types.js';
import { engineOnStore } from '../helpers/engine-on-store.js';
import { storeCases } from '../helpers/stores.js';
import { j, step } from '../contract/contract-helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const future = () => new Date(Date.now() + 60_000);

describe.each(storeCases)('retention on $name', (store) => {
  const t = engineOnStore(store, { eventRetentionMs: 50 });

  const quick = (flowId: string, retention?: { finishedRunsMs: number }) =>
    flow(flowId, '1', retention ? { retention } : undefined)
      .entry('a')
      .node('a', async (ctx) =>
        (ctx.input as { fail?: boolean }).fail ? { status: 'error', error: { code: 'NO', message: 'no', retryable: false } } : { status: 'ok', output: 1 },
      )
      .build();

  it('pruneRuns deletes finished runs in batches and leaves live ones', async () => {
    const { engine } = t;
    const def = quick(t.uniq('prune'));
    const waits = flow(def.flowId, '2')
      .entry('w')
      .node('w', async () => ({ status: 'wait', reason: 'manual' }))
      .build();
    const done: string[] = [];
    for (let i = 0; i < 5; i++) {
      const runId = await t.start(def, { fail: i === 4 });
      await engine.runToCompletion(runId);
      done.push(runId);
    }
    const waiting = await t.start(waits);
    await engine.runToCompletion(waiting);
    const running = await t.start(def);
    expect((await engine.getRun(done[4]!))?.status).toBe('FAILED');

    expect(await engine.pruneRuns({ olderThan: future(), flowId: def.flowId, status: 'FAILED' })).toEqual({ deleted: 1 });
    expect(await engine.pruneRuns({ olderThan: future(), flowId: def.flowId, batchSize: 2 })).toEqual({ deleted: 4 });
    for (const runId of done) expect(await engine.getRun(runId)).toBeNull();
    await expect(engine.getTimeline(done[0]!)).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' });
    expect((await engine.getRun(waiting))?.status).toBe('WAITING');
    expect((await engine.getRun(running))?.status).toBe('RUNNING');
    expect(await engine.pruneRuns({ olderThan: future(), flowId: def.flowId })).toEqual({ deleted: 0 });
  });

  it('refuses live statuses and bad options before touching anything', async () => {
    const { engine } = t;
    await expect(engine.pruneRuns({ olderThan: future(), status: 'WAITING' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(engine.pruneRuns({ olderThan: 'yesterday' as unknown as number })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(engine.pruneRuns({ olderThan: future(), batchSize: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(engine.pruneRuns({ olderThan: future(), flowId: '' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(engine.applyRetention({ defaultOlderThanMs: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('keeps a finished parent until its child has finished', async () => {
    const { engine, storage } = t;
    const childDef = flow(t.uniq('child'), '1')
      .entry('c')
      .node('c', async () => ({ status: 'wait', reason: 'manual' }))
      .build();
    const parentDef = flow(t.uniq('parent'), '1')
      .entry('p')
      .node('p', async () => ({ status: 'child', flowId: childDef.flowId, version: '1' }))
      .build();
    await engine.registerDefinition(childDef);
    const parentId = await t.start(parentDef);
    await engine.runToCompletion(parentId);
    const [child] = (await engine.listRuns({ parentRunId: parentId, summary: true })).runs;
    // The parent ends while its child waits on (a bare commit: a cancel or a failure would cancel the child too).
    const lease = (await storage.lockRun(parentId))!;
    await lease.commit(step(lease.run!, { status: 'COMPLETED', currentNodeId: null, branches: j([]) }, { events: [{ type: 'RUN_COMPLETED' }], release: true }));
    expect((await engine.getRun(child!.runId))?.status).toBe('WAITING');
    expect(await engine.pruneRuns({ olderThan: future(), flowId: parentDef.flowId })).toEqual({ deleted: 0 });
    await engine.cancelRun(child!.runId, 'now');
    expect(await engine.pruneRuns({ olderThan: future(), flowId: parentDef.flowId })).toEqual({ deleted: 1 });
    expect(await engine.getRun(parentId)).toBeNull();
  });

  it('keeps a finished child until its parent, still live, has taken its end', async () => {
    const { engine } = t;
    let slept = false;
    const childDef = flow(t.uniq('child'), '1')
      .entry('c')
      .node('c', async () => ({ status: 'ok', output: 'from the child' }))
      .build();
    const parentDef = flow(t.uniq('parent'), '1')
      .entry('start')
      .node('start', () => ({ status: 'ok' }), { split: 'all' })
      .node('a', async () => ({ status: 'child', flowId: childDef.flowId, version: '1' }))
      .node('b', async () => (slept ? { status: 'ok' } : ((slept = true), { status: 'wait', until: new Date(Date.now() + 200).toISOString() })))
      .edge('start', 'a')
      .edge('start', 'b')
      .build();
    await engine.registerDefinition(childDef);
    const parentId = await t.start(parentDef);
    // Step the parent until branch a has started its child (branch b sleeps on its timer).
    let childId: string | undefined;
    for (let i = 0; i < 10 && !childId; i++) {
      await engine.tick(parentId);
      childId = (await engine.listRuns({ parentRunId: parentId, summary: true })).runs[0]?.runId;
    }
    expect(childId).toBeDefined();
    // The child ends at once; its end waits in the parent's inbox when the prune comes.
    expect((await engine.runToCompletion(childId!)).status).toBe('COMPLETED');
    expect(await engine.pruneRuns({ olderThan: 0, flowId: childDef.flowId })).toEqual({ deleted: 0 });
    expect((await engine.getRun(childId!))?.status).toBe('COMPLETED');

    const parent = await engine.runToCompletion(parentId, { maxWaitMs: 10_000 });
    expect(parent.status).toBe('COMPLETED');
    expect(parent.outputsJson).toMatchObject({ a: { c: 'from the child' } });
    // Once the parent has finished, the child may go.
    expect(await engine.pruneRuns({ olderThan: future(), flowId: childDef.flowId })).toEqual({ deleted: 1 });
  });

  it('applyRetention applies each flow its retention and the default to the others', async () => {
    const { engine } = t;
    const kept = quick(t.uniq('kept'), { finishedRunsMs: 60 * 60_000 });
    const short = quick(t.uniq('short'), { finishedRunsMs: 10 });
    const plain = quick(t.uniq('plain'));
    const ids: Record<string, string> = {};
    for (const def of [kept, short, plain]) {
      ids[def.flowId] = await t.start(def);
      await engine.runToCompletion(ids[def.flowId]!);
    }
    await sleep(30);
    // Without a default, only flows with a retention lose runs.
    const first = await engine.applyRetention();
    expect(first.byFlow[`${short.flowId}@1`]).toBe(1);
    expect(first.byFlow[`${kept.flowId}@1`]).toBe(0);
    expect(await engine.getRun(ids[short.flowId]!)).toBeNull();
    expect(await engine.getRun(ids[plain.flowId]!)).not.toBeNull();
    // The default reaches the flows without one, never a flow that has its own.
    const second = await engine.applyRetention({ defaultOlderThanMs: 10 });
    expect(second.byFlow['*']).toBeGreaterThanOrEqual(1);
    expect(await engine.getRun(ids[plain.flowId]!)).toBeNull();
    expect((await engine.getRun(ids[kept.flowId]!))?.status).toBe('COMPLETED');
  });
  it('applyRetention deletes every event past its retention, batch after batch, but none still in an inbox', async () => {
    const { engine, storage } = t;
    const name = t.uniq('paid');
    const waits = flow(t.uniq('waits'), '1')
      .entry('w')
      .node('w', async (ctx) =>
        ctx.state._resumePayload === undefined ? { status: 'wait', event: { name } } : { status: 'ok', output: ctx.state._resumePayload },
      )
      .build();
    const waiter = await t.start(waits);
    expect((await engine.runToCompletion(waiter)).status).toBe('WAITING');
    // More events than one batch deletes (1,000), none waited for; and one delivered to the waiter.
    const old = t.uniq('nobody');
    for (let i = 0; i < 1_500; i += 50) {
      await Promise.all(Array.from({ length: 50 }, () => storage.sendEvent({ eventId: randomUUID(), name: old, key: null, payload: '{"n":1}' as JsonText })));
    }
    const delivered = await storage.sendEvent({ eventId: randomUUID(), name, key: null, payload: '{"amount":3}' as JsonText });
    expect(delivered.delivered).toHaveLength(1);
    await sleep(100); // all of them past eventRetentionMs (50 ms)

    expect((await engine.applyRetention()).events).toBe(1_500);
    // The delivered one was kept for its waiter, which still reads its payload.
    const done = await engine.runToCompletion(waiter);
    expect(done.status).toBe('COMPLETED');
    expect(done.outputsJson).toEqual({ w: { amount: 3 } });
    expect((await engine.applyRetention()).events).toBe(1);
  }, 60_000);
});

describe('event retention on sendEvent (memory)', () => {
  it('a send starts a pass (once a minute) that deletes every event that is due, batch after batch', async () => {
    const storage = createMemoryStorage();
    const engine = new FlowEngine({ storage, eventRetentionMs: 50 });
    for (let i = 0; i < 1_500; i++) await storage.sendEvent({ eventId: randomUUID(), name: 'nobody', key: null, payload: '1' as JsonText });
    await sleep(100);
    // The batches of the pass, as the store returns them.
    const batches: number[] = [];
    let passDone!: () => void;
    const pass = new Promise<void>((resolve) => (passDone = resolve));
    const prune = storage.pruneEvents.bind(storage);
    storage.pruneEvents = async (before, limit) => {
      const n = await prune(before, limit);
      batches.push(n);
      if (n < limit) passDone();
      return n;
    };
    await engine.sendEvent({ name: 'fresh' });
    await Promise.race([pass, sleep(5_000)]);
    expect(batches).toEqual([1000, 500]);
    // A send within the minute starts none.
    await engine.sendEvent({ name: 'fresh' });
    await engine.close();
    expect(batches).toEqual([1000, 500]);
  });
});
