/**
 * Contract of versions in operation, through the engine on every store: `migrateRuns` moves a
 * run in flight to another version when its position exists there (a waiting run, a run in the
 * middle of a join or a map) and otherwise leaves it untouched with a reason (a `nodeMap` can
 * unblock it); `retryRun` puts a failed run back from the node that failed, once, however many
 * ask; `forkRun` runs a new run on from a node of another, leaving the source alone; `listFlows`
 * counts each version's unfinished and stranded runs.
 *
 * Each test makes its engines on the store of the suite (never closed here: closing an engine
 * closes its store), with flow ids of its own. The "old deploy" and the "new deploy" are two
 * engines: the new one registers only the new version, as a process started after a deploy does.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { FlowEngine, flow, type FlowDefinition, type FlowStorage } from '../../src/index.js';
import type { StoreHandle } from './storage-contract.js';

type Handler = Parameters<ReturnType<typeof flow>['node']>[1];
const ok =
  (output?: unknown): Handler =>
  () => ({ status: 'ok', output });

async function engineWith(storage: FlowStorage, ...defs: FlowDefinition[]): Promise<FlowEngine> {
  const engine = new FlowEngine({ storage });
  for (const def of defs) await engine.registerDefinition(def);
  return engine;
}

/** a → wait (parks until resumed) → b, and in version 2 a node `c` after b. */
function waitingFlow(flowId: string, version: string, opts: { waitNode?: string; withC?: boolean; calls?: string[] } = {}): FlowDefinition {
  const waitNode = opts.waitNode ?? 'wait';
  const seen =
    (id: string, output: unknown = id): Handler =>
    () => {
      opts.calls?.push(id);
      return { status: 'ok', output };
    };
  let f = flow(flowId, version)
    .entry('a')
    .node('a', seen('a'))
    .node(waitNode, (ctx) =>
      ctx.state._resumePayload === undefined ? { status: 'wait', reason: 'approval' } : { status: 'ok', output: ctx.state._resumePayload },
    )
    .node('b', seen('b'))
    .edge('a', waitNode)
    .edge(waitNode, 'b');
  if (opts.withC) f = f.node('c', seen('c', `c of ${version}`)).edge('b', 'c');
  return f.build();
}

export function versionsContract(handle: () => StoreHandle): void {
  const store = () => handle().storage;

  it('versions: a waiting run migrated to a version that adds a node after the wait completes through it (dry run first: same answer, nothing written)', async () => {
    const flowId = `mig-${randomUUID()}`;
    const old = await engineWith(store(), waitingFlow(flowId, '1'));
    const { runId } = await old.startRun({ flowId, version: '1', input: { order: 7 } });
    expect(await old.runToCompletion(runId)).toMatchObject({ status: 'WAITING', currentNodeId: 'wait' });
    const before = (await old.getRun(runId))!;

    const calls: string[] = [];
    const next = await engineWith(store(), waitingFlow(flowId, '2', { withC: true, calls }));
    const dry = await next.migrateRuns({ flowId, fromVersion: '1', toVersion: '2', dryRun: true });
    expect(dry).toEqual({ migrated: [runId], blocked: [] });
    expect(await next.getRun(runId)).toEqual({ ...before, readAt: expect.any(Date), dueInMs: expect.any(Number) });

    expect(await next.migrateRuns({ flowId, fromVersion: '1', toVersion: '2' })).toEqual(dry);
    const moved = (await next.getRun(runId))!;
    expect(moved).toMatchObject({ flowVersion: '2', status: 'WAITING', currentNodeId: 'wait', outputsJson: { a: 'a' }, version: before.version + 1 });
    const migrated = (await next.getTimeline(runId)).filter((e) => e.type === 'RUN_MIGRATED');
    expect(migrated.map((e) => e.payloadJson)).toEqual([{ fromVersion: '1', toVersion: '2', nodeMap: {} }]);
    // Nothing left of version 1 to move.
    expect(await next.migrateRuns({ flowId, fromVersion: '1', toVersion: '2' })).toEqual({ migrated: [], blocked: [] });

    await next.resumeRun(runId, 'approved');
    const done = await next.runToCompletion(runId);
    expect(done).toMatchObject({ status: 'COMPLETED', flowVersion: '2', outputsJson: { a: 'a', wait: 'approved', b: 'b', c: 'c of 2' } });
    expect(calls).toEqual(['b', 'c']);
  });

  it('versions: a version without the waiting node blocks the run, untouched; a nodeMap moves it', async () => {
    const flowId = `mig-${randomUUID()}`;
    const old = await engineWith(store(), waitingFlow(flowId, '1'));
    const { runId } = await old.startRun({ flowId, version: '1', input: {} });
    await old.runToCompletion(runId);
    const before = (await old.getRun(runId))!;

    const next = await engineWith(store(), waitingFlow(flowId, '2', { waitNode: 'approve' }));
    const blocked = await next.migrateRuns({ flowId, fromVersion: '1', toVersion: '2' });
    expect(blocked.migrated).toEqual([]);
    expect(blocked.blocked).toEqual([{ runId, reason: expect.stringMatching(/"wait".*does not have.*nodeMap/) }]);
    expect(await next.getRun(runId)).toMatchObject({ flowVersion: '1', version: before.version, updatedAt: before.updatedAt });
    expect((await next.getTimeline(runId)).map((e) => e.type)).not.toContain('RUN_MIGRATED');

    const moved = await next.migrateRuns({ flowId, fromVersion: '1', toVersion: '2', nodeMap: { wait: 'approve' }, runIds: [runId] });
    expect(moved).toEqual({ migrated: [runId], blocked: [] });
    expect(await next.getRun(runId)).toMatchObject({ flowVersion: '2', currentNodeId: 'approve', branches: [expect.objectContaining({ nodeId: 'approve' })] });
    const event = (await next.getTimeline(runId)).find((e) => e.type === 'RUN_MIGRATED');
    expect(event?.payloadJson).toEqual({ fromVersion: '1', toVersion: '2', nodeMap: { wait: 'approve' } });
    await next.resumeRun(runId, 'yes');
    expect(await next.runToCompletion(runId)).toMatchObject({ status: 'COMPLETED', outputsJson: { approve: 'yes', b: 'b' } });
  });

  it('versions: a run held by a worker is never migrated under it: blocked ("try again"), untouched, and moved once let go', async () => {
    const flowId = `mig-held-${randomUUID()}`;
    const old = await engineWith(store(), waitingFlow(flowId, '1'));
    const { runId } = await old.startRun({ flowId, version: '1', input: {} });
    await old.runToCompletion(runId);
    const next = await engineWith(store(), waitingFlow(flowId, '2'));
    const holder = (await store().lockRun(runId))!;
    try {
      expect(await next.migrateRuns({ flowId, fromVersion: '1', toVersion: '2' })).toEqual({
        migrated: [],
        blocked: [{ runId, reason: 'held by a worker, try again' }],
      });
      expect(await next.getRun(runId)).toMatchObject({ flowVersion: '1', version: holder.run!.version });
    } finally {
      await holder.release();
    }
    expect(await next.migrateRuns({ flowId, fromVersion: '1', toVersion: '2' })).toEqual({ migrated: [runId], blocked: [] });
  });

  it('versions: bad input is a typed error and changes nothing', async () => {
    const flowId = `mig-${randomUUID()}`;
    const old = await engineWith(store(), waitingFlow(flowId, '1'));
    const { runId } = await old.startRun({ flowId, version: '1', input: {} });
    await old.runToCompletion(runId);
    const next = await engineWith(store(), waitingFlow(flowId, '2'));
    await expect(next.migrateRuns({ flowId, fromVersion: '2', toVersion: '2' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(next.migrateRuns({ flowId, fromVersion: '1', toVersion: '2', nodeMap: { nope: 'b' } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('"nope"'),
    });
    await expect(next.migrateRuns({ flowId, fromVersion: '1', toVersion: '2', nodeMap: { wait: 'nope' } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(next.migrateRuns({ flowId, fromVersion: '1', toVersion: '2', runIds: [runId, 'no-such-run'] })).rejects.toMatchObject({
      code: 'RUN_NOT_FOUND',
    });
    await expect(next.migrateRuns({ flowId, fromVersion: '1', toVersion: '3' })).rejects.toMatchObject({ code: 'FLOW_NOT_FOUND' });
    expect(await next.getRun(runId)).toMatchObject({ flowVersion: '1' });
    await expect(next.retryRun('no-such-run')).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' });
    await expect(next.retryRun(runId)).rejects.toMatchObject({ code: 'INVALID_RUN_STATE' });
    await expect(next.forkRun(runId, { fromNodeId: 'nope', version: '2' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(next.forkRun(runId, { fromNodeId: 'a' })).rejects.toMatchObject({ code: 'FLOW_NOT_FOUND' });
    await expect(old.forkRun(runId, { fromNodeId: 'b' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('never started'),
    });
  });

  it('versions: a run in the middle of a join moves when the join is still one, and is blocked (untouched) when it is not', async () => {
    const flowId = `mig-join-${randomUUID()}`;
    const splitFlow = (version: string, joinOpts: { join?: 'all' }) =>
      flow(flowId, version)
        .entry('a')
        .node('a', ok('a'), { split: 'all' })
        .node('x', ok('x'))
        .node('y', (ctx) => (ctx.state._resumePayload === undefined ? { status: 'wait' } : { status: 'ok', output: 'y' }))
        .node('j', (ctx) => ({ status: 'ok', output: { x: ctx.outputs.x, y: ctx.outputs.y, version } }), joinOpts)
        .edge('a', 'x')
        .edge('a', 'y')
        .edge('x', 'j')
        .edge('y', 'j')
        .build();
    const old = await engineWith(store(), splitFlow('1', { join: 'all' }));
    const { runId } = await old.startRun({ flowId, version: '1', input: {} });
    const parked = await old.runToCompletion(runId);
    expect(parked.branches.map((b) => [b.nodeId, b.status]).sort()).toEqual([
      ['j', 'JOINING'],
      ['y', 'WAITING'],
    ]);

    const noJoin = flow(flowId, '3').entry('a').node('a', ok('a')).node('y', ok('y')).node('j', ok('j')).edge('a', 'y').edge('y', 'j').build();
    const blocking = await engineWith(store(), noJoin);
    const blocked = await blocking.migrateRuns({ flowId, fromVersion: '1', toVersion: '3' });
    expect(blocked.blocked).toEqual([{ runId, reason: expect.stringContaining('join') }]);
    expect(await blocking.getRun(runId)).toMatchObject({ flowVersion: '1', version: parked.version });

    const next = await engineWith(store(), splitFlow('2', { join: 'all' }));
    expect(await next.migrateRuns({ flowId, fromVersion: '1', toVersion: '2' })).toEqual({ migrated: [runId], blocked: [] });
    await next.resumeRun(runId, 'go', { nodeId: 'y' });
    expect(await next.runToCompletion(runId)).toMatchObject({ status: 'COMPLETED', outputsJson: { j: { x: 'x', y: 'y', version: '2' } } });
  });

  it('versions: a run in the middle of a map moves to a version where the node is still a map, and is blocked where it is not', async () => {
    const flowId = `mig-map-${randomUUID()}`;
    const mapFlow = (version: string, failFirst: boolean) =>
      flow(flowId, version)
        .entry('m')
        .node(
          'm',
          (ctx) =>
            failFirst && ctx.itemIndex === 1
              ? { status: 'error', error: { code: 'FLAKY', message: 'later', retryable: true } }
              : { status: 'ok', output: `${version}:${String(ctx.item)}` },
          { forEach: () => ['p', 'q', 'r'], concurrency: 3, retry: { maxAttempts: 3, backoff: 'fixed', baseDelayMs: 400 } },
        )
        .node('after', (ctx) => ({ status: 'ok', output: ctx.outputs.m }))
        .edge('m', 'after')
        .build();
    const old = await engineWith(store(), mapFlow('1', true));
    const { runId } = await old.startRun({ flowId, version: '1', input: {} });
    const mid = await old.runToCompletion(runId, { maxWaitMs: 0 });
    expect(mid.branches[0]).toMatchObject({ nodeId: 'm', status: 'RUNNING', map: { total: 3, done: 2 } });

    const notAMap = flow(flowId, '3').entry('m').node('m', ok('m')).build();
    const blocking = await engineWith(store(), notAMap);
    expect((await blocking.migrateRuns({ flowId, fromVersion: '1', toVersion: '3' })).blocked).toEqual([{ runId, reason: expect.stringContaining('forEach') }]);
    expect(await blocking.getRun(runId)).toMatchObject({ flowVersion: '1', version: mid.version });

    const next = await engineWith(store(), mapFlow('2', false));
    expect(await next.migrateRuns({ flowId, fromVersion: '1', toVersion: '2' })).toEqual({ migrated: [runId], blocked: [] });
    const done = await next.runToCompletion(runId);
    // The items finished under version 1 are kept; the one left runs under version 2.
    expect(done).toMatchObject({ status: 'COMPLETED', flowVersion: '2', outputsJson: { after: ['1:p', '2:q', '1:r'] } });
  });

  it('versions: retryRun after the failing handler is fixed re-runs only the failed node and what follows', async () => {
    const flowId = `retry-${randomUUID()}`;
    const calls: string[] = [];
    let broken = true;
    const seen =
      (id: string): Handler =>
      (ctx) => {
        calls.push(id);
        if (id === 'b' && broken) return { status: 'error', error: { code: 'BROKEN', message: 'b is broken', retryable: false } };
        return { status: 'ok', output: `${id}${(ctx.state as { note?: string }).note ? `:${String((ctx.state as { note?: string }).note)}` : ''}` };
      };
    const def = flow(flowId, '1')
      .entry('a')
      .node('a', seen('a'))
      .node('b', seen('b'), { retry: { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 1 } })
      .node('c', seen('c'))
      .edge('a', 'b')
      .edge('b', 'c')
      .build();
    const engine = await engineWith(store(), def);
    const { runId } = await engine.startRun({ flowId, version: '1', input: {} });
    const failed = await engine.runToCompletion(runId);
    expect(failed).toMatchObject({ status: 'FAILED', error: { code: 'BROKEN' } });
    expect(calls).toEqual(['a', 'b']);

    broken = false;
    const retried = await engine.retryRun(runId, { statePatch: { note: 'fixed' } });
    expect(retried).toMatchObject({ runId, status: 'RUNNING', error: null, currentNodeId: 'b', stateJson: { note: 'fixed' } });
    const done = await engine.runToCompletion(runId);
    expect(done).toMatchObject({ status: 'COMPLETED', error: null, outputsJson: { a: 'a', b: 'b:fixed', c: 'c:fixed' } });
    expect(calls).toEqual(['a', 'b', 'b', 'c']);
    const timeline = await engine.getTimeline(runId);
    const at = timeline.findIndex((e) => e.type === 'RUN_RETRIED');
    expect(timeline[at]!.payloadJson).toMatchObject({ status: 'FAILED', fromNodeIds: ['b'] });
    // Attempts start again from 1.
    expect(timeline.slice(at).find((e) => e.type === 'NODE_STARTED')).toMatchObject({ nodeId: 'b', attempt: 1 });
    await expect(engine.retryRun(runId)).rejects.toMatchObject({ code: 'INVALID_RUN_STATE' });
  });

  it('versions: concurrent retryRun of one run: one wins, the others get INVALID_RUN_STATE', async () => {
    const flowId = `retry-race-${randomUUID()}`;
    let fail = true;
    const def = flow(flowId, '1')
      .entry('a')
      .node('a', () => (fail ? { status: 'error', error: { code: 'NO', message: 'no', retryable: false } } : { status: 'ok' }))
      .build();
    const engine = await engineWith(store(), def);
    const second = await handle().second?.();
    const other = second ? await engineWith(second, def) : engine;
    const { runId } = await engine.startRun({ flowId, version: '1', input: {} });
    await engine.runToCompletion(runId);
    fail = false;
    const results = await Promise.allSettled([engine.retryRun(runId), other.retryRun(runId), engine.retryRun(runId), other.retryRun(runId)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((r) => r.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'INVALID_RUN_STATE' });
    expect((await engine.getTimeline(runId)).filter((e) => e.type === 'RUN_RETRIED')).toHaveLength(1);
    expect(await engine.runToCompletion(runId)).toMatchObject({ status: 'COMPLETED' });
  });

  it('versions: forkRun from the middle of a chain re-runs only from there and leaves the source alone', async () => {
    const flowId = `fork-${randomUUID()}`;
    const calls: string[] = [];
    const seen =
      (id: string): Handler =>
      (ctx) => {
        calls.push(id);
        return { status: 'ok', output: `${id}${(ctx.state as { note?: string }).note ? `:${String((ctx.state as { note?: string }).note)}` : ''}` };
      };
    const key = `order-${randomUUID()}`;
    // b's key is the same in every run of the order: the fork runs b again all the same.
    const def = flow(flowId, '1')
      .entry('a')
      .node('a', seen('a'))
      .node('b', seen('b'), { idempotencyKey: () => `${key}:b` })
      .node('c', seen('c'))
      .edge('a', 'b')
      .edge('b', 'c')
      .build();
    const engine = await engineWith(store(), def);
    const { runId: source } = await engine.startRun({ flowId, version: '1', input: { n: 1 }, idempotencyKey: key });
    await engine.runToCompletion(source);
    const sourceBefore = (await engine.getRun(source))!;
    const timelineBefore = await engine.getTimeline(source);
    calls.length = 0;

    const { runId: fork } = await engine.forkRun(source, { fromNodeId: 'b', statePatch: { note: 'again' } });
    expect(fork).not.toBe(source);
    const forked = (await engine.getRun(fork))!;
    expect(forked).toMatchObject({
      forkedFrom: { runId: source, nodeId: 'b' },
      status: 'RUNNING',
      idempotencyKey: null,
      inputJson: { n: 1 },
      outputsJson: { a: 'a' },
    });
    expect((await engine.getTimeline(fork))[0]).toMatchObject({ type: 'RUN_FORKED', payloadJson: expect.objectContaining({ runId: source, nodeId: 'b' }) });
    const listed = (await engine.listRuns({ flowId, summary: true })).runs.find((r) => r.runId === fork);
    expect(listed).toMatchObject({ forkedFrom: { runId: source, nodeId: 'b' } });
    const done = await engine.runToCompletion(fork);
    expect(done).toMatchObject({ status: 'COMPLETED', outputsJson: { a: 'a', b: 'b:again', c: 'c:again' } });
    expect(calls).toEqual(['b', 'c']);

    expect(await engine.getRun(source)).toEqual({ ...sourceBefore, readAt: expect.any(Date), dueInMs: expect.any(Number) });
    expect(await engine.getTimeline(source)).toEqual(timelineBefore);
    // The source keeps its idempotency key.
    expect((await engine.startRun({ flowId, version: '1', input: {}, idempotencyKey: key })).runId).toBe(source);
  });

  it('versions: a fork starts with the state as it was when the source first started the node (plus statePatch)', async () => {
    const flowId = `fork-state-${randomUUID()}`;
    const seenState: Record<string, unknown>[] = [];
    const visit =
      (id: string): Handler =>
      (ctx) => {
        const state = ctx.state as { visits?: string[] };
        seenState.push({ id, ...state });
        return { status: 'ok', patch: { visits: [...(state.visits ?? []), id] } };
      };
    const def = flow(flowId, '1').entry('a').node('a', visit('a')).node('b', visit('b')).node('c', visit('c')).edge('a', 'b').edge('b', 'c').build();
    const engine = await engineWith(store(), def);
    const { runId: source } = await engine.startRun({ flowId, version: '1', input: {}, initialState: { tenant: 't1' } });
    expect(await engine.runToCompletion(source)).toMatchObject({ stateJson: { tenant: 't1', visits: ['a', 'b', 'c'] } });
    seenState.length = 0;

    const { runId: fork } = await engine.forkRun(source, { fromNodeId: 'b', statePatch: { note: 'again' } });
    expect(await engine.getRun(fork)).toMatchObject({ stateJson: { tenant: 't1', visits: ['a'], note: 'again' } });
    const done = await engine.runToCompletion(fork);
    expect(seenState).toEqual([
      { id: 'b', tenant: 't1', visits: ['a'], note: 'again' },
      { id: 'c', tenant: 't1', visits: ['a', 'b'], note: 'again' },
    ]);
    expect(done).toMatchObject({ status: 'COMPLETED', stateJson: { tenant: 't1', visits: ['a', 'b', 'c'], note: 'again' } });
    // A fork of the fork starts from the fork's own history.
    const { runId: again } = await engine.forkRun(fork, { fromNodeId: 'c' });
    expect(await engine.getRun(again)).toMatchObject({ stateJson: { tenant: 't1', visits: ['a', 'b'], note: 'again' } });
  });

  it('versions: the store’s rewrite of a held run is fenced by its version: a stale one writes nothing', async () => {
    const s = store();
    const flowId = `rewrite-${randomUUID()}`;
    const old = await engineWith(s, waitingFlow(flowId, '1'));
    const { runId } = await old.startRun({ flowId, version: '1', input: {} });
    await old.runToCompletion(runId);
    const before = (await s.getRun(runId))!;
    const lease = (await s.lockRun(runId))!;
    try {
      const rewrite = {
        expectedVersion: before.version - 1,
        flowVersion: '9',
        status: 'RUNNING' as const,
        currentNodeId: 'b',
        branches: JSON.stringify([{ branchId: 'b9', nodeId: 'b', status: 'READY', attempt: 0, recoveries: 0 }]) as never,
        state: '{}' as never,
        attempts: '{}' as never,
        attempt: 0,
        attemptInFlight: false,
        recoveries: 0,
        nextAttemptAt: null,
        waitReason: null,
        error: null,
        compensation: null,
        compensated: null,
        events: [{ type: 'RUN_MIGRATED' as const }],
      };
      expect(await s.rewriteRun(runId, rewrite)).toBeNull();
      expect(await s.getRun(runId)).toMatchObject({ flowVersion: '1', version: before.version, lastSeq: before.lastSeq });
      const moved = await s.rewriteRun(runId, { ...rewrite, expectedVersion: before.version });
      expect(moved).toMatchObject({ flowVersion: '9', status: 'RUNNING', currentNodeId: 'b', version: before.version + 1, lastSeq: before.lastSeq + 1 });
      expect(await s.getRun(runId)).toMatchObject({ flowVersion: '9', version: before.version + 1, branches: [expect.objectContaining({ branchId: 'b9' })] });
      expect((await s.getEvents(runId)).at(-1)).toMatchObject({ seq: before.lastSeq + 1, type: 'RUN_MIGRATED' });
    } finally {
      await lease.release();
    }
  });

  it('versions: listFlows counts each version’s unfinished runs, and the due ones of a version served nowhere as stranded', async () => {
    const flowId = `count-${randomUUID()}`;
    const old = await engineWith(store(), waitingFlow(flowId, '1'));
    const waiting = (await old.startRun({ flowId, version: '1', input: {} })).runId;
    await old.runToCompletion(waiting);
    await old.startRun({ flowId, version: '1', input: {} }); // due, never driven
    const next = await engineWith(store(), waitingFlow(flowId, '2'));
    const of = (flows: Awaited<ReturnType<FlowEngine['listFlows']>>, version: string) => flows.find((f) => f.flowId === flowId && f.version === version);
    const seenByNew = await next.listFlows();
    expect(of(seenByNew, '1')).toMatchObject({ registered: false, unfinishedRuns: 2, strandedRuns: 1 });
    expect(of(seenByNew, '2')).toMatchObject({ registered: true, unfinishedRuns: 0, strandedRuns: 0 });
    expect(of(await old.listFlows(), '1')).toMatchObject({ registered: true, unfinishedRuns: 2, strandedRuns: 0 });
    // A live worker of version 1 in another process (the workers' registry): its runs are not stranded.
    const beat = { host: 'elsewhere', pid: 1, startedAt: new Date(), heartbeatMs: 60_000, concurrency: 4, inFlight: 0 };
    const workerId = `w-${randomUUID()}`;
    await store().recordWorker({ ...beat, workerId, flowKeys: [`${flowId}@1`] });
    try {
      expect(of(await next.listFlows(), '1')).toMatchObject({ registered: false, unfinishedRuns: 2, strandedRuns: 0 });
    } finally {
      await store().removeWorker(workerId);
    }
  });
}
