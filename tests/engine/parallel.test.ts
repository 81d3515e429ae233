/**
 * Parallel execution on every store: split/join branches that run concurrently, `join: 'any'`
 * aborting the losers, maps over items with bounded concurrency and per-item retries, parallel
 * waits resumed one by one, failures that abort siblings, and recovery that never re-runs a
 * finished item.
 */
import { describe, expect, it } from 'vitest';
import { AmbiguousResumeError, InvalidRunStateError, flow, type NodeResult } from '@hazeljs/flow';
import { storeCases } from '../helpers/stores.js';
import { engineOnStore } from '../helpers/engine-on-store.js';
import { RunDraft } from '../../src/engine/transition.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(storeCases)('parallel execution on $name', (store) => {
  const t = engineOnStore(store);
  const { uniq, start } = t;

  it('runs split branches concurrently and joins them once with every output and patch', async () => {
    const spans: Record<string, [number, number]> = {};
    const work = (name: string) => async (): Promise<NodeResult> => {
      const t0 = Date.now();
      await sleep(60);
      spans[name] = [t0, Date.now()];
      return { status: 'ok', output: name.toUpperCase(), patch: { seen: { [name]: true } } };
    };
    let joins = 0;
    const def = flow(uniq('fanout'), '1')
      .entry('start')
      .node('start', async () => ({ status: 'ok', output: 1 }), { split: 'all' })
      .node('left', work('left'))
      .node('right', work('right'))
      .node(
        'both',
        async (ctx) => {
          joins++;
          return { status: 'ok', output: { left: ctx.outputs.left, right: ctx.outputs.right, seen: ctx.state.seen } };
        },
        { join: 'all' },
      )
      .edge('start', 'left')
      .edge('start', 'right')
      .edge('left', 'both')
      .edge('right', 'both')
      .build();
    const runId = await start(def);
    const run = await t.engine.runToCompletion(runId);
    expect(run.status).toBe('COMPLETED');
    expect(joins).toBe(1);
    expect(run.outputsJson.both).toEqual({ left: 'LEFT', right: 'RIGHT', seen: { left: true, right: true } });
    expect(run.stateJson).toEqual({ seen: { left: true, right: true } });
    expect(run.branches).toEqual([]);
    // The two handlers overlapped in time.
    const [l, r] = [spans.left!, spans.right!];
    expect(Math.max(l[0], r[0])).toBeLessThan(Math.min(l[1], r[1]));
    const timeline = await t.engine.getTimeline(runId);
    const started = timeline.filter((e) => e.type === 'BRANCH_STARTED');
    expect(started.map((e) => e.nodeId)).toEqual(['left', 'right']);
    expect(new Set(started.map((e) => e.branchId)).size).toBe(2);
    expect(timeline.filter((e) => e.type === 'JOIN_COMPLETED')).toHaveLength(1);
    expect(timeline.find((e) => e.type === 'NODE_STARTED' && e.nodeId === 'left')!.branchId).toBe(started[0]!.branchId);
  });

  it("join 'any' goes on with the first arrival and aborts the other branch, committing nothing of it", async () => {
    let slowAborted = false;
    let slowFinished = false;
    let afterRuns = 0;
    const def = flow(uniq('race'), '1')
      .entry('start')
      .node('start', () => ({ status: 'ok' }), { split: 'all' })
      .node('fast', () => ({ status: 'ok', output: 'fast' }))
      .node('slow', async (ctx) => {
        await new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => ((slowAborted = true), resolve()), { once: true });
          setTimeout(resolve, 2000);
        });
        slowFinished = true;
        return { status: 'ok', output: 'slow', patch: { slow: true } };
      })
      .node('first', (ctx) => ((afterRuns += 1), { status: 'ok', output: ctx.outputs.fast }), { join: 'any' })
      .edge('start', 'fast')
      .edge('start', 'slow')
      .edge('fast', 'first')
      .edge('slow', 'first')
      .build();
    const runId = await start(def);
    const run = await t.engine.runToCompletion(runId);
    expect(run.status).toBe('COMPLETED');
    expect(afterRuns).toBe(1);
    expect(run.outputsJson).toEqual({ fast: 'fast', first: 'fast' });
    expect(slowAborted).toBe(true);
    await sleep(20);
    expect(slowFinished).toBe(true);
    const after = await t.engine.getRun(runId);
    expect(after!.version).toBe(run.version);
    expect(after!.stateJson).toEqual({});
    const types = (await t.engine.getTimeline(runId)).map((e) => e.type);
    expect(types).toContain('BRANCH_ABORTED');
  });

  it('maps over items with bounded concurrency, per-item retries and idempotency keys, output in item order', async () => {
    let running = 0;
    let peak = 0;
    const calls = new Map<number, number>();
    const keys: string[] = [];
    const def = flow(uniq('map'), '1')
      .entry('square')
      .node(
        'square',
        async (ctx) => {
          const i = ctx.itemIndex!;
          calls.set(i, (calls.get(i) ?? 0) + 1);
          running++;
          peak = Math.max(peak, running);
          await sleep(15);
          running--;
          if (i === 2 && calls.get(i) === 1) return { status: 'error', error: { code: 'FLAKY', message: 'try again', retryable: true } };
          return { status: 'ok', output: (ctx.item as number) ** 2 };
        },
        {
          forEach: (ctx) => ctx.input as number[],
          concurrency: 3,
          retry: { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 5 },
          idempotencyKey: (ctx) => (keys.push(`item-${ctx.itemIndex}-${ctx.item}`), `${ctx.runId}:sq:${ctx.itemIndex}`),
        },
      )
      .node('sum', (ctx) => ({ status: 'ok', output: (ctx.outputs.square as number[]).reduce((a, b) => a + b, 0) }))
      .edge('square', 'sum')
      .build();
    const items = [1, 2, 3, 4, 5, 6, 7];
    const runId = await start(def, items);
    const run = await t.engine.runToCompletion(runId);
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson.square).toEqual(items.map((x) => x * x));
    expect(run.outputsJson.sum).toBe(140);
    expect(peak).toBeGreaterThan(1);
    expect(peak).toBeLessThanOrEqual(3);
    expect(calls.get(2)).toBe(2);
    expect(keys).toContain('item-0-1');
    const timeline = await t.engine.getTimeline(runId);
    expect(timeline.find((e) => e.type === 'MAP_STARTED')!.payloadJson).toEqual({ items: 7, concurrency: 3 });
    expect(timeline.filter((e) => e.type === 'NODE_FINISHED' && e.itemIndex !== null)).toHaveLength(7);
    expect(timeline.find((e) => e.type === 'NODE_RETRY_SCHEDULED')!.itemIndex).toBe(2);
  });

  it('an item that fails after its retries fails the node and the run, aborting the items in flight', async () => {
    const aborted: number[] = [];
    const def = flow(uniq('map-fail'), '1')
      .entry('m')
      .node(
        'm',
        async (ctx) => {
          if (ctx.itemIndex === 1) return { status: 'error', error: { code: 'BAD_ITEM', message: 'no', retryable: false } };
          await new Promise<void>((resolve) => {
            ctx.signal.addEventListener('abort', () => (aborted.push(ctx.itemIndex!), resolve()), { once: true });
            setTimeout(resolve, 1000);
          });
          return { status: 'ok', output: ctx.itemIndex };
        },
        { forEach: () => [0, 1, 2], concurrency: 3 },
      )
      .build();
    const run = await t.engine.runToCompletion(await start(def));
    expect(run.status).toBe('FAILED');
    expect(run.error).toMatchObject({ code: 'BAD_ITEM' });
    expect(aborted.sort()).toEqual([0, 2]);
    const failed = (await t.engine.getTimeline(run.runId)).find((e) => e.type === 'NODE_FAILED')!;
    expect(failed.itemIndex).toBe(1);
  });

  it('a forEach that does not return an array fails the node with a typed error', async () => {
    const def = flow(uniq('map-bad'), '1')
      .entry('m')
      .node('m', () => ({ status: 'ok' }), { forEach: () => 'nope' as unknown as unknown[] })
      .build();
    const run = await t.engine.runToCompletion(await start(def));
    expect(run.status).toBe('FAILED');
    expect(run.error).toMatchObject({ code: 'INVALID_FOREACH', retryable: false });
    expect(run.error!.message).toContain('"m"');
  });

  it('an empty map finishes at once with an empty array', async () => {
    const def = flow(uniq('map-empty'), '1')
      .entry('m')
      .node('m', () => ({ status: 'ok', output: 'never' }), { forEach: () => [] })
      .build();
    const run = await t.engine.runToCompletion(await start(def));
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson).toEqual({ m: [] });
  });

  it('resumes parallel waits one branch at a time; the payload is seen by the resumed node only', async () => {
    const seen: Record<string, unknown> = {};
    const approve =
      (name: string) =>
      (ctx: { state: Record<string, unknown> }): NodeResult => {
        seen[name] = ctx.state._resumePayload;
        return ctx.state._resumePayload === undefined ? { status: 'wait', reason: `${name}-approval` } : { status: 'ok', output: ctx.state._resumePayload };
      };
    const def = flow(uniq('two-waits'), '1')
      .entry('start')
      .node('start', () => ({ status: 'ok' }), { split: 'all' })
      .node('legal', approve('legal'))
      .node('finance', approve('finance'))
      .node('done', (ctx) => ({ status: 'ok', output: [ctx.outputs.legal, ctx.outputs.finance, ctx.state._resumePayload ?? null] }), { join: 'all' })
      .edge('start', 'legal')
      .edge('start', 'finance')
      .edge('legal', 'done')
      .edge('finance', 'done')
      .build();
    const runId = await start(def);
    let run = await t.engine.runToCompletion(runId);
    expect(run.status).toBe('WAITING');
    expect(run.branches.map((b) => [b.nodeId, b.status, b.status === 'WAITING' ? b.waitReason : null])).toEqual([
      ['legal', 'WAITING', 'legal-approval'],
      ['finance', 'WAITING', 'finance-approval'],
    ]);
    const ambiguous = await t.engine.resumeRun(runId, { ok: 1 }).catch((e: unknown) => e);
    expect(ambiguous).toBeInstanceOf(AmbiguousResumeError);
    expect((ambiguous as AmbiguousResumeError).waiting.map((w) => w.nodeId)).toEqual(['legal', 'finance']);
    await expect(t.engine.resumeRun(runId, {}, { nodeId: 'nowhere' })).rejects.toBeInstanceOf(InvalidRunStateError);

    run = await t.engine.resumeRun(runId, { by: 'ann' }, { nodeId: 'legal' });
    expect(run.status).toBe('WAITING');
    expect(seen.finance).toBeUndefined();
    expect(run.stateJson).toEqual({});
    // The one branch still waiting can now be resumed without naming it.
    await t.engine.resumeRun(runId, { by: 'bob' });
    run = await t.engine.runToCompletion(runId);
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson.done).toEqual([{ by: 'ann' }, { by: 'bob' }, null]);
  });

  it('a branch that fails fails the run and aborts its siblings', async () => {
    let siblingAborted = false;
    const def = flow(uniq('fail-one'), '1')
      .entry('start')
      .node('start', () => ({ status: 'ok' }), { split: 'all' })
      .node('bad', () => ({ status: 'error', error: { code: 'BROKEN', message: 'broken', retryable: false } }))
      .node('slow', async (ctx) => {
        await new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => ((siblingAborted = true), resolve()), { once: true });
          setTimeout(resolve, 1000);
        });
        return { status: 'ok', output: 'late' };
      })
      .edge('start', 'bad')
      .edge('start', 'slow')
      .build();
    const run = await t.engine.runToCompletion(await start(def));
    expect(run.status).toBe('FAILED');
    expect(run.error).toMatchObject({ code: 'BROKEN' });
    expect(siblingAborted).toBe(true);
    expect(run.outputsJson).toEqual({});
    const timeline = await t.engine.getTimeline(run.runId);
    expect(timeline.map((e) => e.type)).toEqual(expect.arrayContaining(['BRANCH_ABORTED', 'RUN_ABORTED']));
    expect(timeline.at(-1)!.payloadJson).toEqual({ error: run.error });
  });

  it("the seed's tick loop drives a split/join flow to the end", async () => {
    const def = flow(uniq('tick-loop'), '1')
      .entry('a')
      .node('a', () => ({ status: 'ok' }), { split: 'all' })
      .node('b', () => ({ status: 'ok', patch: { b: 1 } }))
      .node('c', () => ({ status: 'ok', patch: { c: 1 } }))
      .node('d', (ctx) => ({ status: 'ok', output: ctx.state }), { join: 'all' })
      .edge('a', 'b')
      .edge('a', 'c')
      .edge('b', 'd')
      .edge('c', 'd')
      .build();
    const runId = await start(def);
    let run = await t.engine.getRun(runId);
    let ticks = 0;
    while (run!.status === 'RUNNING' && ticks++ < 20) run = await t.engine.tick(runId);
    expect(run!.status).toBe('COMPLETED');
    expect(run!.outputsJson.d).toEqual({ b: 1, c: 1 });
    expect(ticks).toBeLessThanOrEqual(4);
  });

  it('a holder that dies in the middle of a map leaves a run another holder completes without re-running finished items', async () => {
    const calls = new Map<number, number>();
    const def = flow(uniq('map-crash'), '1')
      .entry('m')
      .node(
        'm',
        (ctx) => {
          calls.set(ctx.itemIndex!, (calls.get(ctx.itemIndex!) ?? 0) + 1);
          return { status: 'ok', output: `item-${ctx.item}` };
        },
        { forEach: () => ['a', 'b', 'c', 'd', 'e', 'f'], concurrency: 2 },
      )
      .build();
    const runId = await start(def);
    // One round: the map starts and items 0 and 1 finish.
    let run = await t.engine.tick(runId);
    expect(run.branches[0]).toMatchObject({ status: 'RUNNING', map: { total: 6, done: 2 } });
    // A holder begins items 2 and 3 and dies before committing them.
    const lease = (await t.storage.lockRun(runId))!;
    const draft = new RunDraft(lease.run!, def, t.engine.stepEnv, lease.run!.readAt.getTime(), new Map());
    expect(draft.beginReady(10)).toBe(2);
    await lease.commit(draft.toTransition(false));
    await lease.release();
    run = await t.engine.runToCompletion(runId);
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson.m).toEqual(['item-a', 'item-b', 'item-c', 'item-d', 'item-e', 'item-f']);
    expect([...calls.entries()].sort()).toEqual([
      [0, 1],
      [1, 1],
      [2, 1],
      [3, 1],
      [4, 1],
      [5, 1],
    ]);
    const interrupted = (await t.engine.getTimeline(runId)).filter((e) => e.type === 'NODE_INTERRUPTED');
    expect(interrupted.map((e) => e.itemIndex).sort()).toEqual([2, 3]);
  });
});
