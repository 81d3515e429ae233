/**
 * The run's state machine as a user sees it, on every store: a waiting branch says what it waits
 * for, and the attempt number is the same in getRun, the run row, the timeline and
 * `attemptsJson`; the one table of moves refuses a move it does not list; rows written before
 * `waitFor` existed are read with it.
 */
import { describe, expect, it } from 'vitest';
import { flow, type NodeResult } from '@hazeljs/flow';
import { BRANCH_MOVES, STEP_MOVES, moveBranch, moveStep, readBranches, type BranchRecord, type CompensationStep } from '../../src/core/states.js';
import { storeCases } from '../helpers/stores.js';
import { engineOnStore } from '../helpers/engine-on-store.js';

describe.each(storeCases)('the run state machine on $name', (store) => {
  const t = engineOnStore(store);
  const { uniq, start } = t;

  it('a branch waiting for an event shows the attempt that parked it, as the timeline and attemptsJson do', async () => {
    const name = uniq('paid');
    const def = flow(uniq('event-attempt'), '1')
      .entry('await')
      .node('await', (ctx): NodeResult => (ctx.state._resumePayload ? { status: 'ok', output: ctx.state._resumePayload } : { status: 'wait', event: { name } }))
      .build();
    const runId = await start(def);
    const run = await t.engine.runToCompletion(runId);
    expect(run.status).toBe('WAITING');
    expect(run.branches).toEqual([
      {
        branchId: 'b1',
        nodeId: 'await',
        status: 'WAITING',
        attempt: 1,
        recoveries: 0,
        waitId: expect.any(Number),
        waitReason: null,
        waitFor: 'event',
        event: { name, key: null },
        dueAt: null,
      },
    ]);
    expect(run.attempt).toBe(1);
    expect(run.attemptsJson).toEqual({ await: 1 });
    const parked = (await t.engine.getTimeline(runId)).find((e) => e.type === 'RUN_WAITING')!;
    expect(parked.attempt).toBe(1);

    await t.engine.sendEvent({ name, payload: { ok: true } });
    const done = await t.engine.runToCompletion(runId);
    expect(done.status).toBe('COMPLETED');
    // The answered node ran again as a new activation: attempt 1 of its own, the second begun at the node.
    const started = (await t.engine.getTimeline(runId)).filter((e) => e.type === 'NODE_STARTED').map((e) => e.attempt);
    expect(started).toEqual([1, 1]);
    expect(done.attemptsJson).toEqual({ await: 2 });
  });

  it('each kind of wait is a typed state: a timer, a manual resume, a child run', async () => {
    const child = flow(uniq('child'), '1')
      .entry('hold')
      .node('hold', (): NodeResult => ({ status: 'wait', reason: 'hold' }))
      .build();
    await t.engine.registerDefinition(child);
    const until = new Date(Date.now() + 3_600_000).toISOString();
    const def = flow(uniq('waits'), '1')
      .entry('fork')
      .node('fork', () => ({ status: 'ok' }), { split: 'all' })
      .node('timer', (): NodeResult => ({ status: 'wait', until, reason: 'later' }))
      .node('manual', (): NodeResult => ({ status: 'wait', reason: 'approval' }))
      .node('spawn', (): NodeResult => ({ status: 'child', flowId: child.flowId, version: '1', input: {} }))
      .edge('fork', 'timer')
      .edge('fork', 'manual')
      .edge('fork', 'spawn')
      .build();
    const runId = await start(def);
    const run = await t.engine.tick(runId);
    const parked = await t.engine.tick(run.runId);
    const byNode = Object.fromEntries(parked.branches.map((b) => [b.nodeId, b]));
    expect(byNode.timer).toMatchObject({ status: 'WAITING', waitFor: 'timer', dueAt: until, waitReason: 'later', attempt: 1 });
    expect(byNode.manual).toMatchObject({ status: 'WAITING', waitFor: 'resume', waitReason: 'approval', attempt: 1 });
    expect(byNode.manual).not.toHaveProperty('dueAt');
    expect(byNode.spawn).toMatchObject({ status: 'WAITING', waitFor: 'child', child: { runId: expect.any(String) }, attempt: 1 });
    for (const b of parked.branches) expect(b).not.toHaveProperty('error');
    await t.engine.cancelRun(runId);
  });

  it('a retry keeps its error and due time only while it is a retry', async () => {
    let calls = 0;
    const def = flow(uniq('retry'), '1')
      .entry('flaky')
      .node(
        'flaky',
        () => {
          calls += 1;
          if (calls === 1) throw new Error('once');
          return { status: 'ok' };
        },
        { retry: { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 60_000 } },
      )
      .build();
    const runId = await start(def);
    const run = await t.engine.tick(runId);
    expect(run.branches).toEqual([
      {
        branchId: 'b1',
        nodeId: 'flaky',
        status: 'RETRY',
        attempt: 1,
        recoveries: 0,
        dueAt: expect.any(String),
        error: { code: 'HANDLER_ERROR', message: 'once', retryable: true },
      },
    ]);
    await t.engine.cancelRun(runId);
  });
});

describe('the table of moves', () => {
  const at = (b: Partial<BranchRecord> & Pick<BranchRecord, 'status'>): BranchRecord =>
    ({ branchId: 'b1', nodeId: 'n', attempt: 1, recoveries: 0, ...b }) as BranchRecord;

  it('refuses a move it does not list, with a typed error, and changes nothing', () => {
    const failed = at({ status: 'FAILED', error: { code: 'E', message: 'x' } });
    expect(() => moveBranch(failed, at({ status: 'READY' }))).toThrow(expect.objectContaining({ code: 'ILLEGAL_STATE_MOVE' }));
    expect(failed).toEqual(at({ status: 'FAILED', error: { code: 'E', message: 'x' } }));
    const joining = at({ status: 'JOINING' });
    expect(() => moveBranch(joining, at({ status: 'RUNNING' }))).toThrow(/JOINING to RUNNING/);
  });

  it('a move keeps only the fields of the new state', () => {
    const retry = at({ status: 'RETRY', dueAt: '2030-01-01T00:00:00.000Z', error: { code: 'E', message: 'x' } });
    moveBranch(retry, at({ status: 'RUNNING', attempt: 2 }));
    expect(retry).toEqual({ branchId: 'b1', nodeId: 'n', attempt: 2, recoveries: 0, status: 'RUNNING' });
  });

  it('every state is in the table, and FAILED is final', () => {
    expect(Object.keys(BRANCH_MOVES).sort()).toEqual(['FAILED', 'JOINING', 'READY', 'RETRY', 'RUNNING', 'WAITING']);
    expect(BRANCH_MOVES.FAILED).toEqual([]);
  });

  it('a compensation step moves READY → RUNNING → RETRY → RUNNING, and only so; a move keeps only the new state’s fields', () => {
    expect(STEP_MOVES).toEqual({ READY: ['RUNNING'], RUNNING: ['READY', 'RETRY'], RETRY: ['RUNNING'] });
    const step: CompensationStep = { nodeId: 'charge', branchId: 'b1', status: 'READY', attempt: 0, recoveries: 0 };
    expect(() => moveStep(step, { ...step, status: 'RETRY', dueAt: '2026-01-01T00:00:00.000Z', error: { code: 'X', message: 'x' } })).toThrow(
      expect.objectContaining({ code: 'ILLEGAL_STATE_MOVE' }),
    );
    moveStep(step, { nodeId: 'charge', branchId: 'b1', status: 'RUNNING', attempt: 1, recoveries: 0, attemptKey: 7 });
    moveStep(step, {
      nodeId: 'charge',
      branchId: 'b1',
      status: 'RETRY',
      attempt: 1,
      recoveries: 0,
      dueAt: '2026-01-01T00:00:00.000Z',
      error: { code: 'X', message: 'x' },
    });
    expect(step).not.toHaveProperty('attemptKey');
    expect(step).toMatchObject({ status: 'RETRY', dueAt: '2026-01-01T00:00:00.000Z' });
  });

  it('reads a WAITING branch stored before `waitFor` existed', () => {
    const old = [
      { branchId: 'b1', nodeId: 'a', status: 'WAITING', attempt: 0, recoveries: 0, dueAt: null, waitReason: 'approval', error: null, waitId: 3 },
      { branchId: 'b2', nodeId: 'b', status: 'WAITING', attempt: 0, recoveries: 0, dueAt: '2030-01-01T00:00:00.000Z', waitReason: null, error: null },
      {
        branchId: 'b3',
        nodeId: 'c',
        status: 'WAITING',
        attempt: 0,
        recoveries: 0,
        dueAt: null,
        waitReason: null,
        error: null,
        waitId: 5,
        event: { name: 'e', key: null },
      },
      {
        branchId: 'b4',
        nodeId: 'd',
        status: 'WAITING',
        attempt: 1,
        recoveries: 0,
        dueAt: null,
        waitReason: 'child f@1',
        error: null,
        waitId: 6,
        child: { runId: 'r' },
      },
    ];
    expect(readBranches(old).map((b) => (b.status === 'WAITING' ? [b.waitFor, b.waitId] : null))).toEqual([
      ['resume', 3],
      ['timer', 0],
      ['event', 5],
      ['child', 6],
    ]);
  });
});
