/**
 * Parallel runs over the REST API: the run resource's `branches` (split/join with a wait on each
 * branch, a join gathering them, a map's progress and its failed item), the compact branches of
 * the run list, resuming one branch with `?nodeId=`, timeline events carrying `branchId` and
 * `itemIndex`, and the OpenAPI document describing all of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { flow } from '../../src/definitions/builder.js';
import { demoFlows } from '../../src/runtime/demo-flows.js';
import { ISO_DATE, http, startRuntime } from './helpers.js';

let rt: FlowRuntime;
const call = (method: string, path: string, init?: Parameters<typeof http>[3]) => http(rt.url, method, path, init);
const start = async (flowId: string, input: unknown = {}) => {
  const res = await call('POST', '/v1/runs/start', { json: { flowId, version: '1.0.0', input } });
  expect(res.status, res.text).toBe(201);
  return res.body.runId as string;
};
const getRun = async (runId: string) => (await call('GET', `/v1/runs/${runId}`)).body.run;
const timeline = async (runId: string) => (await call('GET', `/v1/runs/${runId}/timeline`)).body.events as Array<Record<string, any>>;
/** Ticks over HTTP until the run leaves RUNNING (or `limit` ticks). */
async function tickWhileRunning(runId: string, limit = 20) {
  let run = await getRun(runId);
  for (let i = 0; i < limit && run.status === 'RUNNING'; i++) run = (await call('POST', `/v1/runs/${runId}/tick`, { json: {} })).body.run;
  return run;
}

/** One branch waits for a person, the other goes straight to the join: the join waits for the first. */
const waitThenJoin = flow('wait-then-join', '1.0.0')
  .entry('fork')
  .node('fork', () => ({ status: 'ok' }), { split: 'all' })
  .node('review', (ctx) =>
    ctx.state._resumePayload === undefined ? { status: 'wait', reason: 'needs a reviewer' } : { status: 'ok', output: ctx.state._resumePayload },
  )
  .node('lint', () => ({ status: 'ok', output: 'clean' }))
  .node('merge', (ctx) => ({ status: 'ok', output: [ctx.outputs.review, ctx.outputs.lint] }), { join: 'all' })
  .edge('fork', 'review')
  .edge('fork', 'lint')
  .edge('review', 'merge')
  .edge('lint', 'merge')
  .build();

beforeAll(async () => {
  rt = await startRuntime({ flows: [...demoFlows, waitThenJoin] });
});
afterAll(async () => {
  await rt.close();
});

describe('branches in the run resource', () => {
  it('lists both waiting branches of a split, resumes each with ?nodeId=, and shows the join gathering them', async () => {
    const runId = await start('demo-parallel', { contract: 'NDA' });
    let run = await tickWhileRunning(runId);
    expect(run.status).toBe('WAITING');
    expect(run.branches).toHaveLength(2);
    const [legal, finance] = run.branches;
    for (const [b, nodeId] of [
      [legal, 'legal'],
      [finance, 'finance'],
    ] as const) {
      expect(b).toEqual({
        branchId: expect.stringMatching(/^b\d+$/),
        nodeId,
        status: 'WAITING',
        attempt: expect.any(Number),
        dueAt: null,
        waitReason: expect.stringContaining(`Waiting for ${nodeId}`),
        map: null,
        event: null,
        child: null,
        waitTimedOut: false,
        recoveries: 0,
        error: null,
        joined: null,
      });
    }
    expect(legal.branchId).not.toBe(finance.branchId);
    // currentNodeId keeps its meaning: the first branch's node.
    expect(run.currentNodeId).toBe('legal');

    // The list carries the compact form.
    const listed = (await call('GET', '/v1/runs?flowId=demo-parallel')).body.runs.find((r: { runId: string }) => r.runId === runId);
    expect(listed.branches).toEqual(
      run.branches.map((b: Record<string, unknown>) => ({
        branchId: b.branchId,
        nodeId: b.nodeId,
        status: 'WAITING',
        attempt: b.attempt,
        dueAt: null,
        waitReason: b.waitReason,
        event: null,
        child: null,
        map: null,
      })),
    );

    // Two branches wait: a resume must say which.
    const ambiguous = await call('POST', `/v1/runs/${runId}/resume`, { json: { approved: true } });
    expect(ambiguous.status).toBe(409);
    expect(ambiguous.body.error.code).toBe('AMBIGUOUS_RESUME');

    const afterLegal = await call('POST', `/v1/runs/${runId}/resume?nodeId=legal`, { json: { approved: true, by: 'ann' } });
    expect(afterLegal.status, afterLegal.text).toBe(200);
    run = afterLegal.body.run;
    expect(run.status).toBe('WAITING');
    // legal went on to the join and waits there for finance, which still waits for its sign-off.
    expect(run.branches.map((b: { nodeId: string; status: string }) => [b.nodeId, b.status])).toEqual([
      ['decide', 'JOINING'],
      ['finance', 'WAITING'],
    ]);
    expect(run.branches[0].branchId).toBe(legal.branchId);
    expect(run.branches[1].branchId).toBe(finance.branchId);

    const afterFinance = await call('POST', `/v1/runs/${runId}/resume?nodeId=finance`, { json: { approved: true } });
    expect(afterFinance.status, afterFinance.text).toBe(200);
    run = await tickWhileRunning(runId);
    expect(run).toMatchObject({ status: 'COMPLETED', branches: [], outputsJson: expect.objectContaining({ decide: 'signed' }) });

    // Every event says which branch it belongs to.
    const events = await timeline(runId);
    for (const e of events) {
      expect(e).toHaveProperty('branchId');
      expect(e).toHaveProperty('itemIndex', null);
    }
    const started = events.filter((e) => e.type === 'BRANCH_STARTED');
    expect(started.map((e) => [e.nodeId, e.branchId])).toEqual([
      ['legal', legal.branchId],
      ['finance', finance.branchId],
    ]);
    expect(started[0].payloadJson).toEqual({ from: 'b1', splitNodeId: 'prepare' });
    expect(events.find((e) => e.type === 'RUN_STARTED')).toMatchObject({ nodeId: 'prepare', branchId: 'b1' });
    expect(events.filter((e) => e.type === 'RUN_WAITING').map((e) => e.branchId)).toEqual([legal.branchId, finance.branchId]);
    expect(events.filter((e) => e.type === 'RUN_RESUMED').map((e) => [e.nodeId, e.branchId])).toEqual([
      ['legal', legal.branchId],
      ['finance', finance.branchId],
    ]);
    const arrived = events.find((e) => e.type === 'JOIN_ARRIVED')!;
    expect(arrived).toMatchObject({ nodeId: 'decide', branchId: legal.branchId, payloadJson: { joinNodeId: 'decide', waitingFor: [finance.branchId] } });
    expect(events.find((e) => e.type === 'JOIN_COMPLETED')).toMatchObject({
      nodeId: 'decide',
      payloadJson: { joined: expect.arrayContaining([legal.branchId, finance.branchId]) },
    });
  });

  it('shows a branch parked at a join (JOINING) while its sibling waits', async () => {
    const runId = await start('wait-then-join');
    const run = await tickWhileRunning(runId);
    expect(run.status).toBe('WAITING');
    expect(run.branches.map((b: { nodeId: string; status: string; waitReason: string | null }) => [b.nodeId, b.status, b.waitReason])).toEqual([
      ['review', 'WAITING', 'needs a reviewer'],
      ['merge', 'JOINING', null],
    ]);
    // Exactly one branch waits: a resume without nodeId is that one.
    const resumed = await call('POST', `/v1/runs/${runId}/resume`, { json: 'lgtm' });
    expect(resumed.status, resumed.text).toBe(200);
    const done = await tickWhileRunning(runId);
    expect(done).toMatchObject({ status: 'COMPLETED', branches: [], outputsJson: expect.objectContaining({ merge: ['lgtm', 'clean'] }) });
  });

  it("shows a map's progress while it runs, and item events carry itemIndex", async () => {
    const runId = await start('demo-map', { count: 5, delayMs: 1 });
    // The first tick runs `list`; the next starts the map.
    await call('POST', `/v1/runs/${runId}/tick`, { json: {} });
    const inMap = (await call('POST', `/v1/runs/${runId}/tick`, { json: {} })).body.run;
    expect(inMap.status).toBe('RUNNING');
    expect(inMap.branches).toHaveLength(1);
    const branch = inMap.branches[0];
    expect(branch).toMatchObject({
      branchId: 'b1',
      nodeId: 'resize',
      map: { total: 5, concurrency: 3, done: expect.any(Number), started: expect.any(Number), items: expect.any(Array) },
    });
    expect(branch.map.done).toBeGreaterThan(0);
    expect(branch.map.items.length).toBeLessThanOrEqual(3);
    for (const item of branch.map.items) expect(Object.keys(item).sort()).toEqual(['attempt', 'dueAt', 'error', 'index', 'status']);
    const summary = (await call('GET', '/v1/runs?flowId=demo-map')).body.runs.find((r: { runId: string }) => r.runId === runId);
    expect(summary.branches[0].map).toEqual({ total: 5, concurrency: 3, done: expect.any(Number), started: expect.any(Number) });

    const done = await rt.engine.runToCompletion(runId);
    expect(done.status).toBe('COMPLETED');
    const events = await timeline(runId);
    expect(events.find((e) => e.type === 'MAP_STARTED')).toMatchObject({
      nodeId: 'resize',
      branchId: 'b1',
      itemIndex: null,
      payloadJson: { items: 5, concurrency: 3 },
    });
    const itemFinishes = events.filter((e) => e.type === 'NODE_FINISHED' && e.nodeId === 'resize' && e.itemIndex !== null);
    expect(itemFinishes.map((e) => e.itemIndex).sort()).toEqual([0, 1, 2, 3, 4]);
    // Item 3 fails its first attempt and is retried.
    expect(events.find((e) => e.type === 'NODE_FAILED')).toMatchObject({ nodeId: 'resize', itemIndex: 3, attempt: 1, error: { code: 'STORAGE_TIMEOUT' } });
    expect(events.find((e) => e.type === 'NODE_RETRY_SCHEDULED')).toMatchObject({ itemIndex: 3, branchId: 'b1' });
    // The node itself finishes once, with the item outputs in order.
    expect(events.filter((e) => e.type === 'NODE_FINISHED' && e.nodeId === 'resize' && e.itemIndex === null)).toHaveLength(1);
    expect((await getRun(runId)).outputsJson.resize).toEqual([1, 2, 3, 4, 5].map((i) => `thumb/photo-${i}.jpg`));
  });

  it('keeps the failed branch, with its failed item, on a run a map item failed', async () => {
    const runId = await start('demo-map', { count: 4, delayMs: 1, fail: [1] });
    await rt.engine.runToCompletion(runId);
    const run = await getRun(runId);
    expect(run).toMatchObject({ status: 'FAILED', error: { code: 'CORRUPT_IMAGE' } });
    expect(run.branches).toHaveLength(1);
    expect(run.branches[0]).toMatchObject({ nodeId: 'resize', status: 'FAILED', error: { code: 'CORRUPT_IMAGE' }, map: { total: 4 } });
    expect(run.branches[0].map.items).toContainEqual(
      expect.objectContaining({ index: 1, status: 'FAILED', error: expect.objectContaining({ code: 'CORRUPT_IMAGE' }) }),
    );
    const failed = (await timeline(runId)).find((e) => e.type === 'NODE_FAILED' && e.itemIndex === 1);
    expect(failed).toMatchObject({ nodeId: 'resize', branchId: 'b1', error: { code: 'CORRUPT_IMAGE' } });
    expect(failed!.at).toMatch(ISO_DATE);
  });
});

describe('OpenAPI', () => {
  it('documents the branches of runs and the branch and item of events', async () => {
    const doc = (await call('GET', '/openapi.json')).body;
    const { Run, RunSummary, Branch, BranchSummary, MapItem, Event } = doc.components.schemas;
    expect(Run.properties.branches).toMatchObject({ type: 'array', items: { properties: { branchId: expect.any(Object) } } });
    expect(Run.properties.branches.description).toContain('nodeId');
    expect(RunSummary.properties.branches.items.properties).not.toHaveProperty('resumePayload');
    expect(Object.keys(Branch.properties).sort()).toEqual([
      'attempt',
      'branchId',
      'child',
      'dueAt',
      'error',
      'event',
      'joined',
      'map',
      'nodeId',
      'recoveries',
      'resumePayload',
      'status',
      'waitReason',
      'waitTimedOut',
    ]);
    expect(Branch.properties.status.enum).toEqual(['READY', 'RUNNING', 'RETRY', 'WAITING', 'JOINING', 'FAILED']);
    for (const status of ['READY', 'RUNNING', 'RETRY', 'WAITING', 'JOINING', 'FAILED']) expect(Branch.properties.status.description).toContain(status);
    expect(Object.keys(BranchSummary.properties)).not.toContain('resumePayload');
    expect(MapItem.properties.index.description).toContain('itemIndex');
    expect(Event.properties).toHaveProperty('branchId');
    expect(Event.properties).toHaveProperty('itemIndex');
    for (const type of ['BRANCH_STARTED', 'BRANCH_ENDED', 'BRANCH_ABORTED', 'JOIN_ARRIVED', 'JOIN_COMPLETED', 'MAP_STARTED'])
      expect(Event.properties.type.description).toContain(type);
  });
});
