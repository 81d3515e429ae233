/**
 * Answers to waits (a resume, an event) that arrive while the run's holder is busy, on every store:
 *
 * - an answer that arrives after the holder read the inbox but before it commits the wait's
 *   timeout is received, not dropped: `sendEvent` counted it as delivered (`resumeRun` took it),
 *   so the node sees its payload and the timeout path is not taken. The interleaving is forced by
 *   a store wrapper that sends the answer just before the holder's commit of the timeout;
 * - an answer for one branch applies while a sibling branch's handler is still running: the
 *   resumed node runs again before the sibling finishes (the holder hears the wake-up, or finds
 *   the answer by polling its inbox when the wake-up is lost).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowEngine, flow, type FlowDefinition, type FlowStorage, type NodeResult } from '@hazeljs/flow';
import type { RunLease, Transition } from '../../src/storage/types.js';
import { storeCases } from '../helpers/stores.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A transition that ends a wait by its timer (the engine's RUN_RESUMED of a timer). */
const endsWaitByTimer = (t: Transition) =>
  t.events.some((e) => e.type === 'RUN_RESUMED' && typeof e.payload === 'string' && JSON.parse(e.payload).timer === true);

/**
 * `inner`, with a hook run just before a lease commits a transition that ends a wait by its timer
 * (the moment between the holder's read of its inbox and its commit), and wake-ups that can be
 * switched off (a lost notification).
 */
function withHooks(inner: FlowStorage) {
  const hooks = { beforeTimerCommit: null as null | (() => Promise<void>), wakeUps: true };
  const wrapLease = (lease: RunLease): RunLease =>
    new Proxy(lease, {
      get(target, prop) {
        if (prop === 'commit') {
          return async (t: Transition) => {
            const hook = hooks.beforeTimerCommit;
            if (hook && endsWaitByTimer(t)) {
              hooks.beforeTimerCommit = null;
              await hook();
            }
            return target.commit(t);
          };
        }
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  const storage = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'lockRun') {
        return async (...args: Parameters<FlowStorage['lockRun']>) => {
          const lease = await target.lockRun(...args);
          return lease && wrapLease(lease);
        };
      }
      if (prop === 'onWake') return (listener: (runId: string) => void) => target.onWake((runId) => hooks.wakeUps && listener(runId));
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as FlowStorage;
  return { storage, hooks };
}

describe.each(storeCases)('answers to waits on $name', (store) => {
  let inner: FlowStorage;
  let cleanup: () => Promise<void>;
  let engine: FlowEngine;
  let hooks: ReturnType<typeof withHooks>['hooks'];
  let seq = 0;
  const uniq = (name: string) => `${name}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
  beforeAll(async () => {
    ({ storage: inner, cleanup } = await store.make());
    const wrapped = withHooks(inner);
    hooks = wrapped.hooks;
    engine = new FlowEngine({ storage: wrapped.storage });
  });
  afterAll(async () => {
    await engine.close();
    await cleanup();
  });
  const start = async (def: FlowDefinition) => {
    await engine.registerDefinition(def);
    return (await engine.startRun({ flowId: def.flowId, version: def.version, input: {} })).runId;
  };
  const timeline = async (runId: string) => (await engine.getTimeline(runId)).map((e) => `${e.type}${e.nodeId ? ` ${e.nodeId}` : ''}`);

  it('an event delivered while the holder commits the wait’s timeout is received; the timeout path is not taken', async () => {
    const name = uniq('order.paid');
    const seen: unknown[] = [];
    const def = flow(uniq('event-vs-timeout'), '1')
      .entry('pay')
      .node('pay', (ctx): NodeResult => {
        seen.push(ctx.meta.waitTimedOut ? 'timed out' : ctx.state._resumePayload);
        if (ctx.meta.waitTimedOut) return { status: 'ok', output: 'timed out' };
        if (ctx.state._resumePayload !== undefined) return { status: 'ok', output: { paid: ctx.state._resumePayload } };
        return { status: 'wait', event: { name, key: ctx.runId, timeoutMs: 50 } };
      })
      .build();
    const runId = await start(def);
    let delivered = -1;
    hooks.beforeTimerCommit = async () => {
      delivered = (await engine.sendEvent({ name, key: runId, payload: { amount: 12 } })).delivered;
    };
    // Parks on the event, sleeps past the timeout, then commits it: the event arrives just before.
    const run = await engine.runToCompletion(runId);
    expect(delivered).toBe(1);
    expect(seen).toEqual([undefined, { amount: 12 }]);
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson.pay).toEqual({ paid: { amount: 12 } });
    const types = await timeline(runId);
    expect(types).toContain('EVENT_RECEIVED pay');
    expect(types).not.toContain('RUN_RESUMED pay');
  });

  it('a resume taken while the holder commits the wait’s `until` timer is received; the timer path is not taken', async () => {
    const seen: unknown[] = [];
    const def = flow(uniq('resume-vs-timer'), '1')
      .entry('ask')
      .node('ask', (ctx): NodeResult => {
        seen.push(ctx.state._resumePayload);
        if (ctx.state._resumePayload !== undefined) return { status: 'ok', output: { approved: ctx.state._resumePayload } };
        if (seen.length > 1) return { status: 'ok', output: 'timer' };
        return { status: 'wait', reason: 'approval', until: new Date(Date.now() + 50).toISOString() };
      })
      .build();
    const runId = await start(def);
    let resumed: string | undefined;
    hooks.beforeTimerCommit = async () => {
      // resumeRun cannot take the run (the holder has it): its answer is left in the inbox, taken.
      resumed = (await engine.resumeRun(runId, 'yes', { nodeId: 'ask' })).status;
    };
    const run = await engine.runToCompletion(runId);
    expect(resumed).toBe('WAITING');
    expect(seen).toEqual([undefined, 'yes']);
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson.ask).toEqual({ approved: 'yes' });
    const resumes = (await engine.getTimeline(runId)).filter((e) => e.type === 'RUN_RESUMED');
    expect(resumes.map((e) => e.payloadJson)).toEqual([{ payload: 'yes' }]);
  });

  /**
   * `start` splits into `ask`, which waits for an answer (a resume, or the event `event` keyed by
   * the run; no timeout), and `slow`, whose handler blocks until `release()`; both join at `done`.
   */
  const slowSibling = (event?: string) => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const def = flow(uniq('slow-sibling'), '1')
      .entry('start')
      .node('start', () => ({ status: 'ok' }), { split: 'all' })
      .node('ask', (ctx): NodeResult => {
        if (ctx.state._resumePayload !== undefined) return { status: 'ok', output: ctx.state._resumePayload };
        return event ? { status: 'wait', event: { name: event, key: ctx.runId } } : { status: 'wait', reason: 'approval' };
      })
      .node('slow', async () => (await gate, { status: 'ok', output: 'slow' }))
      .node('done', (ctx) => ({ status: 'ok', output: [ctx.outputs.ask, ctx.outputs.slow] }), { join: 'all' })
      .edge('start', 'ask')
      .edge('start', 'slow')
      .edge('ask', 'done')
      .edge('slow', 'done')
      .build();
    return { def, release };
  };

  /** Reads until `check` holds of what was read, for at most `ms`; the last read either way. */
  async function until<T>(read: () => Promise<T>, check: (v: T) => boolean, ms: number): Promise<T> {
    const deadline = Date.now() + ms;
    let value = await read();
    while (!check(value) && Date.now() < deadline) {
      await sleep(20);
      value = await read();
    }
    return value;
  }

  const modes = [
    { how: 'a worker holds the run; resumeRun', worker: true, answer: 'resume', lost: false },
    { how: 'a worker holds the run; sendEvent', worker: true, answer: 'event', lost: false },
    { how: 'runToCompletion holds the run; resumeRun', worker: false, answer: 'resume', lost: false },
    { how: 'runToCompletion holds the run; resumeRun, its wake-up lost (the holder polls its inbox)', worker: false, answer: 'resume', lost: true },
  ] as const;
  it.each(modes)('an answer for one branch applies while a sibling’s handler runs: $how', async ({ worker, answer, lost }) => {
    const event = answer === 'event' ? uniq('approved') : undefined;
    const { def, release } = slowSibling(event);
    const runId = await start(def);
    const w = worker ? engine.startWorker({ concurrency: 2, pollIntervalMs: 50 }) : null;
    const driving = w ? null : engine.runToCompletion(runId);
    try {
      const parked = await until(
        () => engine.getRun(runId),
        (r) => r!.branches.some((b) => b.nodeId === 'ask' && b.status === 'WAITING'),
        10_000,
      );
      expect(parked!.branches.map((b) => [b.nodeId, b.status])).toEqual([
        ['ask', 'WAITING'],
        ['slow', 'RUNNING'],
      ]);
      hooks.wakeUps = !lost;
      if (event) expect((await engine.sendEvent({ name: event, key: runId, payload: 'yes' })).delivered).toBe(1);
      else await engine.resumeRun(runId, 'yes', { nodeId: 'ask' });
      // `slow` is still blocked: the resumed node runs again and its output is committed anyway.
      const types = await until(
        () => timeline(runId),
        (list) => list.includes('NODE_FINISHED ask'),
        5_000,
      );
      expect(types.filter((e) => e.endsWith(' ask'))).toEqual([
        'BRANCH_STARTED ask',
        'NODE_STARTED ask',
        'RUN_WAITING ask',
        event ? 'EVENT_RECEIVED ask' : 'RUN_RESUMED ask',
        'NODE_STARTED ask',
        'NODE_FINISHED ask',
      ]);
      expect(types).not.toContain('NODE_FINISHED slow');
      expect((await engine.getRun(runId))!.outputsJson.ask).toBe('yes');
    } finally {
      hooks.wakeUps = true;
      release();
    }
    const run = w
      ? await until(
          () => engine.getRun(runId),
          (r) => r!.status === 'COMPLETED',
          10_000,
        )
      : await driving!;
    await w?.stop();
    expect(run!.status).toBe('COMPLETED');
    expect(run!.outputsJson.done).toEqual(['yes', 'slow']);
  });
});
