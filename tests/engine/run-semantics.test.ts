/**
 * Run semantics (DESIGN §2) on every store: steps, edges, retries, timeouts, waits, timers,
 * idempotency, cancel, and the audit timeline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowEngine, FlowError, InvalidRunStateError, flow, type FlowContext, type FlowStorage } from '@hazeljs/flow';
import { storeCases } from '../helpers/stores.js';

describe.each(storeCases)('run semantics on $name', (store) => {
  let storage: FlowStorage;
  let cleanup: () => Promise<void>;
  let engine: FlowEngine;
  let seq = 0;
  const uniq = (name: string) => `${name}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    ({ storage, cleanup } = await store.make());
    engine = new FlowEngine({ storage });
  });
  afterAll(async () => {
    await engine.close();
    await cleanup();
  });

  async function start(def: ReturnType<ReturnType<typeof flow>['build']>, input: unknown = {}, extra = {}) {
    await engine.registerDefinition(def);
    const { runId } = await engine.startRun({ flowId: def.flowId, version: def.version, input, ...extra });
    return runId;
  }

  it('advances one node per tick, deep-merging patches and keeping outputs', async () => {
    const def = flow(uniq('linear'), '1')
      .entry('a')
      .node('a', async (ctx) => ({ status: 'ok', output: { got: ctx.input }, patch: { user: { name: 'ada', tags: ['x'] } } }))
      .node('b', async (ctx) => ({ status: 'ok', output: ctx.outputs.a, patch: { user: { age: 36, tags: ['y'] } } }))
      .edge('a', 'b')
      .build();
    const runId = await start(def, { n: 7 });
    let run = await engine.tick(runId);
    expect(run.status).toBe('RUNNING');
    expect(run.currentNodeId).toBe('b');
    expect(run.outputsJson).toEqual({ a: { got: { n: 7 } } });
    run = await engine.tick(runId);
    expect(run.status).toBe('COMPLETED');
    expect(run.currentNodeId).toBeNull();
    expect(run.stateJson).toEqual({ user: { name: 'ada', age: 36, tags: ['y'] } });
    expect(run.outputsJson).toEqual({ a: { got: { n: 7 } }, b: { got: { n: 7 } } });
    // A finished run is returned unchanged by further ticks.
    const again = await engine.tick(runId);
    expect(again.version).toBe(run.version);
  });

  it('takes the highest-priority matching edge, completes when none match, fails when ambiguous', async () => {
    const build = (id: string, amount: number, tie = false) =>
      flow(id, '1')
        .entry('check')
        .node('check', async () => ({ status: 'ok', patch: { amount } }))
        .node('big', async () => ({ status: 'ok', output: 'big' }))
        .node('small', async () => ({ status: 'ok', output: 'small' }))
        .edge('check', 'big', (ctx) => (ctx.state.amount as number) > 100, 10)
        .edge('check', 'small', (ctx) => (ctx.state.amount as number) > 0, tie ? 10 : 1)
        .build();
    const big = await engine.runToCompletion(await start(build(uniq('branch'), 500)));
    expect(big.outputsJson).toEqual({ big: 'big' });
    const small = await engine.runToCompletion(await start(build(uniq('branch'), 5)));
    expect(small.outputsJson).toEqual({ small: 'small' });
    const none = await engine.runToCompletion(await start(build(uniq('branch'), -1)));
    expect(none.status).toBe('COMPLETED');
    expect(none.outputsJson).toEqual({});
    const ambiguous = await engine.runToCompletion(await start(build(uniq('branch'), 500, true)));
    expect(ambiguous.status).toBe('FAILED');
    expect(ambiguous.error).toMatchObject({ code: 'AMBIGUOUS_EDGE' });
    expect(ambiguous.error!.message).toContain('"big"');
    // The node's own result is kept so the failure can be inspected.
    expect(ambiguous.stateJson).toEqual({ amount: 500 });
  });

  it('fails the run when an edge condition throws', async () => {
    const def = flow(uniq('bad-edge'), '1')
      .entry('a')
      .node('a', async () => ({ status: 'ok' }))
      .node('b', async () => ({ status: 'ok' }))
      .edge('a', 'b', () => {
        throw new Error('boom in when');
      })
      .build();
    const run = await engine.runToCompletion(await start(def));
    expect(run.status).toBe('FAILED');
    expect(run.error).toMatchObject({ code: 'EDGE_CONDITION_ERROR' });
    expect(run.error!.message).toContain('boom in when');
  });

  it('retries durably with backoff, persisting the next attempt time, then succeeds', async () => {
    let calls = 0;
    const def = flow(uniq('retry'), '1')
      .entry('flaky')
      .node(
        'flaky',
        async (ctx) => {
          calls++;
          if (ctx.meta.attempt < 3) throw new Error(`transient ${ctx.meta.attempt}`);
          return { status: 'ok', output: ctx.meta.attempts };
        },
        { retry: { maxAttempts: 3, backoff: 'exponential', baseDelayMs: 40, maxDelayMs: 60 } },
      )
      .build();
    const runId = await start(def);
    const afterFirst = await engine.tick(runId);
    expect(afterFirst.status).toBe('RUNNING');
    expect(afterFirst.nextAttemptAt).toBeInstanceOf(Date);
    expect(afterFirst.dueInMs).toBeGreaterThan(0);
    expect(afterFirst.dueInMs).toBeLessThanOrEqual(40);
    // The retry time is in the store, not only in this process.
    expect((await engine.getRun(runId))!.nextAttemptAt!.getTime()).toBe(afterFirst.nextAttemptAt!.getTime());
    const started = Date.now();
    const afterSecond = await engine.tick(runId); // waits until due, then runs attempt 2
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(afterSecond.status).toBe('RUNNING');
    const done = await engine.tick(runId);
    expect(done.status).toBe('COMPLETED');
    expect(done.outputsJson).toEqual({ flaky: { flaky: 3 } });
    expect(calls).toBe(3);
    const timeline = await engine.getTimeline(runId);
    const failed = timeline.filter((e) => e.type === 'NODE_FAILED');
    expect(failed.map((e) => [e.attempt, e.error?.message])).toEqual([
      [1, 'transient 1'],
      [2, 'transient 2'],
    ]);
    const scheduled = timeline.filter((e) => e.type === 'NODE_RETRY_SCHEDULED');
    expect(scheduled.map((e) => e.payloadJson)).toEqual([{ delayMs: 40 }, { delayMs: 60 }]);
  });

  it('fails after the last attempt, and never retries a non-retryable error', async () => {
    const exhausted = flow(uniq('exhaust'), '1')
      .entry('x')
      .node('x', async () => ({ status: 'error', error: { code: 'UPSTREAM_DOWN', message: 'still down' } }), {
        retry: { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 1 },
      })
      .build();
    const run = await engine.runToCompletion(await start(exhausted));
    expect(run.status).toBe('FAILED');
    expect(run.error).toMatchObject({ code: 'UPSTREAM_DOWN', message: 'still down' });
    const types = (await engine.getTimeline(run.runId)).map((e) => e.type);
    expect(types.filter((t) => t === 'NODE_FAILED')).toHaveLength(2);
    expect(types.at(-1)).toBe('RUN_ABORTED');

    let calls = 0;
    const fatal = flow(uniq('fatal'), '1')
      .entry('x')
      .node(
        'x',
        async () => {
          calls++;
          throw FlowError.nonRetryable('BAD_CARD', 'card declined');
        },
        { retry: { maxAttempts: 5, backoff: 'fixed', baseDelayMs: 1 } },
      )
      .build();
    const fatalRun = await engine.runToCompletion(await start(fatal));
    expect(fatalRun.status).toBe('FAILED');
    expect(fatalRun.error).toMatchObject({ code: 'BAD_CARD', retryable: false });
    expect(calls).toBe(1);

    const declared = flow(uniq('declared'), '1')
      .entry('x')
      .node('x', async () => ({ status: 'error', error: { code: 'NOPE', message: 'no', retryable: false } }), {
        retry: { maxAttempts: 5, backoff: 'fixed', baseDelayMs: 1 },
      })
      .build();
    const declaredRun = await engine.runToCompletion(await start(declared));
    expect((await engine.getTimeline(declaredRun.runId)).filter((e) => e.type === 'NODE_FAILED')).toHaveLength(1);
  });

  it('times out an attempt: aborts ctx.signal and never commits the late result', async () => {
    let sawAbort = false;
    let lateFinished = false;
    const def = flow(uniq('timeout'), '1')
      .entry('slow')
      .node(
        'slow',
        async (ctx: FlowContext) => {
          ctx.signal.addEventListener('abort', () => (sawAbort = true));
          await new Promise((r) => setTimeout(r, 150));
          lateFinished = true;
          return { status: 'ok', patch: { late: true }, output: 'late' };
        },
        { timeoutMs: 30 },
      )
      .build();
    const run = await engine.runToCompletion(await start(def));
    expect(run.status).toBe('FAILED');
    expect(run.error).toMatchObject({ code: 'TIMEOUT', retryable: true });
    expect(sawAbort).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(lateFinished).toBe(true);
    const after = await engine.getRun(run.runId);
    expect(after!.stateJson).toEqual({});
    expect(after!.outputsJson).toEqual({});
    expect(after!.version).toBe(run.version);
  });

  it('waits, then resumes with the payload at ctx.state._resumePayload', async () => {
    const def = flow(uniq('approval'), '1')
      .entry('request')
      .node('request', async (ctx) => {
        const payload = ctx.state._resumePayload as { approved: boolean } | undefined;
        if (payload) return { status: 'ok', output: payload, patch: { approved: payload.approved } };
        return { status: 'wait', reason: 'awaiting_approval', until: 'manual', patch: { asked: true } };
      })
      .node('done', async (ctx) => ({ status: 'ok', output: { final: ctx.outputs.request } }))
      .edge('request', 'done')
      .build();
    const runId = await start(def);
    let run = await engine.runToCompletion(runId);
    expect(run.status).toBe('WAITING');
    expect(run.waitReason).toBe('awaiting_approval');
    expect(run.nextAttemptAt).toBeNull();
    expect(run.stateJson).toEqual({ asked: true });
    // Ticking a manual wait changes nothing.
    expect((await engine.tick(runId)).version).toBe(run.version);
    run = await engine.resumeRun(runId, { approved: true });
    expect(run.status).toBe('RUNNING');
    expect(run.currentNodeId).toBe('done');
    run = await engine.runToCompletion(runId);
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson).toEqual({ request: { approved: true }, done: { final: { approved: true } } });
    // The payload belonged to the resumed attempt; it does not linger in the state.
    expect(run.stateJson).toEqual({ asked: true, approved: true });
    const types = (await engine.getTimeline(runId)).map((e) => e.type);
    expect(types).toContain('RUN_WAITING');
    expect(types).toContain('RUN_RESUMED');
    const resumed = (await engine.getTimeline(runId)).find((e) => e.type === 'RUN_RESUMED');
    expect(resumed!.payloadJson).toEqual({ payload: { approved: true } });
    await expect(engine.resumeRun(runId, {})).rejects.toBeInstanceOf(InvalidRunStateError);
  });

  it('treats an ISO `until` as a durable timer', async () => {
    const def = flow(uniq('timer'), '1')
      .entry('sleep')
      .node('sleep', async (ctx) => {
        if (ctx.state.woke) return { status: 'ok', output: 'after timer' };
        return { status: 'wait', reason: 'timer', until: new Date(Date.now() + 80).toISOString(), patch: { woke: true } };
      })
      .build();
    const runId = await start(def);
    const waiting = await engine.tick(runId);
    expect(waiting.status).toBe('WAITING');
    expect(waiting.nextAttemptAt).toBeInstanceOf(Date);
    expect((await engine.tick(runId)).status).toBe('WAITING'); // not due yet
    const done = await engine.runToCompletion(runId); // sleeps until the timer is due
    expect(done.status).toBe('COMPLETED');
    expect(done.outputsJson).toEqual({ sleep: 'after timer' });
    const resumed = (await engine.getTimeline(runId)).find((e) => e.type === 'RUN_RESUMED');
    expect(resumed!.payloadJson).toEqual({ timer: true });
  });

  it('reuses a committed result for a node idempotency key without calling the handler', async () => {
    let charges = 0;
    const def = flow(uniq('idem'), '1')
      .entry('charge')
      .node(
        'charge',
        async (ctx) => {
          charges++;
          return { status: 'ok', output: { chargeId: `ch_${(ctx.input as { order: string }).order}` }, patch: { charged: true } };
        },
        { idempotencyKey: (ctx) => `charge:${(ctx.input as { order: string }).order}` },
      )
      .build();
    const first = await engine.runToCompletion(await start(def, { order: uniq('o') }));
    const order = (first.inputJson as { order: string }).order;
    const second = await engine.runToCompletion(await start(def, { order }));
    expect(charges).toBe(1);
    expect(second.outputsJson).toEqual(first.outputsJson);
    expect(second.stateJson).toEqual({ charged: true });
    const finished = (await engine.getTimeline(second.runId)).find((e) => e.type === 'NODE_FINISHED');
    expect(finished!.payloadJson).toEqual({ next: null, cached: true });
  });

  it('returns the same run for a repeated startRun idempotency key', async () => {
    const def = flow(uniq('start-idem'), '1')
      .entry('a')
      .node('a', async () => ({ status: 'ok' }))
      .build();
    await engine.registerDefinition(def);
    const key = uniq('key');
    const a = await engine.startRun({ flowId: def.flowId, version: '1', input: { n: 1 }, idempotencyKey: key });
    const b = await engine.startRun({ flowId: def.flowId, version: '1', input: { n: 2 }, idempotencyKey: key });
    expect(a.created).toBe(true);
    expect(b).toEqual({ runId: a.runId, status: 'RUNNING', created: false });
  });

  it('refuses a second cancel, and of two concurrent cancels only one counts', async () => {
    const def = flow(uniq('cancel-twice'), '1')
      .entry('w')
      .node('w', () => ({ status: 'wait', reason: 'forever' }))
      .build();
    const first = await start(def);
    await engine.runToCompletion(first);
    await engine.cancelRun(first, 'first reason');
    await expect(engine.cancelRun(first, 'second reason')).rejects.toBeInstanceOf(InvalidRunStateError);
    expect((await engine.getRun(first))!.error).toMatchObject({ code: 'CANCELLED', message: 'first reason' });
    const racing = await start(def);
    await engine.runToCompletion(racing);
    const results = await Promise.allSettled([engine.cancelRun(racing, 'a'), engine.cancelRun(racing, 'b')]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await engine.getTimeline(racing)).filter((e) => e.type === 'RUN_CANCELLED')).toHaveLength(1);
  });

  it('cancels a waiting run, and aborts an attempt in flight whose result is then discarded', async () => {
    const waitDef = flow(uniq('cancel-wait'), '1')
      .entry('w')
      .node('w', async () => ({ status: 'wait' }))
      .build();
    const waitingId = await start(waitDef);
    await engine.runToCompletion(waitingId);
    const cancelled = await engine.cancelRun(waitingId, 'customer asked');
    expect(cancelled.status).toBe('CANCELLED');
    expect(cancelled.error).toMatchObject({ code: 'CANCELLED', message: 'customer asked' });
    await expect(engine.resumeRun(waitingId, {})).rejects.toBeInstanceOf(InvalidRunStateError);
    expect((await engine.tick(waitingId)).status).toBe('CANCELLED');

    let release!: () => void;
    let aborted = false;
    const started = new Promise<void>((resolveStarted) => {
      const def = flow(uniq('cancel-inflight'), '1')
        .entry('long')
        .node('long', async (ctx) => {
          ctx.signal.addEventListener('abort', () => (aborted = true));
          resolveStarted();
          await new Promise<void>((r) => (release = r));
          return { status: 'ok', patch: { shouldNotLand: true } };
        })
        .build();
      void start(def).then((id) => {
        runIdBox.id = id;
        void engine.tick(id).catch(() => {});
      });
    });
    const runIdBox: { id?: string } = {};
    await started;
    const c = await engine.cancelRun(runIdBox.id!);
    expect(c.status).toBe('CANCELLED');
    expect(aborted).toBe(true);
    release();
    await new Promise((r) => setTimeout(r, 30));
    const final = await engine.getRun(runIdBox.id!);
    expect(final!.status).toBe('CANCELLED');
    expect(final!.stateJson).toEqual({});
    const types = (await engine.getTimeline(runIdBox.id!)).map((e) => e.type);
    expect(types).toEqual(['RUN_STARTED', 'NODE_STARTED', 'RUN_CANCELLED']);
  });

  it('records an audit timeline with gapless sequence, attempts, errors and durations', async () => {
    const def = flow(uniq('audit'), '1')
      .entry('a')
      .node(
        'a',
        async (ctx) => {
          if (ctx.meta.attempt === 1) return { status: 'error', error: { code: 'E1', message: 'first fails' } };
          await new Promise((r) => setTimeout(r, 5));
          return { status: 'ok' };
        },
        { retry: { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 1 } },
      )
      .build();
    const run = await engine.runToCompletion(await start(def));
    const timeline = await engine.getTimeline(run.runId);
    expect(timeline.map((e) => e.seq)).toEqual(timeline.map((_, i) => i + 1));
    expect(run.lastSeq).toBe(timeline.length);
    expect(timeline.map((e) => [e.type, e.attempt])).toEqual([
      ['RUN_STARTED', null],
      ['NODE_STARTED', 1],
      ['NODE_FAILED', 1],
      ['NODE_RETRY_SCHEDULED', 2],
      ['NODE_STARTED', 2],
      ['NODE_FINISHED', 2],
      ['RUN_COMPLETED', null],
    ]);
    expect(timeline[2]!.error).toMatchObject({ code: 'E1', message: 'first fails' });
    expect(timeline[5]!.durationMs).toBeGreaterThanOrEqual(4);
  });

  it('lists runs and flows, and reports running run ids', async () => {
    const def = flow(uniq('listing'), '1')
      .entry('w')
      .node('w', async () => ({ status: 'wait' }))
      .build();
    const tenantId = uniq('tenant');
    await engine.registerDefinition(def);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await engine.startRun({ flowId: def.flowId, version: '1', input: i, tenantId })).runId);
    expect(await engine.getRunningRunIds()).toEqual(expect.arrayContaining(ids));
    await engine.runToCompletion(ids[0]!);
    const waiting = await engine.listRuns({ tenantId, status: 'WAITING' });
    expect(waiting.runs.map((r) => r.runId)).toEqual([ids[0]]);
    const all = await engine.listRuns({ tenantId, flowId: def.flowId, limit: 2 });
    expect(all.runs).toHaveLength(2);
    expect(all.nextCursor).not.toBeNull();
    const flows = await engine.listFlows();
    const mine = flows.find((f) => f.flowId === def.flowId)!;
    expect(mine.registered).toBe(true);
    expect(mine.definitionJson).toMatchObject({ entry: 'w' });
  });
});
