/**
 * When the worker acts without being polled: a durable timer fires on time (the worker sleeps
 * until the store's next due time, not a poll interval), a resume from another engine wakes an
 * idle worker at once, and runs of flows this process does not register are left alone.
 * The poll interval is set far above every tolerance here, so polling cannot explain a pass.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { flow } from '../../src/definitions/builder.js';
import type { NodeResult } from '../../src/definitions/types.js';
import type { JsonText } from '../../src/storage/types.js';
import { ManualClock } from '../../src/core/clock.js';
import { recordingLogger, waitFor, WorkerCluster, workerStoreCases } from '../helpers/worker-cluster.js';

const SLOW_POLL_MS = 30_000;
/** A timer fires no later than this after its due time on an idle worker (measured: a few ms). */
const TIMER_TOLERANCE_MS = 150;
/** The next node of a resumed run starts within this after `resumeRun` returns (measured: ~1-5 ms). */
const RESUME_TOLERANCE_MS = 500;
/**
 * Poll of the burst test: a run whose wake-up was lost waits for it, far past the bound below.
 * The bound is generous (measured: tens of ms even on a loaded loop): the test catches lost
 * wake-ups, not slowness.
 */
const BURST_POLL_MS = 10_000;
const BURST_START_BOUND_MS = 2_000;

function timerFlow(delayMs: number, firedAt: Map<string, number>, now: () => number = Date.now) {
  return flow('timer', '1')
    .entry('sleep')
    .node('sleep', (ctx): NodeResult => {
      if (ctx.state.until === undefined) {
        const until = new Date(now() + delayMs).toISOString();
        return { status: 'wait', reason: 'timer', until, patch: { until } };
      }
      firedAt.set(ctx.runId, now());
      return { status: 'ok' };
    })
    .build();
}

function approvalFlow(nextStarted: Map<string, number>) {
  return flow('approval', '1')
    .entry('ask')
    .node('ask', (ctx): NodeResult => (ctx.state._resumePayload === undefined ? { status: 'wait', reason: 'approval' } : { status: 'ok' }))
    .node('after', (ctx): NodeResult => {
      nextStarted.set(ctx.runId, Date.now());
      return { status: 'ok' };
    })
    .edge('ask', 'after')
    .build();
}

describe.each(workerStoreCases)('worker wake-ups on $name', ({ name, skip }) => {
  let cluster: WorkerCluster;
  beforeAll(() => WorkerCluster.prepare(name));
  afterEach(async () => cluster?.close());

  it.skipIf(skip)(`fires a durable timer within ${TIMER_TOLERANCE_MS} ms of its due time`, async () => {
    cluster = await WorkerCluster.open(name);
    const firedAt = new Map<string, number>();
    const engine = await cluster.engine([timerFlow(400, firedAt)]);
    const worker = cluster.startWorker(engine, { pollIntervalMs: SLOW_POLL_MS });
    await worker.started;
    const { runId } = await engine.startRun({ flowId: 'timer', version: '1', input: null });
    await waitFor('timer fired', () => firedAt.has(runId), 5_000, 2);
    const until = Date.parse((await engine.getRun(runId))!.stateJson.until as string);
    const late = firedAt.get(runId)! - until;
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(TIMER_TOLERANCE_MS);
    await waitFor('completed', async () => (await engine.getRun(runId))?.status === 'COMPLETED');
  });

  it.skipIf(skip)(`wakes an idle worker on resume: the next node starts within ${RESUME_TOLERANCE_MS} ms`, async () => {
    cluster = await WorkerCluster.open(name);
    const nextStarted = new Map<string, number>();
    const def = approvalFlow(nextStarted);
    const worker = cluster.startWorker(await cluster.engine([def]), { pollIntervalMs: SLOW_POLL_MS });
    const client = await cluster.engine([def]);
    await worker.started;
    const { runId } = await client.startRun({ flowId: 'approval', version: '1', input: null });
    await waitFor('run waiting', async () => (await client.getRun(runId))?.status === 'WAITING');
    const latencies: number[] = [];
    // The resume goes to the run's inbox; whoever takes the run first — this call, or the worker
    // woken by it — applies it, so the run comes back resumed or already further along.
    const calledAt = Date.now();
    const resumed = await client.resumeRun(runId, { ok: true });
    expect(['RUNNING', 'COMPLETED']).toContain(resumed.status);
    await waitFor('next node started', () => nextStarted.has(runId), 5_000, 1);
    latencies.push(nextStarted.get(runId)! - calledAt);
    expect(latencies[0]).toBeLessThan(RESUME_TOLERANCE_MS);
    await waitFor('completed', async () => (await client.getRun(runId))?.status === 'COMPLETED');
  });

  it.skipIf(skip)('a run let go with work left wakes the idle worker once its lock is free: 30 resumes sent as the worker lets go', async () => {
    cluster = await WorkerCluster.open(name);
    const nextStarted = new Map<string, number>();
    const def = approvalFlow(nextStarted);
    const workerEngine = await cluster.engine([def]);
    const worker = cluster.startWorker(workerEngine, { pollIntervalMs: SLOW_POLL_MS });
    const client = await cluster.engine([def]);
    await worker.started;
    // Resumed from the worker's `run:waiting` hook, while the worker is letting go of the run: the
    // client's resume finds it held, or takes it and runs the resumed node once, then lets go of a
    // run whose next node is ready — the worker must hear of it after the lock is free, not before.
    const resumes: Array<Promise<unknown>> = [];
    const off = workerEngine.on('run:waiting', ({ run }) => void resumes.push(client.resumeRun(run.runId, { ok: true })));
    try {
      for (let i = 0; i < 30; i++) {
        const { runId } = await client.startRun({ flowId: 'approval', version: '1', input: i });
        await waitFor(`next node of run ${i + 1} started`, () => nextStarted.has(runId), 5_000, 1);
        await waitFor(`run ${i + 1} completed`, async () => (await client.getRun(runId))?.status === 'COMPLETED', 5_000);
      }
      await Promise.all(resumes);
    } finally {
      off();
    }
    expect(resumes).toHaveLength(30);
  });

  it.skipIf(skip)(
    `starts in bursts on a busy event loop: every run's first node starts within ${BURST_START_BOUND_MS} ms (the poll is ${BURST_POLL_MS} ms)`,
    async () => {
      cluster = await WorkerCluster.open(name);
      const firstNode = new Map<string, number>();
      const def = flow('burst', '1')
        .entry('a')
        .node('a', (ctx): NodeResult => {
          firstNode.set(ctx.runId, Date.now());
          return { status: 'ok' };
        })
        .build();
      const workerEngine = await cluster.engine([def]);
      const client = await cluster.engine([def]);
      // Fewer slots than a burst: some runs wait for a slot, announced while every slot is busy.
      const worker = cluster.startWorker(workerEngine, { pollIntervalMs: BURST_POLL_MS, concurrency: 4 });
      await worker.started;
      // Busy-wait blocks on the event loop, as in a loaded process: wake-ups, replies and timers
      // arrive late and bunched, while the worker is in the middle of a look or a claim.
      let blocking = true;
      const block = () => {
        const until = Date.now() + 5 + Math.random() * 25;
        while (Date.now() < until);
        if (blocking) setTimeout(block, Math.random() * 20);
      };
      block();
      const startedAt = new Map<string, number>();
      try {
        for (let burst = 0; burst < 6; burst++) {
          // From both engines: a wake-up that is this process's own, and one through the store.
          await Promise.all(
            Array.from({ length: 12 }, async (_, i) => {
              const engine = i % 2 === 0 ? client : workerEngine;
              const calledAt = Date.now();
              const { runId } = await engine.startRun({ flowId: 'burst', version: '1', input: { burst, i } });
              startedAt.set(runId, calledAt);
            }),
          );
          // Apart by more than the claimer's longest gap between looks: some bursts meet a worker whose look is overdue.
          await new Promise((r) => setTimeout(r, burst % 2 === 0 ? 50 : 1_100));
        }
        await waitFor('every first node started', () => firstNode.size === startedAt.size, BURST_POLL_MS - 1_000, 5);
      } finally {
        blocking = false;
      }
      const slow = [...startedAt].filter(([runId, at]) => firstNode.get(runId)! - at > BURST_START_BOUND_MS);
      expect(slow).toEqual([]);
    },
    30_000,
  );

  it.skipIf(skip)('a resume that came too late does not make the worker deaf to the next wake-up of its run', async () => {
    cluster = await WorkerCluster.open(name);
    const nextStarted = new Map<string, number>();
    const def = flow('late', '1')
      .entry('ask')
      .node('ask', (ctx): NodeResult => (ctx.state._resumePayload === undefined ? { status: 'wait', reason: 'approval' } : { status: 'ok' }))
      .node('hold', (ctx): NodeResult =>
        ctx.state.held ? { status: 'ok' } : { status: 'wait', event: { name: 'late.go', key: ctx.runId }, patch: { held: true } },
      )
      .node('after', (ctx): NodeResult => {
        nextStarted.set(ctx.runId, Date.now());
        return { status: 'ok' };
      })
      .edge('ask', 'hold')
      .edge('hold', 'after')
      .build();
    const workerEngine = await cluster.engine([def]);
    const worker = cluster.startWorker(workerEngine, { pollIntervalMs: SLOW_POLL_MS });
    const client = await cluster.engine([def]);
    await worker.started;
    const { runId } = await client.startRun({ flowId: 'late', version: '1', input: null });
    await waitFor('run waiting', async () => (await client.getRun(runId))?.status === 'WAITING');
    const asked = (await client.getRun(runId))!.branches[0]!;
    if (asked.status !== 'WAITING') throw new Error(`expected a waiting branch, got ${asked.status}`);
    await client.resumeRun(runId, { ok: true });
    // The same answer again, in the worker's process: what a resume that lost the race writes —
    // nothing (the wait it answers is gone), so no wake-up is sent for it.
    const taken = await workerEngine.storage.addToInbox({
      runId,
      kind: 'resume',
      waitId: asked.waitId,
      branchId: asked.branchId,
      payload: '{}' as JsonText,
    });
    expect(taken).toBe(false);
    await waitFor(
      'run waiting for its event',
      async () => (await client.getRun(runId))?.currentNodeId === 'hold' && (await client.getRun(runId))?.status === 'WAITING',
    );
    // The event, from the other process: its NOTIFY must wake the idle worker (within the echo window of the late resume).
    const sentAt = Date.now();
    expect((await client.sendEvent({ name: 'late.go', key: runId })).delivered).toBe(1);
    await waitFor('next node started', () => nextStarted.has(runId), 5_000, 1);
    expect(nextStarted.get(runId)! - sentAt).toBeLessThan(RESUME_TOLERANCE_MS);
  });

  it.skipIf(skip)('leaves runs of a flow it does not register untouched, and says why once', async () => {
    cluster = await WorkerCluster.open(name);
    const nextStarted = new Map<string, number>();
    const known = flow('known', '1')
      .entry('a')
      .node('a', () => ({ status: 'ok' }))
      .build();
    const foreign = approvalFlow(nextStarted);
    const client = await cluster.engine([known, foreign]);
    const foreignRun = await client.startRun({ flowId: 'approval', version: '1', input: null });
    const log = recordingLogger();
    const worker = cluster.startWorker(await cluster.engine([known]), { pollIntervalMs: 20, logger: log.logger });
    const knownRun = await client.startRun({ flowId: 'known', version: '1', input: null });
    await waitFor('known run completed', async () => (await client.getRun(knownRun.runId))?.status === 'COMPLETED');
    const polls = worker.status().counters.polls;
    await waitFor('more polls', () => worker.status().counters.polls >= polls + 5);
    const untouched = (await client.getRun(foreignRun.runId))!;
    expect(untouched).toMatchObject({ status: 'RUNNING', version: 1, attempt: 0, attemptInFlight: false });
    expect((await client.getTimeline(foreignRun.runId)).map((e) => e.type)).toEqual(['RUN_STARTED']);
    const warnings = log.lines.filter((l) => l.level === 'warn' && l.message.includes('approval@1'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/not registered in this process/);
  });
});

describe('worker timers with an injected clock (memory)', () => {
  it('fires exactly when the manual clock passes the due time', async () => {
    const cluster = await WorkerCluster.open('memory');
    const clock = new ManualClock(Date.UTC(2030, 0, 1), false);
    const firedAt = new Map<string, number>();
    const engine = await cluster.engine([timerFlow(60 * 60_000, firedAt, () => clock.now())], { clock });
    const worker = cluster.startWorker(engine, { pollIntervalMs: 10 });
    const { runId } = await engine.startRun({ flowId: 'timer', version: '1', input: null });
    await waitFor('run waiting', async () => (await engine.getRun(runId))?.status === 'WAITING');
    const start = clock.now();
    clock.advance(60 * 60_000 - 1);
    const polls = worker.status().counters.polls;
    await waitFor('a few polls', () => worker.status().counters.polls >= polls + 3);
    expect(firedAt.has(runId)).toBe(false);
    clock.advance(1);
    await waitFor('timer fired', () => firedAt.has(runId));
    expect(firedAt.get(runId)! - start).toBe(60 * 60_000);
    await waitFor('completed', async () => (await engine.getRun(runId))?.status === 'COMPLETED');
    await cluster.close();
  });

  it('a stop never waits for a sleeping timer', async () => {
    const cluster = await WorkerCluster.open('memory');
    const engine = await cluster.engine([timerFlow(60 * 60_000, new Map())]);
    const worker = cluster.startWorker(engine, { pollIntervalMs: SLOW_POLL_MS });
    await engine.startRun({ flowId: 'timer', version: '1', input: null });
    await waitFor('worker idle, asleep until the timer', () => worker.status().counters.waiting === 1 && worker.status().inFlight === 0);
    const before = Date.now();
    await worker.stop();
    expect(Date.now() - before).toBeLessThan(1_000);
    await cluster.close();
  });
});
