/**
 * The lifecycle hooks (`engine.on`) as docs/api.md#lifecycle-hooks-engineon describes them, on
 * every store: which hook fires for which committed timeline event, what the payload holds (the
 * run after the commit, and the event as written: its payload JSON text, no `seq`), that hooks
 * fire only in the process (engine) that made the change, and which changes fire no hook.
 */
import { describe, expect, it } from 'vitest';
import { FlowEngine, flow, type FlowHookMap, type FlowHookName, type NodeResult } from '@hazeljs/flow';
import { storeCases } from '../helpers/stores.js';
import { engineOnStore } from '../helpers/engine-on-store.js';

const HOOKS: Array<Exclude<FlowHookName, 'error'>> = [
  'run:started',
  'node:started',
  'node:finished',
  'node:failed',
  'node:interrupted',
  'node:retry-scheduled',
  'run:waiting',
  'run:resumed',
  'run:completed',
  'run:failed',
  'run:cancelled',
];

type Seen = { hook: FlowHookName; runId: string; status: string; event?: FlowHookMap['node:started']['event'] };

/** Every hook of `engine` recorded in order; `off` unsubscribes them all. */
function record(engine: FlowEngine): { seen: Seen[]; off: () => void } {
  const seen: Seen[] = [];
  const offs = HOOKS.map((hook) => engine.on(hook, ({ run, event }) => void seen.push({ hook, runId: run.runId, status: run.status, event })));
  return { seen, off: () => offs.forEach((off) => off()) };
}

describe.each(storeCases)('lifecycle hooks on $name', (store) => {
  const t = engineOnStore(store);
  const { uniq, start } = t;

  it('maps each committed event to its hook, with the run after the commit and the event as written', async () => {
    let calls = 0;
    const def = flow(uniq('hooked'), '1')
      .entry('flaky')
      .node('flaky', (): NodeResult => (++calls === 1 ? { status: 'error', error: { code: 'DOWN', message: 'try later' } } : { status: 'ok', output: 1 }), {
        retry: { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 1 },
      })
      .node('ask', (ctx): NodeResult => (ctx.state._resumePayload === undefined ? { status: 'wait', reason: 'approval' } : { status: 'ok' }))
      .edge('flaky', 'ask')
      .build();
    const { seen, off } = record(t.engine);
    try {
      const runId = await start(def);
      await t.engine.runToCompletion(runId);
      await t.engine.resumeRun(runId, { ok: true });
      await t.engine.runToCompletion(runId);
      const mine = seen.filter((s) => s.runId === runId);
      expect(mine.map((s) => `${s.hook}${s.event?.nodeId ? ` ${s.event.nodeId}` : ''}`)).toEqual([
        'run:started',
        'node:started flaky',
        'node:failed flaky',
        'node:retry-scheduled flaky',
        'node:started flaky',
        'node:finished flaky',
        'node:started ask',
        'run:waiting ask',
        'run:resumed ask',
        'node:started ask',
        'node:finished ask',
        'run:completed',
      ]);
      // run:started carries no event; the others carry the event as written: payload is JSON text.
      expect(mine[0]!.event).toBeUndefined();
      const failed = mine.find((s) => s.hook === 'node:failed')!.event!;
      expect(failed).toMatchObject({ type: 'NODE_FAILED', nodeId: 'flaky', branchId: 'b1', attempt: 1, error: { code: 'DOWN', message: 'try later' } });
      expect(failed).not.toHaveProperty('seq');
      const retry = mine.find((s) => s.hook === 'node:retry-scheduled')!.event!;
      expect(typeof retry.payload).toBe('string');
      expect(JSON.parse(retry.payload as string)).toEqual({ delayMs: 1 });
      expect(retry.attempt).toBe(2);
      const waiting = mine.find((s) => s.hook === 'run:waiting')!;
      expect(waiting.status).toBe('WAITING');
      expect(JSON.parse(waiting.event!.payload as string)).toMatchObject({ reason: 'approval' });
      expect(JSON.parse(mine.find((s) => s.hook === 'run:resumed')!.event!.payload as string)).toEqual({ payload: { ok: true } });
      expect(mine.at(-1)).toMatchObject({ hook: 'run:completed', status: 'COMPLETED' });
    } finally {
      off();
    }
  });

  it('run:failed carries RUN_ABORTED and its error; a repeated startRun idempotency key fires no run:started', async () => {
    const def = flow(uniq('fails'), '1')
      .entry('a')
      .node('a', (): NodeResult => ({ status: 'error', error: { code: 'NOPE', message: 'no', retryable: false } }))
      .build();
    const { seen, off } = record(t.engine);
    try {
      const key = uniq('key');
      const runId = await start(def, {}, { idempotencyKey: key });
      await t.engine.startRun({ flowId: def.flowId, version: '1', input: {}, idempotencyKey: key });
      await t.engine.runToCompletion(runId);
      const mine = seen.filter((s) => s.runId === runId);
      expect(mine.filter((s) => s.hook === 'run:started')).toHaveLength(1);
      const failed = mine.find((s) => s.hook === 'run:failed')!;
      expect(failed.status).toBe('FAILED');
      expect(failed.event).toMatchObject({ type: 'RUN_ABORTED', nodeId: 'a', error: { code: 'NOPE' } });
      expect(JSON.parse(failed.event!.payload as string)).toEqual({ error: expect.objectContaining({ code: 'NOPE' }) });
    } finally {
      off();
    }
  });

  it('fires in the engine that made the change only; an event that answers a wait fires no hook of its own', async () => {
    const name = uniq('paid');
    const def = flow(uniq('elsewhere'), '1')
      .entry('wait')
      .node('wait', (ctx): NodeResult => (ctx.state._resumePayload === undefined ? { status: 'wait', event: { name } } : { status: 'ok' }))
      .build();
    // Two engines on one store stand for two processes: `other` drives, `t.engine` only starts.
    const other = new FlowEngine({ storage: t.storage });
    await other.registerDefinition(def);
    const here = record(t.engine);
    const there = record(other);
    try {
      const runId = await start(def);
      await other.runToCompletion(runId);
      await t.engine.sendEvent({ name });
      await other.runToCompletion(runId);
      expect(here.seen.filter((s) => s.runId === runId).map((s) => s.hook)).toEqual(['run:started']);
      // EVENT_RECEIVED has no hook: the answered wait shows as the node's next node:started.
      expect(there.seen.filter((s) => s.runId === runId).map((s) => s.hook)).toEqual([
        'node:started',
        'run:waiting',
        'node:started',
        'node:finished',
        'run:completed',
      ]);
    } finally {
      here.off();
      there.off();
    }
  });

  it('run:cancelled fires without an event, for the cancelled run and for each run cancelled below it', async () => {
    const child = flow(uniq('child'), '1')
      .entry('hold')
      .node('hold', (): NodeResult => ({ status: 'wait', reason: 'forever' }))
      .build();
    await t.engine.registerDefinition(child);
    const parent = flow(uniq('parent'), '1')
      .entry('spawn')
      .node('spawn', (): NodeResult => ({ status: 'child', flowId: child.flowId, version: '1', input: {} }))
      .build();
    const runId = await start(parent);
    await t.engine.runToCompletion(runId);
    const [kid] = (await t.engine.listRuns({ parentRunId: runId })).runs;
    const { seen, off } = record(t.engine);
    try {
      await t.engine.cancelRun(runId, 'changed my mind');
      await expect.poll(() => seen.filter((s) => s.hook === 'run:cancelled').map((s) => s.runId)).toEqual(expect.arrayContaining([runId, kid!.runId]));
      const cancelled = seen.filter((s) => s.hook === 'run:cancelled');
      expect(cancelled).toHaveLength(2);
      for (const s of cancelled) expect(s).toMatchObject({ status: 'CANCELLED', event: undefined });
    } finally {
      off();
    }
  });

  it("an async listener's rejection is reported on 'error', not left unhandled", async () => {
    const reported: Array<{ hook: string; error: unknown }> = [];
    const offError = t.engine.on('error', (e) => void reported.push(e));
    const offAsync = t.engine.on('run:completed', async () => {
      await Promise.resolve();
      throw new Error('listener broke');
    });
    try {
      const def = flow(uniq('async-hook'), '1')
        .entry('a')
        .node('a', (): NodeResult => ({ status: 'ok' }))
        .build();
      const done = await t.engine.runToCompletion(await start(def));
      expect(done.status).toBe('COMPLETED');
      await new Promise((r) => setTimeout(r, 10));
      expect(reported).toEqual([{ hook: 'run:completed', error: new Error('listener broke') }]);
    } finally {
      offAsync();
      offError();
    }
  });
});
