/**
 * Interrupted attempts (a holder that died mid-attempt), the poison-pill bound, backoff math,
 * the injectable clock, and lifecycle hooks.
 */
import { describe, expect, it } from 'vitest';
import { FlowEngine, ManualClock, createMemoryStorage, flow, type RetryPolicy } from '@hazeljs/flow';
import { retryDelayMs } from '../../src/engine/backoff.js';
import { MAX_RETRY_DELAY_MS } from '../../src/definitions/types.js';
import { storeCases } from '../helpers/stores.js';
import { RunDraft } from '../../src/engine/transition.js';

/**
 * Simulates a worker that took the run over (noting an earlier interruption, as the engine does),
 * began an attempt and died: the "attempt begun" commit lands, nothing after. The commit is the
 * one the engine itself builds for a new holder (recover, then begin what is ready).
 */
async function beginAttemptThenDie(engine: FlowEngine, runId: string): Promise<void> {
  const lease = (await engine.storage.lockRun(runId))!;
  const run = lease.run!;
  const def = engine.registry.require(run.flowId, run.flowVersion);
  const draft = new RunDraft(run, def, engine.stepEnv, run.readAt.getTime(), new Map());
  draft.recoverInterrupted();
  if (!draft.failed) draft.beginReady(1);
  await lease.commit(draft.toTransition(false));
  await lease.release(); // the lock goes away with the dead process
}

describe.each(storeCases)('interrupted attempts on $name', (store) => {
  it('records NODE_INTERRUPTED and runs the next attempt', async () => {
    const { storage, cleanup } = await store.make();
    const engine = new FlowEngine({ storage });
    try {
      let calls = 0;
      const def = flow('crashy-' + Math.random(), '1')
        .entry('a')
        .node('a', async (ctx) => {
          calls++;
          return { status: 'ok', output: ctx.meta.attempt };
        })
        .build();
      await engine.registerDefinition(def);
      const { runId } = await engine.startRun({ flowId: def.flowId, version: '1', input: {} });
      await beginAttemptThenDie(engine, runId);
      const run = await engine.runToCompletion(runId);
      expect(run.status).toBe('COMPLETED');
      expect(run.outputsJson).toEqual({ a: 2 });
      expect(calls).toBe(1);
      const timeline = await engine.getTimeline(runId);
      expect(timeline.map((e) => [e.type, e.attempt])).toEqual([
        ['RUN_STARTED', null],
        ['NODE_STARTED', 1],
        ['NODE_INTERRUPTED', 1],
        ['NODE_STARTED', 2],
        ['NODE_FINISHED', 2],
        ['RUN_COMPLETED', null],
      ]);
      expect(timeline[2]!.error).toMatchObject({ code: 'ATTEMPT_INTERRUPTED' });
    } finally {
      await engine.close();
      await cleanup();
    }
  });

  it('fails the run with POISON_PILL after maxRecoveries interruptions', async () => {
    const { storage, cleanup } = await store.make();
    const engine = new FlowEngine({ storage, maxRecoveries: 2 });
    try {
      let calls = 0;
      const def = flow('poison-' + Math.random(), '1')
        .entry('a')
        .node('a', async () => {
          calls++;
          return { status: 'ok' };
        })
        .build();
      await engine.registerDefinition(def);
      const { runId } = await engine.startRun({ flowId: def.flowId, version: '1', input: {} });
      // Three holders in a row die inside the attempt; the engine taking over after them sees
      // the third interruption, which exceeds maxRecoveries = 2.
      for (let i = 0; i < 3; i++) await beginAttemptThenDie(engine, runId);
      const run = await engine.runToCompletion(runId);
      expect(calls).toBe(0);
      expect(run.status).toBe('FAILED');
      expect(run.error).toMatchObject({ code: 'POISON_PILL', retryable: false });
      expect(run.recoveries).toBe(3);
      const types = (await engine.getTimeline(runId)).map((e) => e.type);
      expect(types.filter((t) => t === 'NODE_INTERRUPTED')).toHaveLength(3);
      expect(types.at(-1)).toBe('RUN_ABORTED');
    } finally {
      await engine.close();
      await cleanup();
    }
  });
});

describe('backoff', () => {
  const exp: RetryPolicy = { maxAttempts: 10, backoff: 'exponential', baseDelayMs: 100, maxDelayMs: 1000 };
  it('doubles from the base and caps at maxDelayMs', () => {
    expect([2, 3, 4, 5, 6, 7].map((a) => retryDelayMs(exp, a))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });
  it('keeps fixed delays fixed', () => {
    expect([2, 3, 9].map((a) => retryDelayMs({ maxAttempts: 9, backoff: 'fixed', baseDelayMs: 250 }, a))).toEqual([250, 250, 250]);
  });
  it('draws jitter within [delay/2, delay]', () => {
    const policy = { ...exp, jitter: true };
    expect(retryDelayMs(policy, 4, () => 0)).toBe(200);
    expect(retryDelayMs(policy, 4, () => 0.999999)).toBe(400);
    for (let i = 0; i < 100; i++) {
      const d = retryDelayMs(policy, 3);
      expect(d).toBeGreaterThanOrEqual(100);
      expect(d).toBeLessThanOrEqual(200);
    }
  });
  it('caps every delay at one year, so the due time always fits the database', () => {
    expect(retryDelayMs({ maxAttempts: 5000, backoff: 'exponential', baseDelayMs: 1 }, 4000)).toBe(MAX_RETRY_DELAY_MS);
    expect(retryDelayMs({ maxAttempts: 60, backoff: 'exponential', baseDelayMs: 1000 }, 50)).toBe(MAX_RETRY_DELAY_MS);
  });
});

describe('injectable clock (memory store)', () => {
  it('waits out an hour-long backoff and a day-long timer without real sleeping', async () => {
    const clock = new ManualClock(new Date('2030-01-01T00:00:00Z'));
    const engine = new FlowEngine({ clock, storage: createMemoryStorage() });
    const def = flow('slow-world', '1')
      .entry('a')
      .node('a', async (ctx) => (ctx.meta.attempt === 1 ? { status: 'error', error: { code: 'LATER', message: 'try in an hour' } } : { status: 'ok' }), {
        retry: { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 3_600_000 },
      })
      .node('b', async (ctx) =>
        ctx.state.slept
          ? { status: 'ok', output: new Date(clock.now()).toISOString() }
          : { status: 'wait', until: '2030-01-02T12:00:00.000Z', patch: { slept: true } },
      )
      .edge('a', 'b')
      .build();
    await engine.registerDefinition(def);
    const { runId } = await engine.startRun({ flowId: 'slow-world', version: '1', input: {} });
    const realStart = Date.now();
    const run = await engine.runToCompletion(runId);
    expect(Date.now() - realStart).toBeLessThan(2000);
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson).toEqual({ b: '2030-01-02T12:00:00.000Z' });
    const retry = (await engine.getTimeline(runId)).find((e) => e.type === 'NODE_STARTED' && e.attempt === 2)!;
    expect(retry.at.toISOString()).toBe('2030-01-01T01:00:00.000Z');
    await engine.close();
  });
});

describe('lifecycle hooks', () => {
  it('fires typed hooks after commits, and a throwing listener does not affect the run', async () => {
    const engine = new FlowEngine();
    const seen: string[] = [];
    const errors: unknown[] = [];
    engine.on('run:started', ({ run }) => seen.push(`started:${run.flowId}`));
    engine.on('node:finished', ({ event }) => seen.push(`finished:${event!.nodeId}`));
    engine.on('run:completed', () => seen.push('completed'));
    engine.on('node:started', () => {
      throw new Error('listener bug');
    });
    engine.on('error', (e) => errors.push(e.error));
    const def = flow('hooked', '1')
      .entry('a')
      .node('a', async () => ({ status: 'ok' }))
      .node('b', async () => ({ status: 'ok' }))
      .edge('a', 'b')
      .build();
    await engine.registerDefinition(def);
    const { runId } = await engine.startRun({ flowId: 'hooked', version: '1', input: {} });
    const run = await engine.runToCompletion(runId);
    expect(run.status).toBe('COMPLETED');
    expect(seen).toEqual(['started:hooked', 'finished:a', 'finished:b', 'completed']);
    expect(errors).toHaveLength(2);
    await engine.close();
  });
});
