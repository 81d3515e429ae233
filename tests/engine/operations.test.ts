/**
 * Operating the engine, on memory, PGlite and Postgres: `engine.metrics()` after known work (the
 * counts are what ran), and the workers' registry (a worker records itself, a silent one is shown
 * so and then dropped, a stopped one is gone; the runs of flows no live worker serves).
 */
import { describe, expect, it } from 'vitest';
import { flow } from '../../src/definitions/builder.js';
import type { NodeResult } from '../../src/definitions/types.js';
import { engineOnStore } from '../helpers/engine-on-store.js';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text.js';
import { storeCases } from '../helpers/stores.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const store of storeCases) {
  describe(`operations (${store.name})`, () => {
    const h = engineOnStore(store);

    it('metrics: runs by status, runs due, steps by outcome, step durations, claim lag, in flight, commit batches — as they ran', async () => {
      const ok = () => ({ status: 'ok' as const });
      const twoSteps = flow(h.uniq('two'), '1').entry('a').node('a', ok).node('b', ok).edge('a', 'b').build();
      const flaky = flow(h.uniq('flaky'), '1')
        .entry('f')
        .node(
          'f',
          (ctx): NodeResult => (ctx.meta.attempt === 1 ? { status: 'error', error: { code: 'E', message: 'once', retryable: true } } : { status: 'ok' }),
          { retry: { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 1 } },
        )
        .build();
      const waits = flow(h.uniq('waits'), '1')
        .entry('w')
        .node('w', () => ({ status: 'wait', reason: 'approval' }))
        .build();
      const pending = flow(h.uniq('pending'), '1').entry('p').node('p', ok).build();
      const before = parsePrometheusText(await h.engine.metrics());
      expect(sampleValue(before, 'hazel_flow_runs', { flow: twoSteps.flowId, version: '1', status: 'COMPLETED' })).toBe(0);

      for (let i = 0; i < 3; i++) await h.engine.runToCompletion(await h.start(twoSteps));
      await h.engine.runToCompletion(await h.start(flaky));
      await h.engine.runToCompletion(await h.start(waits));
      await h.start(pending); // due, never driven (no worker serves it yet)
      const m = parsePrometheusText(await h.engine.metrics());
      const v = (name: string, labels: Record<string, string> = {}) => sampleValue(m, name, labels);

      expect(v('hazel_flow_runs', { flow: twoSteps.flowId, version: '1', status: 'COMPLETED' })).toBe(3);
      expect(v('hazel_flow_runs', { flow: flaky.flowId, version: '1', status: 'COMPLETED' })).toBe(1);
      expect(v('hazel_flow_runs', { flow: waits.flowId, version: '1', status: 'WAITING' })).toBe(1);
      expect(v('hazel_flow_runs', { flow: pending.flowId, version: '1', status: 'RUNNING' })).toBe(1);
      expect(v('hazel_flow_runs_due', { flow: pending.flowId })).toBe(1);
      expect(v('hazel_flow_runs_due', { flow: waits.flowId })).toBe(0); // waits for a resume: not due
      expect(v('hazel_flow_oldest_due_seconds', { flow: pending.flowId })).toBeGreaterThanOrEqual(0);
      expect(v('hazel_flow_steps_total', { flow: twoSteps.flowId, node: 'a', outcome: 'ok' })).toBe(3);
      expect(v('hazel_flow_steps_total', { flow: twoSteps.flowId, node: 'b', outcome: 'ok' })).toBe(3);
      expect(v('hazel_flow_steps_total', { flow: flaky.flowId, node: 'f', outcome: 'error' })).toBe(1);
      expect(v('hazel_flow_steps_total', { flow: flaky.flowId, node: 'f', outcome: 'ok' })).toBe(1);
      expect(v('hazel_flow_steps_total', { flow: waits.flowId, node: 'w', outcome: 'wait' })).toBe(1);
      expect(v('hazel_flow_step_duration_seconds_count', { flow: twoSteps.flowId, node: 'a' })).toBe(3);
      expect(v('hazel_flow_worker_in_flight')).toBe(0);
      expect(v('hazel_flow_store_up')).toBe(1);
      // Labels stay bounded: no run ids anywhere.
      expect(m.every((s) => !Object.keys(s.labels).some((k) => /run/i.test(k)))).toBe(true);

      // A worker takes the pending run: its claim is measured (from due to begun), and the gauges follow.
      const worker = h.engine.startWorker({ pollIntervalMs: 20, logger: quiet });
      try {
        await waitFor('the pending run completed', async () => (await h.engine.listRuns({ flowId: pending.flowId })).runs[0]?.status === 'COMPLETED');
        const after = parsePrometheusText(await h.engine.metrics());
        expect(sampleValue(after, 'hazel_flow_claim_lag_seconds_count', { flow: pending.flowId })).toBe(1);
        expect(sampleValue(after, 'hazel_flow_claim_lag_seconds_sum', { flow: pending.flowId })).toBeGreaterThanOrEqual(0);
        expect(sampleValue(after, 'hazel_flow_runs_due', { flow: pending.flowId })).toBe(0);
        expect(sampleValue(after, 'hazel_flow_runs', { flow: pending.flowId, version: '1', status: 'COMPLETED' })).toBe(1);
        // Group commit (SQL stores): every commit went through a batch of at least one.
        const batches = sampleValue(after, 'hazel_flow_commit_batch_size_count');
        if (store.name === 'memory') expect(batches).toBe(0);
        else expect(batches).toBeGreaterThan(0);
      } finally {
        await worker.stop();
      }
    });

    it('the metrics of two engines in one process do not collide', async () => {
      const { FlowEngine } = await import('../../src/flow-engine.js');
      const { createMemoryStorage } = await import('../../src/storage/memory.js');
      const other = new FlowEngine({ storage: createMemoryStorage() });
      try {
        const def = flow(h.uniq('alone'), '1')
          .entry('a')
          .node('a', () => ({ status: 'ok' }))
          .build();
        await other.registerDefinition(def);
        await other.runToCompletion((await other.startRun({ flowId: def.flowId, version: '1', input: null })).runId);
        expect(sampleValue(parsePrometheusText(await other.metrics()), 'hazel_flow_steps_total', { flow: def.flowId, node: 'a', outcome: 'ok' })).toBe(1);
        expect(sampleValue(parsePrometheusText(await h.engine.metrics()), 'hazel_flow_steps_total', { flow: def.flowId, node: 'a', outcome: 'ok' })).toBe(0);
      } finally {
        await other.close();
      }
    });

    it('workers: each records itself and is listed live; one that stops refreshing is shown silent, then dropped; a stopped one is gone', async () => {
      const served = flow(h.uniq('served'), '1')
        .entry('a')
        .node('a', () => ({ status: 'ok' }))
        .build();
      await h.engine.registerDefinition(served);
      const worker = h.engine.startWorker({ pollIntervalMs: 50, heartbeatIntervalMs: 50, logger: quiet, concurrency: 3 });
      await worker.started;
      const listed = (await h.engine.listWorkers()).find((w) => w.workerId === worker.id)!;
      expect(listed).toMatchObject({ status: 'live', pid: process.pid, concurrency: 3, heartbeatMs: 50, inFlight: 0 });
      expect(listed.flowKeys).toContain(`${served.flowId}@1`);
      expect(listed.lastSeenAt.getTime()).toBeGreaterThanOrEqual(listed.startedAt.getTime() - 1000);
      expect(await h.engine.servedFlowKeys()).toContain(`${served.flowId}@1`);

      // A worker elsewhere that serves a flow nobody here serves, then dies (stops refreshing).
      const orphan = flow(h.uniq('orphan'), '1')
        .entry('a')
        .node('a', () => ({ status: 'ok' }))
        .build();
      await h.storage.saveDefinition({ flowId: orphan.flowId, version: '1', fingerprint: 'x', graph: '{}' as never });
      await h.storage.createRun({
        runId: h.uniq('orphan-run'),
        flowId: orphan.flowId,
        flowVersion: '1',
        tenantId: null,
        idempotencyKey: null,
        currentNodeId: 'a',
        input: 'null' as never,
        state: '{}' as never,
        branches: JSON.stringify([{ branchId: 'b1', nodeId: 'a', status: 'READY', attempt: 0, recoveries: 0 }]) as never,
        events: [{ type: 'RUN_STARTED', nodeId: 'a' }],
      });
      const ghost = {
        workerId: h.uniq('ghost'),
        host: 'elsewhere',
        pid: 1,
        startedAt: new Date(),
        heartbeatMs: 20,
        flowKeys: [`${orphan.flowId}@1`],
        concurrency: 1,
        inFlight: 0,
      };
      await h.storage.recordWorker(ghost);
      expect((await h.engine.listWorkers()).find((w) => w.workerId === ghost.workerId)?.status).toBe('live');
      expect(await h.engine.servedFlowKeys()).toContain(`${orphan.flowId}@1`);
      expect((await h.engine.unservedDueRuns()).map((d) => d.flowId)).not.toContain(orphan.flowId);
      await waitFor('the ghost shown silent', async () => (await h.engine.listWorkers()).find((w) => w.workerId === ghost.workerId)?.status === 'silent');
      expect(await h.engine.servedFlowKeys()).not.toContain(`${orphan.flowId}@1`);
      const unserved = (await h.engine.unservedDueRuns()).find((d) => d.flowId === orphan.flowId);
      expect(unserved).toMatchObject({ flowVersion: '1', due: 1 });
      // Silent for 30 refreshes (600 ms): no longer listed, and deleted by the live worker's refresh.
      await waitFor('the ghost dropped', async () => (await h.engine.listWorkers()).every((w) => w.workerId !== ghost.workerId));

      await worker.stop();
      expect((await h.engine.listWorkers()).map((w) => w.workerId)).not.toContain(worker.id);
    });
  });
}
