/**
 * Every way a run is made carries its flow's flow control: a child run (its keys from its input,
 * its parent's priority) and a schedule's run (its keys from the schedule's input).
 */
import { describe, expect, it } from 'vitest';
import { FlowEngine } from '../../src/flow-engine.js';
import { flow } from '../../src/definitions/builder.js';
import { createMemoryStorage } from '../../src/storage/memory.js';

describe('flow control on runs not made by startRun', () => {
  it('a child run carries its keys and its parent’s priority; a schedule’s run its keys', async () => {
    const engine = new FlowEngine({ storage: createMemoryStorage() });
    const child = flow<{ sku: string }>('fc-child', '1', { concurrency: { limit: 1, key: (input) => input.sku } })
      .entry('pick')
      .node('pick', () => ({ status: 'ok' }))
      .build();
    const parent = flow('fc-parent', '1')
      .entry('ship')
      .node('ship', () => ({ status: 'child', flowId: 'fc-child', version: '1', input: { sku: 'sku-9' } }))
      .build();
    await engine.registerDefinition(child);
    await engine.registerDefinition(parent);
    const { runId } = await engine.startRun({ flow: parent, input: {}, priority: 4 });
    const done = await engine.runToCompletion(runId);
    expect(done.status).toBe('COMPLETED');
    const [kid] = (await engine.listRuns({ parentRunId: runId })).runs;
    expect(kid).toMatchObject({ priority: 4, flowControl: { concurrency: [{ limit: 1, key: 'sku-9', scope: 'executing' }], rateLimit: null, debounce: null } });

    await engine.schedules.set({ scheduleId: 'fc-nightly', flowId: 'fc-child', cron: '0 2 * * *', input: { sku: 'sku-1' } });
    const triggered = await engine.schedules.trigger('fc-nightly');
    expect((await engine.getRun(triggered.runId))!.flowControl!.concurrency).toEqual([{ limit: 1, key: 'sku-1', scope: 'executing' }]);
    await engine.close();
  });
});
