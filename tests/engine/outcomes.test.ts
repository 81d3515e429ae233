/**
 * Business outcomes on every store: an ok result's `outcome` becomes the run's (a later one
 * replaces it, a map item's counts, a cached result's too), is kept whatever the run ends with,
 * is shown on NODE_FINISHED, and filters `listRuns`; a bad one fails the node for good.
 */
import { describe, expect, it } from 'vitest';
import { flow, InvalidArgumentError, type NodeResult } from '@hazeljs/flow';
import { MAX_OUTCOME_LENGTH } from '../../src/core/outcome.js';
import { engineOnStore } from '../helpers/engine-on-store.js';
import { storeCases } from '../helpers/stores.js';

/** A result no type allows, as a JavaScript handler could return it. */
const untyped = (result: Record<string, unknown>) => result as unknown as NodeResult;

describe.each(storeCases)('business outcomes on $name', (store) => {
  const t = engineOnStore(store);

  /** A refund flow: `check` declines an order over the limit (a planned path), else `refund` refunds it. */
  const refundFlow = (id: string) =>
    flow(id, '1')
      .entry('check')
      .node('check', (ctx) => ({ status: 'ok', output: { amount: (ctx.input as { amount: number }).amount }, outcome: 'checked' }))
      .node('refund', () => ({ status: 'ok', outcome: 'refunded' }))
      .node('decline', () => ({ status: 'ok', outcome: 'declined' }))
      .node('notify', () => ({ status: 'ok', output: 'sent' }))
      .edge('check', 'decline', (ctx) => (ctx.outputs.check as { amount: number }).amount > 100, 10)
      .edge('check', 'refund')
      .edge('refund', 'notify')
      .edge('decline', 'notify')
      .build();

  it('sets the run outcome from a result, replaces it with a later one and keeps it to COMPLETED', async () => {
    const def = refundFlow(t.uniq('refund'));
    const runId = await t.start(def, { amount: 40 });
    expect((await t.engine.getRun(runId))!.outcome).toBeNull();
    let run = await t.engine.tick(runId);
    expect(run.outcome).toBe('checked');
    run = await t.engine.tick(runId);
    expect(run.outcome).toBe('refunded');
    // `notify` carries none: the run keeps the last one.
    run = await t.engine.tick(runId);
    expect(run).toMatchObject({ status: 'COMPLETED', outcome: 'refunded', error: null });
    expect((await t.engine.getRun(runId))!.outcome).toBe('refunded');
    const finished = (await t.engine.getTimeline(runId)).filter((e) => e.type === 'NODE_FINISHED');
    expect(finished.map((e) => [e.nodeId, (e.payloadJson as { outcome?: string } | null)?.outcome])).toEqual([
      ['check', 'checked'],
      ['refund', 'refunded'],
      ['notify', undefined],
    ]);
  });

  it('a run that ends on a planned path is COMPLETED with its outcome, not FAILED', async () => {
    const def = refundFlow(t.uniq('decline'));
    const run = await t.engine.runToCompletion(await t.start(def, { amount: 500 }));
    expect(run).toMatchObject({ status: 'COMPLETED', outcome: 'declined', error: null });
  });

  it('lists runs by outcome: one or several, with status, flow and summaries; runs without one never match', async () => {
    const def = refundFlow(t.uniq('listed'));
    const refunded = await t.engine.runToCompletion(await t.start(def, { amount: 1 }));
    const declined = await t.engine.runToCompletion(await t.start(def, { amount: 101 }));
    const waiting = flow(t.uniq('parked'), '1')
      .entry('a')
      .node('a', (ctx) => (ctx.state._resumePayload ? { status: 'ok' } : { status: 'wait', reason: 'approval' }))
      .build();
    const parked = await t.engine.runToCompletion(await t.start(waiting));
    expect(parked).toMatchObject({ status: 'WAITING', outcome: null });

    const ids = async (filter: Parameters<typeof t.engine.listRuns>[0]) => (await t.engine.listRuns(filter)).runs.map((r) => r.runId).sort();
    expect(await ids({ flowId: def.flowId, outcome: 'refunded' })).toEqual([refunded.runId]);
    expect(await ids({ flowId: def.flowId, outcome: ['refunded', 'declined'] })).toEqual([refunded.runId, declined.runId].sort());
    expect(await ids({ flowId: def.flowId, outcome: 'declined', status: 'COMPLETED' })).toEqual([declined.runId]);
    expect(await ids({ flowId: def.flowId, outcome: 'declined', status: ['FAILED', 'WAITING'] })).toEqual([]);
    expect(await ids({ flowId: waiting.flowId, outcome: 'refunded' })).toEqual([]);
    const summaries = await t.engine.listRuns({ flowId: def.flowId, outcome: 'declined', summary: true });
    expect(summaries.runs).toEqual([expect.objectContaining({ runId: declined.runId, outcome: 'declined' })]);
    // Pages by outcome like any other list.
    const first = await t.engine.listRuns({ flowId: def.flowId, outcome: ['refunded', 'declined'], limit: 1 });
    const second = await t.engine.listRuns({ flowId: def.flowId, outcome: ['refunded', 'declined'], limit: 1, cursor: first.nextCursor! });
    const whole = (await t.engine.listRuns({ flowId: def.flowId, outcome: ['refunded', 'declined'] })).runs.map((r) => r.runId);
    expect(whole).toHaveLength(2);
    expect([first.runs[0]!.runId, second.runs[0]!.runId]).toEqual(whole);
    expect(second.nextCursor).toBeNull();
  });

  it('refuses an outcome filter no outcome could match', async () => {
    for (const outcome of ['', 'x'.repeat(MAX_OUTCOME_LENGTH + 1), 7, [], ['ok', ''], 'a\u0000b']) {
      await expect(t.engine.listRuns({ outcome: outcome as string })).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(t.engine.listRuns({ outcome: 'x'.repeat(MAX_OUTCOME_LENGTH) })).resolves.toEqual({ runs: [], nextCursor: null });
  });

  it.each([
    ['a number', 7, 'outcome must be a string, got number'],
    ['null', null, 'outcome must be a string, got null'],
    ['an empty string', '', 'outcome must not be empty'],
    ['an over-long string', 'x'.repeat(MAX_OUTCOME_LENGTH + 1), `outcome must be at most ${MAX_OUTCOME_LENGTH} characters`],
    ['text Postgres cannot store', 'bad\u0000', 'outcome contains U+0000'],
  ])('fails the node, without retrying it, on an outcome that is %s', async (_what, outcome, message) => {
    let calls = 0;
    const def = flow(t.uniq('bad-outcome'), '1')
      .entry('a')
      .node('a', () => ({ status: 'ok', outcome: 'before' }))
      .node(
        'b',
        () => {
          calls += 1;
          return untyped({ status: 'ok', output: 1, outcome });
        },
        { retry: { maxAttempts: 3, backoff: 'fixed', baseDelayMs: 1 } },
      )
      .edge('a', 'b')
      .build();
    const run = await t.engine.runToCompletion(await t.start(def));
    expect(calls).toBe(1);
    expect(run).toMatchObject({ status: 'FAILED', outcome: 'before', error: { code: 'INVALID_NODE_RESULT', retryable: false } });
    expect(run.error!.message).toContain(message);
    expect(run.outputsJson).not.toHaveProperty('b');
  });

  it('refuses an outcome on a wait or child result (it would be dropped)', async () => {
    const def = flow(t.uniq('wait-outcome'), '1')
      .entry('a')
      .node('a', () => untyped({ status: 'wait', reason: 'x', outcome: 'waiting' }))
      .build();
    const run = await t.engine.runToCompletion(await t.start(def));
    expect(run).toMatchObject({ status: 'FAILED', outcome: null, error: { code: 'INVALID_NODE_RESULT' } });
    expect(run.error!.message).toContain('outcome is taken on an ok result only, not on a wait result');
  });

  it("a map item's outcome counts: the last one committed is the run's", async () => {
    const def = flow(t.uniq('map-outcome'), '1')
      .entry('m')
      .node('m', (ctx) => ({ status: 'ok', output: ctx.item, outcome: `item-${String(ctx.item)}` }), { forEach: () => ['a', 'b', 'c'], concurrency: 1 })
      .build();
    const runId = await t.start(def);
    const run = await t.engine.runToCompletion(runId);
    expect(run).toMatchObject({ status: 'COMPLETED', outcome: 'item-c', outputsJson: { m: ['a', 'b', 'c'] } });
    const items = (await t.engine.getTimeline(runId)).filter((e) => e.type === 'NODE_FINISHED' && e.itemIndex !== null);
    expect(items.map((e) => (e.payloadJson as { outcome?: string }).outcome)).toEqual(['item-a', 'item-b', 'item-c']);
  });

  it('a result reused from its idempotency record brings its outcome along', async () => {
    let calls = 0;
    const key = t.uniq('charge');
    const def = flow(t.uniq('idem-outcome'), '1')
      .entry('charge')
      .node(
        'charge',
        () => {
          calls += 1;
          return { status: 'ok', output: { charged: true }, outcome: 'charged' };
        },
        { idempotencyKey: () => key },
      )
      .build();
    const first = await t.engine.runToCompletion(await t.start(def));
    const secondId = await t.start(def);
    const second = await t.engine.runToCompletion(secondId);
    expect(calls).toBe(1);
    expect(first.outcome).toBe('charged');
    expect(second).toMatchObject({ status: 'COMPLETED', outcome: 'charged', outputsJson: { charge: { charged: true } } });
    const finished = (await t.engine.getTimeline(secondId)).find((e) => e.type === 'NODE_FINISHED')!;
    expect(finished.payloadJson).toEqual({ next: null, cached: true, outcome: 'charged' });
  });

  it('keeps the outcome when the run fails later, and a child run keeps its own', async () => {
    const child = flow(t.uniq('ship'), '1')
      .entry('ship')
      .node('ship', () => ({ status: 'ok', output: { tracking: 'T1' }, outcome: 'shipped' }))
      .build();
    await t.engine.registerDefinition(child);
    const def = flow(t.uniq('order'), '1')
      .entry('charge')
      .node('charge', () => ({ status: 'ok', outcome: 'charged' }))
      .node('ship', (): NodeResult => ({ status: 'child', flowId: child.flowId, version: '1' }))
      .node('fail', () => ({ status: 'error', error: { code: 'LATE', message: 'after the outcome', retryable: false } }))
      .edge('charge', 'ship')
      .edge('ship', 'fail')
      .build();
    const run = await t.engine.runToCompletion(await t.start(def));
    expect(run).toMatchObject({ status: 'FAILED', outcome: 'charged', error: { code: 'LATE' } });
    const [shipped] = (await t.engine.listRuns({ parentRunId: run.runId })).runs;
    expect(shipped).toMatchObject({ status: 'COMPLETED', outcome: 'shipped' });
  });
});
