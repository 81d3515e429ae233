/**
 * What `runToCompletion` waits for, as docs/api.md#runtocompletion-what-it-sleeps-through says, on
 * every store: it sleeps through retry backoff, `until` timers and an event wait's `timeoutMs`;
 * it returns at once at a wait with no due time (a resume, an event without timeout); and
 * `maxWaitMs` bounds each single sleep — a due time further away returns the run as it is — not
 * the call's total time.
 */
import { describe, expect, it } from 'vitest';
import { flow, type NodeResult } from '@hazeljs/flow';
import { storeCases } from '../helpers/stores.js';
import { engineOnStore } from '../helpers/engine-on-store.js';

describe.each(storeCases)('runToCompletion on $name', (store) => {
  const t = engineOnStore(store);
  const { uniq, start } = t;

  const eventWait = (timeoutMs?: number) =>
    flow(uniq('event-wait'), '1')
      .entry('wait')
      .node('wait', (ctx): NodeResult => {
        if (ctx.meta.waitTimedOut) return { status: 'ok', output: 'timed out' };
        return { status: 'wait', event: { name: uniq('never-sent'), ...(timeoutMs === undefined ? {} : { timeoutMs }) } };
      })
      .build();

  it("sleeps through an event wait's timeout, unless maxWaitMs is shorter than what is left of it", async () => {
    const long = await start(eventWait(60_000));
    const began = Date.now();
    const parked = await t.engine.runToCompletion(long, { maxWaitMs: 1_000 });
    expect(parked.status).toBe('WAITING');
    expect(parked.branches[0]).toMatchObject({ status: 'WAITING', waitFor: 'event' });
    expect(Date.now() - began).toBeLessThan(5_000);

    const short = await start(eventWait(300));
    const slept = Date.now();
    const done = await t.engine.runToCompletion(short, { maxWaitMs: 1_000 });
    expect(done.status).toBe('COMPLETED');
    expect(done.outputsJson).toEqual({ wait: 'timed out' });
    expect(Date.now() - slept).toBeGreaterThanOrEqual(250);
  });

  it('returns at once at a wait with no due time: a resume, or an event without timeout', async () => {
    const manual = flow(uniq('manual'), '1')
      .entry('ask')
      .node('ask', (): NodeResult => ({ status: 'wait', reason: 'approval' }))
      .build();
    for (const def of [manual, eventWait()]) {
      const run = await t.engine.runToCompletion(await start(def));
      expect(run.status).toBe('WAITING');
      expect(run.nextAttemptAt).toBeNull();
    }
  });

  it('maxWaitMs bounds each sleep, not the total: three 200 ms backoffs pass under maxWaitMs 300', async () => {
    let calls = 0;
    const def = flow(uniq('backoff'), '1')
      .entry('flaky')
      .node('flaky', (): NodeResult => (++calls < 4 ? { status: 'error', error: { code: 'DOWN', message: 'later' } } : { status: 'ok', output: calls }), {
        retry: { maxAttempts: 4, backoff: 'fixed', baseDelayMs: 200 },
      })
      .build();
    const began = Date.now();
    const run = await t.engine.runToCompletion(await start(def), { maxWaitMs: 300 });
    expect(run.status).toBe('COMPLETED');
    expect(Date.now() - began).toBeGreaterThanOrEqual(550);
  });
});
