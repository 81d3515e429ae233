/**
 * Resumes and events against a busy worker: an answer written the instant a run parks — while the
 * worker still holds it — is never refused (no LOCK_BUSY) and is applied, by that worker or the
 * next; and one event wakes many waiting runs under a worker. Memory, PGlite and Postgres.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { flow } from '../../src/definitions/builder.js';
import type { NodeResult } from '../../src/definitions/types.js';
import { waitFor, WorkerCluster, workerStoreCases } from '../helpers/worker-cluster.js';

function approvalFlow() {
  return flow('inbox-approval', '1')
    .entry('ask')
    .node('ask', (ctx): NodeResult =>
      ctx.state._resumePayload === undefined ? { status: 'wait', reason: 'approval' } : { status: 'ok', output: ctx.state._resumePayload },
    )
    .node('after', () => ({ status: 'ok', output: 'done' }))
    .edge('ask', 'after')
    .build();
}

function eventFlow() {
  return flow('inbox-event', '1')
    .entry('wait')
    .node('wait', (ctx): NodeResult =>
      ctx.state._resumePayload === undefined ? { status: 'wait', event: { name: 'inbox.test.go' } } : { status: 'ok', output: ctx.state._resumePayload },
    )
    .build();
}

describe.each(workerStoreCases)('the inbox under a worker on $name', ({ name, skip }) => {
  let cluster: WorkerCluster;
  beforeAll(() => WorkerCluster.prepare(name));
  afterEach(async () => cluster?.close());

  it.skipIf(skip)('40 runs resumed the instant they park, while the worker holds them, see no error and complete', async () => {
    cluster = await WorkerCluster.open(name);
    const engine = await cluster.engine([approvalFlow()]);
    const resumes: Array<Promise<unknown>> = [];
    const errors: unknown[] = [];
    // The hook runs right after the parking commit, before the worker lets go of the run.
    engine.on('run:waiting', ({ run }) => {
      resumes.push(engine.resumeRun(run.runId, { by: 'hook' }).catch((err: unknown) => void errors.push(err)));
    });
    const worker = cluster.startWorker(engine, { pollIntervalMs: 30_000, concurrency: 8 });
    await worker.started;
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await engine.startRun({ flowId: 'inbox-approval', version: '1', input: { i } })).runId);
    await waitFor('40 resumes answered', () => resumes.length === 40, 20_000);
    await Promise.all(resumes);
    expect(errors).toEqual([]);
    await waitFor(
      'all 40 completed',
      async () => {
        const page = await engine.listRuns({ flowId: 'inbox-approval', status: 'COMPLETED', limit: 100 });
        return page.runs.length === 40;
      },
      20_000,
    );
    for (const id of ids) expect((await engine.getRun(id))!.outputsJson).toEqual({ ask: { by: 'hook' }, after: 'done' });
  });

  it.skipIf(skip)('one event wakes every waiting run under a worker', async () => {
    cluster = await WorkerCluster.open(name);
    const engine = await cluster.engine([eventFlow()]);
    const worker = cluster.startWorker(engine, { pollIntervalMs: 30_000, concurrency: 8 });
    await worker.started;
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await engine.startRun({ flowId: 'inbox-event', version: '1', input: null })).runId);
    await waitFor('all parked', async () => (await engine.listRuns({ flowId: 'inbox-event', status: 'WAITING', limit: 100 })).runs.length === 20, 20_000);
    const sent = await engine.sendEvent({ name: 'inbox.test.go', payload: 'go' });
    expect(sent.delivered).toBe(20);
    await waitFor('all completed', async () => (await engine.listRuns({ flowId: 'inbox-event', status: 'COMPLETED', limit: 100 })).runs.length === 20, 20_000);
  });

  it.skipIf(skip)('a map fanned out to 30 child runs completes under a worker: no child end is dropped before its wait is recorded', async () => {
    cluster = await WorkerCluster.open(name);
    const child = flow('inbox-child', '1')
      .entry('c')
      .node('c', (ctx) => ({ status: 'ok', output: (ctx.input as number) * 10 }))
      .build();
    const parent = flow('inbox-parent', '1')
      .entry('fan')
      .node('fan', (ctx): NodeResult => ({ status: 'child', flowId: 'inbox-child', version: '1', input: ctx.item }), {
        forEach: () => Array.from({ length: 30 }, (_, i) => i),
        concurrency: 10,
      })
      .build();
    const engine = await cluster.engine([child, parent]);
    const worker = cluster.startWorker(engine, { pollIntervalMs: 30_000, concurrency: 8 });
    await worker.started;
    const { runId } = await engine.startRun({ flowId: 'inbox-parent', version: '1', input: null });
    await waitFor('parent completed', async () => (await engine.getRun(runId))?.status === 'COMPLETED', 30_000);
    const run = (await engine.getRun(runId))!;
    expect(run.outputsJson.fan).toEqual(Array.from({ length: 30 }, (_, i) => ({ c: i * 10 })));
    expect((await engine.listRuns({ parentRunId: runId, limit: 100 })).runs).toHaveLength(30);
  });
});
