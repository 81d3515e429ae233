/**
 * Retention through the engine, on every store: `pruneRuns` deletes finished runs in batches
 * (never live ones, never a parent before its live children), and `applyRetention` applies each
 * flow's `retention` and the default for the others.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, flow } from '@hazeljs/flow';
import type { JsonText } from '../../src/storage/types.js';
import { engineOnStore } from '../helpers/engine-on-store.js';
import { storeCases } from '../helpers/stores.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const future = () => new Date(Date.now() + 60_000);

describe.each(storeCases)('retention on $name', (store) => {
  const t = engineOnStore(store);

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
    await lease.commit({
      expectedVersion: lease.run!.version,
      update: {
        status: 'COMPLETED',
        currentNodeId: null,
        branches: '[]' as JsonText,
        attempt: 0,
        attemptInFlight: false,
        recoveries: 0,
        nextAttemptAt: null,
        waitReason: null,
        error: null,
      },
      events: [{ type: 'RUN_COMPLETED' }],
      release: true,
    });
    expect((await engine.getRun(child!.runId))?.status).toBe('WAITING');
    expect(await engine.pruneRuns({ olderThan: future(), flowId: parentDef.flowId })).toEqual({ deleted: 0 });
    await engine.cancelRun(child!.runId, 'now');
    expect(await engine.pruneRuns({ olderThan: future(), flowId: parentDef.flowId })).toEqual({ deleted: 1 });
    expect(await engine.getRun(parentId)).toBeNull();
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
});
