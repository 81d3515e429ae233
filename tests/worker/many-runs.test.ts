/**
 * Load on every store: 200 runs with retries, waits resumed from outside and timers, driven to
 * the end by three workers (three engines: on Postgres three pools, as three processes would
 * have). Handlers count overlapping executions of the same run: there must never be one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowEngine } from '../../src/flow-engine.js';
import { waitFor, WorkerCluster, workerStoreCases } from '../helpers/worker-cluster.js';
import { ExecutionProbe, mixedFlow, type MixedInput } from '../helpers/worker-flows.js';

const RUNS = 200;

function inputFor(i: number): MixedInput {
  return {
    i,
    failures: i % 3 === 0 ? 1 : i % 7 === 0 ? 2 : 0,
    wait: i % 4 === 0 ? 'resume' : i % 5 === 0 ? 'timer' : 'none',
    timerMs: 20 + (i % 30),
  };
}

/** Resumes every run parked for approval, as an outside caller (an HTTP handler, say) would. */
function startResumer(client: FlowEngine): { stop(): Promise<void>; resumed: Set<string> } {
  const resumed = new Set<string>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const page = await client.listRuns({ status: 'WAITING', flowId: 'mixed', limit: 1000 });
      for (const run of page.runs) {
        if (run.waitReason !== 'approval' || resumed.has(run.runId)) continue;
        try {
          await client.resumeRun(run.runId, { by: 'tester' });
          resumed.add(run.runId);
        } catch {
          // Held by a worker this instant, or moved on: the next pass looks again.
        }
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    resumed,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

describe.each(workerStoreCases)('200 runs, 3 workers on $name', ({ name, skip }) => {
  let cluster: WorkerCluster;
  beforeAll(() => WorkerCluster.prepare(name));
  afterAll(async () => cluster?.close());

  it.skipIf(skip)('all complete, with retries, resumes and timers, and no run ever runs twice at once', { timeout: 120_000 }, async () => {
    cluster = await WorkerCluster.open(name);
    const probe = new ExecutionProbe();
    const def = mixedFlow(probe);
    const client = await cluster.engine([def]);
    const workers = [];
    for (let w = 0; w < 3; w++) workers.push(cluster.startWorker(await cluster.engine([def]), { concurrency: 4, pollIntervalMs: 100 }));
    await Promise.all(workers.map((w) => w.started));

    const resumer = startResumer(client);
    const runIds: string[] = [];
    for (let i = 0; i < RUNS; i++) runIds.push((await client.startRun({ flowId: 'mixed', version: '1', input: inputFor(i) })).runId);
    await waitFor(
      `${RUNS} runs COMPLETED`,
      async () => (await client.listRuns({ status: 'COMPLETED', flowId: 'mixed', limit: 1000 })).runs.length === RUNS,
      100_000,
      50,
    );
    await resumer.stop();

    expect(probe.maxOverlap).toBe(1);
    for (let i = 0; i < RUNS; i++) {
      const input = inputFor(i);
      const runId = runIds[i]!;
      const run = (await client.getRun(runId))!;
      expect(run.outputsJson.finish).toEqual({ done: i });
      expect(probe.callsOf(runId, 'fetch')).toBe(input.failures + 1);
      const events = await client.getTimeline(runId);
      const types = events.map((e) => e.type);
      expect(types).not.toContain('NODE_INTERRUPTED');
      expect(types.filter((t) => t === 'NODE_RETRY_SCHEDULED')).toHaveLength(input.failures);
      const resumedEvents = events.filter((e) => e.type === 'RUN_RESUMED');
      if (input.wait === 'resume') {
        expect(run.outputsJson.gate).toEqual({ approvedBy: 'tester' });
        expect(resumedEvents.map((e) => e.payloadJson)).toEqual([{ payload: { by: 'tester' } }]);
      } else if (input.wait === 'timer') {
        expect(resumedEvents.map((e) => e.payloadJson)).toEqual([{ timer: true }]);
      } else {
        expect(resumedEvents).toEqual([]);
      }
    }
    const counters = workers.map((w) => w.status().counters);
    for (const c of counters) {
      expect(c.claimed).toBeGreaterThan(0);
      expect(c.errors).toBe(0);
    }
    expect(counters.reduce((n, c) => n + c.completed, 0)).toBe(RUNS);
  });
});
