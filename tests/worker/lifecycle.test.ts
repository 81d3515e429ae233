/**
 * The worker's lifecycle on every store: start → RUNNING, graceful stop that drains, stop past
 * the grace period that abandons (and another worker recovers), cancel, concurrency bound.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import type { FlowContext, NodeResult } from '../../src/definitions/types.js';
import { deferred, recordingLogger, waitFor, WorkerCluster, workerStoreCases } from '../helpers/worker-cluster.js';
import { twoStepFlow } from '../helpers/worker-flows.js';

describe.each(workerStoreCases)('worker lifecycle on $name', ({ name, skip }) => {
  let cluster: WorkerCluster;
  beforeAll(() => WorkerCluster.prepare(name));
  afterEach(async () => cluster?.close());

  it.skipIf(skip)('starts, advances runs to the end, reports status, and stops', async () => {
    cluster = await WorkerCluster.open(name);
    const engine = await cluster.engine([twoStepFlow(() => ({ status: 'ok', output: 1 }))]);
    const worker = cluster.startWorker(engine, { concurrency: 2, pollIntervalMs: 50 });
    expect(worker.status().state).toBe('STARTING');
    await worker.started;
    expect(worker.status()).toMatchObject({ state: 'RUNNING', concurrency: 2, flowKeys: ['two-step@1'], inFlight: 0 });
    const runs = await Promise.all([1, 2, 3].map((i) => engine.startRun({ flowId: 'two-step', version: '1', input: { i } })));
    for (const { runId } of runs) await waitFor(`run ${runId} completed`, async () => (await engine.getRun(runId))?.status === 'COMPLETED');
    // The counters move once the worker has let a run go, a moment after its last commit is visible.
    await waitFor('the worker counted the three runs', () => worker.status().counters.completed === 3);
    const status = worker.status();
    expect(status.counters.completed).toBe(3);
    expect(status.counters.steps).toBe(6);
    expect(status.counters.errors).toBe(0);
    expect(status.lastPollAt).toBeInstanceOf(Date);
    await worker.stop();
    expect(worker.status().state).toBe('STOPPED');
    await worker.stopped;
    await worker.stop(); // idempotent
  });

  it.skipIf(skip)('graceful stop: no new claims, the step in flight commits, nothing is left interrupted', async () => {
    cluster = await WorkerCluster.open(name);
    const release = deferred();
    const entered = deferred();
    const engine = await cluster.engine([
      twoStepFlow(async () => {
        entered.resolve();
        await release.promise;
        return { status: 'ok', output: 'first done' };
      }),
    ]);
    const worker = cluster.startWorker(engine, { pollIntervalMs: 20, stopTimeoutMs: 20_000 });
    const { runId } = await engine.startRun({ flowId: 'two-step', version: '1', input: {} });
    await entered.promise;
    const stopping = worker.stop();
    await waitFor('DRAINING', () => worker.status().state === 'DRAINING');
    const queued = await engine.startRun({ flowId: 'two-step', version: '1', input: { late: true } });
    release.resolve();
    await stopping;
    expect(worker.status().state).toBe('STOPPED');
    // The step in flight committed; a draining worker begins nothing more, so nothing is left
    // begun-but-uncommitted. The run queued during the drain was not claimed.
    const drained = (await engine.getRun(runId))!;
    expect(drained.outputsJson).toMatchObject({ first: 'first done' });
    expect(drained.status).toBe('RUNNING');
    expect(drained.attemptInFlight).toBe(false);
    expect((await engine.getRun(queued.runId))!.version).toBe(1);
    expect(worker.status().counters.claimed).toBe(1);
    const next = cluster.startWorker(engine, { pollIntervalMs: 20 });
    await waitFor(
      'both runs completed',
      async () => (await engine.getRun(runId))?.status === 'COMPLETED' && (await engine.getRun(queued.runId))?.status === 'COMPLETED',
    );
    expect((await engine.getTimeline(runId)).map((e) => e.type)).not.toContain('NODE_INTERRUPTED');
    await next.stop();
  });

  it.skipIf(skip)('stop past stopTimeoutMs aborts the attempt signal; the run is recovered elsewhere as NODE_INTERRUPTED', async () => {
    cluster = await WorkerCluster.open(name);
    const reasons: unknown[] = [];
    let calls = 0;
    const handler = async (ctx: FlowContext): Promise<NodeResult> => {
      calls += 1;
      if (calls > 1) return { status: 'ok', output: 'second try' };
      await new Promise((r) => ctx.signal.addEventListener('abort', r, { once: true }));
      reasons.push(ctx.signal.reason);
      return { status: 'ok', output: 'too late' };
    };
    const engine = await cluster.engine([twoStepFlow(handler)]);
    const worker = cluster.startWorker(engine, { pollIntervalMs: 20, stopTimeoutMs: 50 });
    const { runId } = await engine.startRun({ flowId: 'two-step', version: '1', input: {} });
    await waitFor('handler running', () => calls === 1 && worker.status().inFlight === 1);
    await worker.stop();
    expect(reasons).toHaveLength(1);
    expect(worker.status().counters.abandoned).toBe(1);
    const left = (await engine.getRun(runId))!;
    expect(left).toMatchObject({ status: 'RUNNING', currentNodeId: 'first', attemptInFlight: true });

    const other = await cluster.engine([twoStepFlow(handler)]);
    const rescuer = cluster.startWorker(other, { pollIntervalMs: 20 });
    await waitFor('run completed by the second worker', async () => (await other.getRun(runId))?.status === 'COMPLETED');
    const types = (await other.getTimeline(runId)).map((e) => e.type);
    expect(types).toContain('NODE_INTERRUPTED');
    expect((await other.getRun(runId))!.outputsJson.first).toBe('second try');
    await rescuer.stop();
  });

  it.skipIf(skip)('cancelRun aborts the in-flight handler, and a cancelled run is never claimed again', async () => {
    cluster = await WorkerCluster.open(name);
    const aborted = deferred<unknown>();
    const entered = deferred<void>();
    const engine = await cluster.engine([
      twoStepFlow(async (ctx) => {
        entered.resolve();
        await new Promise((r) => ctx.signal.addEventListener('abort', r, { once: true }));
        aborted.resolve(ctx.signal.reason);
        return { status: 'ok' };
      }),
    ]);
    const lockAttempts: string[] = [];
    const lockRun = engine.storage.lockRun.bind(engine.storage);
    engine.storage.lockRun = async (runId: string) => {
      lockAttempts.push(runId);
      return lockRun(runId);
    };
    const worker = cluster.startWorker(engine, { pollIntervalMs: 10 });
    const { runId } = await engine.startRun({ flowId: 'two-step', version: '1', input: {} });
    // The handler has begun (a cancel before its begin commit would leave nothing to abort).
    await entered.promise;
    expect(worker.status().inFlight).toBe(1);
    await engine.cancelRun(runId, 'no longer needed');
    await aborted.promise;
    await waitFor('worker let go', () => worker.status().inFlight === 0);
    expect((await engine.getRun(runId))!.status).toBe('CANCELLED');
    const claimsBefore = lockAttempts.filter((id) => id === runId).length;
    const polls = worker.status().counters.polls;
    await waitFor('five more polls', () => worker.status().counters.polls >= polls + 5);
    expect(lockAttempts.filter((id) => id === runId).length).toBe(claimsBefore);
    expect(worker.status().counters.stale + worker.status().counters.failed).toBeGreaterThanOrEqual(1);
    const types = (await engine.getTimeline(runId)).map((e) => e.type);
    expect(types.filter((t) => t === 'NODE_STARTED')).toHaveLength(1);
    expect(types).toContain('RUN_CANCELLED');
  });

  it.skipIf(skip)('never advances more runs at once than its concurrency', async () => {
    cluster = await WorkerCluster.open(name);
    let running = 0;
    let peak = 0;
    const gates: Array<() => void> = [];
    const engine = await cluster.engine([
      twoStepFlow(async () => {
        running += 1;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => gates.push(r));
        running -= 1;
        return { status: 'ok' };
      }),
    ]);
    const worker = cluster.startWorker(engine, { concurrency: 2, pollIntervalMs: 10 });
    const ids = await Promise.all([0, 1, 2, 3, 4].map((i) => engine.startRun({ flowId: 'two-step', version: '1', input: { i } })));
    for (let released = 0; released < 5; released++) {
      await waitFor('the slots to fill', () => gates.length === Math.min(2, 5 - released));
      expect(worker.status().inFlight).toBeLessThanOrEqual(2);
      gates.shift()!();
    }
    for (const { runId } of ids) await waitFor('completed', async () => (await engine.getRun(runId))?.status === 'COMPLETED');
    expect(peak).toBe(2);
  });
});

describe('worker options and start failures', () => {
  it('rejects bad options when started, naming the option', async () => {
    const cluster = await WorkerCluster.open('memory');
    const engine = await cluster.engine([]);
    expect(() => engine.startWorker({ concurrency: 0 })).toThrow(InvalidArgumentError);
    expect(() => engine.startWorker({ concurrency: 0 })).toThrow(/concurrency must be an integer >= 1/);
    expect(() => engine.startWorker({ pollIntervalMs: 1.5 })).toThrow(/pollIntervalMs/);
    expect(() => engine.startWorker({ pollInterval: 10 } as never)).toThrow(/unknown option "pollInterval"/);
    expect(() => engine.startWorker({ logger: {} as never })).toThrow(/logger.debug/);
    await cluster.close();
  });

  it('retries a store that is not reachable yet, and stops on a non-retryable start error', async () => {
    const { FlowEngine } = await import('../../src/flow-engine.js');
    const { createMemoryStorage } = await import('../../src/storage/memory.js');
    const { FlowError, StorageError } = await import('../../src/errors.js');
    const flaky = createMemoryStorage();
    let failures = 2;
    flaky.init = async () => {
      if (failures-- > 0) throw new StorageError('CONNECTION_FAILED', 'connection refused', { retryable: true });
    };
    const log = recordingLogger();
    const engine = new FlowEngine({ storage: flaky });
    const worker = engine.startWorker({ logger: log.logger });
    await worker.started;
    expect(worker.status().counters.errors).toBe(2);
    await engine.close();
    expect(worker.status().state).toBe('STOPPED');

    const newer = createMemoryStorage();
    newer.init = async () => {
      throw new FlowError('SCHEMA_TOO_NEW', 'database schema is newer than this code');
    };
    const engine2 = new FlowEngine({ storage: newer });
    const worker2 = engine2.startWorker({ logger: recordingLogger().logger });
    await expect(worker2.started).rejects.toMatchObject({ code: 'SCHEMA_TOO_NEW' });
    await worker2.stopped;
    expect(worker2.status()).toMatchObject({ state: 'STOPPED', lastError: { code: 'SCHEMA_TOO_NEW' } });
  });
});
