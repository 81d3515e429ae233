/**
 * The worker knows the engine only as a `WorkerHost` (src/worker/host.ts). Both ways of making a
 * worker still work: `engine.startWorker()` and `new FlowWorker(engine)` + `start()`.
 */
import { describe, expect, it } from 'vitest';
import { FlowEngine, FlowWorker, createMemoryStorage, type WorkerHost } from '../../src/index.js';
import { twoStepFlow } from '../helpers/worker-flows.js';
import { recordingLogger, waitFor } from '../helpers/worker-cluster.js';

describe('a worker and its host', () => {
  it("new FlowWorker(engine, options) runs the engine's flows like engine.startWorker()", async () => {
    const engine = new FlowEngine({ storage: createMemoryStorage() });
    try {
      await engine.registerDefinition(twoStepFlow(() => ({ status: 'ok', output: 1 })));
      const host: WorkerHost = engine;
      const worker = new FlowWorker(host, { pollIntervalMs: 20, logger: recordingLogger().logger });
      worker.start();
      await worker.started;
      expect(worker.status()).toMatchObject({ state: 'RUNNING', flowKeys: ['two-step@1'] });
      const { runId } = await engine.startRun({ flowId: 'two-step', version: '1', input: {} });
      await waitFor(`run ${runId} completed`, async () => (await engine.getRun(runId))?.status === 'COMPLETED');
      expect(worker.status().counters).toMatchObject({ completed: 1, steps: 2, errors: 0 });
      await worker.stop();
      expect(worker.status().state).toBe('STOPPED');
    } finally {
      await engine.close();
    }
  });

  it('the engine tells its workers the flows registered in this process', async () => {
    const engine = new FlowEngine({ storage: createMemoryStorage() });
    try {
      expect(engine.flowKeys()).toEqual([]);
      await engine.registerDefinition(twoStepFlow(() => ({ status: 'ok', output: 1 })));
      expect(engine.flowKeys()).toEqual(['two-step@1']);
    } finally {
      await engine.close();
    }
  });
});
