/**
 * Child runs, events and the inbox on every store: a node that starts a child and finishes with
 * its outputs (or fails with CHILD_FAILED and retries with a new child), maps of children,
 * cancel cascading to children, event waits (sent before the wait, broadcast, keyed, timed out),
 * and resumes that never collide with a holder: of concurrent resumes of one wait exactly one wins.
 */
import { describe, expect, it } from 'vitest';
import { FlowEngine, InvalidArgumentError, InvalidRunStateError, flow, type NodeResult } from '@hazeljs/flow';
import { storeCases } from '../helpers/stores.js';
import { engineOnStore } from '../helpers/engine-on-store.js';

describe.each(storeCases)('children, events and the inbox on $name', (store) => {
  const t = engineOnStore(store);
  const { uniq, start } = t;

  it('a node starts a child run and finishes with its outputs; runToCompletion drives the child too', async () => {
    const child = flow(uniq('child'), '1')
      .entry('double')
      .node('double', (ctx) => ({ status: 'ok', output: (ctx.input as { n: number }).n * 2 }))
      .build();
    await t.engine.registerDefinition(child);
    const parent = flow(uniq('parent'), '1')
      .entry('spawn')
      .node('spawn', (ctx): NodeResult => ({ status: 'child', flowId: child.flowId, version: '1', input: { n: (ctx.input as { n: number }).n } }))
      .node('after', (ctx) => ({ status: 'ok', output: ctx.outputs.spawn }))
      .edge('spawn', 'after')
      .build();
    const runId = await start(parent, { n: 21 });
    const run = await t.engine.runToCompletion(runId);
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson).toEqual({ spawn: { double: 42 }, after: { double: 42 } });
    const children = await t.engine.listRuns({ parentRunId: runId });
    expect(children.runs).toHaveLength(1);
    expect(children.runs[0]).toMatchObject({ parentRunId: runId, parentNodeId: 'spawn', status: 'COMPLETED' });
    const types = (await t.engine.getTimeline(runId)).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['CHILD_STARTED', 'CHILD_FINISHED']));
    const startedEvent = (await t.engine.getTimeline(runId)).find((e) => e.type === 'CHILD_STARTED')!;
    expect(startedEvent.payloadJson).toEqual({ childRunId: children.runs[0]!.runId, flowId: child.flowId, version: '1' });
  });

  it('a failed child fails the node with CHILD_FAILED, retried with a new child', async () => {
    let calls = 0;
    const child = flow(uniq('flaky-child'), '1')
      .entry('work')
      .node('work', () => (++calls === 1 ? { status: 'error', error: { code: 'DOWN', message: 'down', retryable: false } } : { status: 'ok', output: 'fine' }))
      .build();
    await t.engine.registerDefinition(child);
    const parent = flow(uniq('retrying-parent'), '1')
      .entry('spawn')
      .node('spawn', (): NodeResult => ({ status: 'child', flowId: child.flowId, version: '1' }), {
        retry: { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 1 },
      })
      .build();
    const runId = await start(parent);
    const run = await t.engine.runToCompletion(runId);
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson.spawn).toEqual({ work: 'fine' });
    const kids = (await t.engine.listRuns({ parentRunId: runId })).runs.map((r) => r.status).sort();
    expect(kids).toEqual(['COMPLETED', 'FAILED']);
    const failed = (await t.engine.getTimeline(runId)).find((e) => e.type === 'NODE_FAILED')!;
    expect(failed.error).toMatchObject({ code: 'CHILD_FAILED', retryable: true });
    expect(failed.error!.message).toContain('DOWN');
  });

  it('an unknown child flow fails the node with a typed, non-retryable error', async () => {
    const parent = flow(uniq('orphan'), '1')
      .entry('spawn')
      .node('spawn', (): NodeResult => ({ status: 'child', flowId: 'no-such-flow', version: '9' }), {
        retry: { maxAttempts: 3, backoff: 'fixed', baseDelayMs: 1 },
      })
      .build();
    const run = await t.engine.runToCompletion(await start(parent));
    expect(run.status).toBe('FAILED');
    expect(run.error).toMatchObject({ code: 'CHILD_FLOW_NOT_FOUND', retryable: false });
  });

  it('refuses children nested deeper than maxChildDepth', async () => {
    // A second engine on the same store (not closed here: closing an engine closes its store).
    const deep = new FlowEngine({ storage: t.storage, maxChildDepth: 3 });
    {
      const id = uniq('recursive');
      const def = flow(id, '1')
        .entry('again')
        .node('again', (): NodeResult => ({ status: 'child', flowId: id, version: '1' }))
        .build();
      await deep.registerDefinition(def);
      const { runId } = await deep.startRun({ flowId: id, version: '1', input: null });
      const run = await deep.runToCompletion(runId);
      expect(run.status).toBe('FAILED');
      expect(run.error).toMatchObject({ code: 'CHILD_FAILED' });
      expect(run.error!.message).toContain('CHILD_DEPTH_EXCEEDED');
    }
  });

  it('a forEach whose handler returns child fans the map out to child runs', async () => {
    const child = flow(uniq('square'), '1')
      .entry('sq')
      .node('sq', (ctx) => ({ status: 'ok', output: (ctx.input as number) ** 2 }))
      .build();
    await t.engine.registerDefinition(child);
    const parent = flow(uniq('fanout-children'), '1')
      .entry('each')
      .node('each', (ctx): NodeResult => ({ status: 'child', flowId: child.flowId, version: '1', input: ctx.item }), {
        forEach: () => [1, 2, 3, 4],
        concurrency: 2,
      })
      .build();
    const runId = await start(parent);
    const run = await t.engine.runToCompletion(runId);
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson.each).toEqual([{ sq: 1 }, { sq: 4 }, { sq: 9 }, { sq: 16 }]);
    expect((await t.engine.listRuns({ parentRunId: runId })).runs).toHaveLength(4);
  });

  it('cancelling a parent cancels its unfinished children, and theirs', async () => {
    const grandchild = flow(uniq('gc'), '1')
      .entry('w')
      .node('w', (): NodeResult => ({ status: 'wait', reason: 'forever' }))
      .build();
    await t.engine.registerDefinition(grandchild);
    const child = flow(uniq('c'), '1')
      .entry('s')
      .node('s', (): NodeResult => ({ status: 'child', flowId: grandchild.flowId, version: '1' }))
      .build();
    await t.engine.registerDefinition(child);
    const parent = flow(uniq('p'), '1')
      .entry('s')
      .node('s', (): NodeResult => ({ status: 'child', flowId: child.flowId, version: '1' }))
      .build();
    const runId = await start(parent);
    const waiting = await t.engine.runToCompletion(runId);
    expect(waiting.status).toBe('WAITING');
    const [c] = (await t.engine.listRuns({ parentRunId: runId })).runs;
    const [gc] = (await t.engine.listRuns({ parentRunId: c!.runId })).runs;
    expect(gc!.status).toBe('WAITING');
    await t.engine.cancelRun(runId, 'no longer needed');
    expect((await t.engine.getRun(c!.runId))!.status).toBe('CANCELLED');
    expect((await t.engine.getRun(gc!.runId))!.status).toBe('CANCELLED');
  });

  it('an event resumes every branch waiting for it, with its payload; keys select', async () => {
    const name = uniq('order.paid');
    const def = flow(uniq('await-pay'), '1')
      .entry('wait')
      .node('wait', (ctx): NodeResult =>
        ctx.state._resumePayload === undefined
          ? { status: 'wait', reason: 'payment', event: { name, key: (ctx.input as { order: string }).order } }
          : { status: 'ok', output: ctx.state._resumePayload },
      )
      .build();
    const a = await start(def, { order: 'A' });
    const b = await start(def, { order: 'B' });
    const a2 = await start(def, { order: 'A' });
    for (const id of [a, b, a2]) expect((await t.engine.runToCompletion(id)).status).toBe('WAITING');
    const sent = await t.engine.sendEvent({ name, key: 'A', payload: { amount: 5 } });
    expect(sent.delivered).toBe(2);
    expect((await t.engine.runToCompletion(a)).outputsJson).toEqual({ wait: { amount: 5 } });
    expect((await t.engine.runToCompletion(a2)).outputsJson).toEqual({ wait: { amount: 5 } });
    expect((await t.engine.runToCompletion(b)).status).toBe('WAITING');
    const received = (await t.engine.getTimeline(a)).find((e) => e.type === 'EVENT_RECEIVED')!;
    expect(received.payloadJson).toEqual({ eventId: sent.eventId, name, key: 'A' });
  });

  it('an event sent after the run was created but before it reached its wait is not lost, and is consumed once', async () => {
    const name = uniq('ready');
    let seen = 0;
    const def = flow(uniq('late-wait'), '1')
      .entry('first')
      .node('first', () => ({ status: 'ok' }))
      .node('wait', (ctx): NodeResult => {
        if (ctx.state._resumePayload === undefined) return { status: 'wait', event: { name } };
        seen += 1;
        return { status: 'ok', output: ctx.state._resumePayload };
      })
      .node('again', (ctx): NodeResult => (ctx.state._resumePayload === undefined ? { status: 'wait', event: { name } } : { status: 'ok', output: 'second' }))
      .edge('first', 'wait')
      .edge('wait', 'again')
      .build();
    const runId = await start(def);
    // The event comes before the run has even moved.
    await t.engine.sendEvent({ name, payload: 'early' });
    const run = await t.engine.runToCompletion(runId);
    expect(run.outputsJson.wait).toBe('early');
    expect(seen).toBe(1);
    // The same event does not answer the run's next wait for that name.
    expect(run.status).toBe('WAITING');
    expect(run.branches[0]).toMatchObject({ nodeId: 'again', event: { name, key: null } });
    // An event sent before a run was created does not reach it.
    const later = await start(def);
    expect((await t.engine.runToCompletion(later)).branches[0]).toMatchObject({ nodeId: 'wait', status: 'WAITING' });
  });

  it('a wait with timeoutMs re-runs its node with ctx.meta.waitTimedOut and no payload', async () => {
    const seen: Array<[boolean | undefined, unknown]> = [];
    const def = flow(uniq('timeout-wait'), '1')
      .entry('wait')
      .node('wait', (ctx): NodeResult => {
        seen.push([ctx.meta.waitTimedOut, ctx.state._resumePayload]);
        if (ctx.meta.waitTimedOut) return { status: 'ok', output: 'timed out' };
        return { status: 'wait', event: { name: 'never-sent', timeoutMs: 30 } };
      })
      .build();
    const run = await t.engine.runToCompletion(await start(def));
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson.wait).toBe('timed out');
    expect(seen).toEqual([
      [undefined, undefined],
      [true, undefined],
    ]);
  });

  it('validates event names, keys and payloads, writing nothing on a refusal', async () => {
    await expect(t.engine.sendEvent({ name: '' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(t.engine.sendEvent({ name: 'has space' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(t.engine.sendEvent({ name: 'x'.repeat(201) })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(t.engine.sendEvent({ name: 'ok', key: '' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(t.engine.sendEvent({ name: 'ok', payload: 10n })).rejects.toThrow(/event payload/);
  });

  it('of ten concurrent resumes of one wait exactly one wins; the others fail with INVALID_RUN_STATE', async () => {
    const def = flow(uniq('one-wait'), '1')
      .entry('ask')
      .node('ask', (ctx): NodeResult =>
        ctx.state._resumePayload === undefined ? { status: 'wait', reason: 'approval' } : { status: 'ok', output: ctx.state._resumePayload },
      )
      .build();
    const runId = await start(def);
    await t.engine.runToCompletion(runId);
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => t.engine.resumeRun(runId, { by: i })));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost.every((r) => r.reason instanceof InvalidRunStateError)).toBe(true);
    const run = await t.engine.runToCompletion(runId);
    expect(run.status).toBe('COMPLETED');
    expect((await t.engine.getTimeline(runId)).filter((e) => e.type === 'RUN_RESUMED')).toHaveLength(1);
  });

  it('a resume while another holder has the run is taken (never LOCK_BUSY) and applied by the holder', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const def = flow(uniq('busy'), '1')
      .entry('start')
      .node('start', () => ({ status: 'ok' }), { split: 'all' })
      .node('ask', (ctx): NodeResult => (ctx.state._resumePayload === undefined ? { status: 'wait' } : { status: 'ok', output: ctx.state._resumePayload }))
      .node('slow', async () => (await gate, { status: 'ok', output: 'slow' }))
      .edge('start', 'ask')
      .edge('start', 'slow')
      .build();
    const runId = await start(def);
    const driving = t.engine.runToCompletion(runId);
    // Wait until the `ask` branch parked while `slow` still holds the run.
    for (let i = 0; i < 200; i++) {
      const r = await t.engine.getRun(runId);
      if (r!.branches.some((b) => b.nodeId === 'ask' && b.status === 'WAITING')) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const resumed = await t.engine.resumeRun(runId, 'yes', { nodeId: 'ask' });
    expect(['RUNNING', 'WAITING']).toContain(resumed.status);
    release();
    await driving;
    const run = await t.engine.runToCompletion(runId);
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson).toEqual({ ask: 'yes', slow: 'slow' });
  });
});
