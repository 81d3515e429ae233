/**
 * Contract of what compensation asks of a store: the run's compensation log (`update.compensation`,
 * JSON text) and `compensated` written by a commit and read back as they were (a summary carries
 * `compensated` but not the log), each left as it is when a commit omits it; and a cancel that
 * compensates, which is an inbox entry of kind 'cancel' naming no wait: taken for a live run,
 * which it makes due, however long its timers still run.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { CompensationLog } from '../../src/core/states.js';
import type { FlowRunRecord, FlowStorage, Transition } from '../../src/storage/types.js';
import { asRead, branch, j, newRun, step } from './contract-helpers.js';
import type { StoreHandle } from './storage-contract.js';

/** Commits `patch` to the run under a lock taken and let go here. */
async function commitTo(s: FlowStorage, runId: string, patch: Parameters<typeof step>[1], extra: Partial<Transition> = {}): Promise<FlowRunRecord> {
  const lease = (await s.lockRun(runId))!;
  return lease.commit(step(lease.run!, patch, { release: true, ...extra }));
}

/** What finished and could be undone: a node, two items of a map, a child run's node; then, undoing it, the phase. */
const finished: CompensationLog['finished'] = [
  { nodeId: 'charge', branchId: 'b1' },
  { nodeId: 'each', branchId: 'b1', items: [1, 0] },
  { nodeId: 'ship', branchId: 'b4', childRunId: 'child-1', childOnly: true },
];
const undoing: CompensationLog = {
  finished,
  phase: {
    cause: 'failed',
    error: { code: 'NO_COURIER', message: 'no courier today', retryable: false },
    failedNodeId: 'deliver',
    failedAttempt: 2,
    steps: [
      {
        nodeId: 'each',
        branchId: 'b1',
        itemIndex: 0,
        status: 'RETRY',
        attempt: 1,
        recoveries: 0,
        dueAt: '2026-12-08T10:00:00.000Z',
        error: { code: 'E', message: 'm' },
      },
      { nodeId: 'charge', branchId: 'b1', status: 'READY', attempt: 0, recoveries: 0 },
    ],
    failures: 1,
  },
};

export function compensationContract(handle: () => StoreHandle): void {
  const store = () => handle().storage;

  it('round-trips the compensation log and compensated through commits; a commit that omits them leaves them as they are', async () => {
    const s = store();
    const flowId = `compensation-${randomUUID()}`;
    const { run } = await s.createRun(newRun({ flowId }));
    expect(run).toMatchObject({ compensation: null, compensated: null });

    const logged = await commitTo(s, run.runId, { compensation: j({ finished, phase: null }) });
    expect(logged).toMatchObject({ compensation: { finished, phase: null }, compensated: null });
    expect(await s.getRun(run.runId)).toEqual(asRead(logged));

    // Omitted: unchanged, whatever else the commit writes.
    const moved = await commitTo(s, run.runId, { currentNodeId: 'b', branches: j([branch('b')]), state: j({ x: 1 }) });
    expect(moved).toMatchObject({ currentNodeId: 'b', compensation: { finished, phase: null }, compensated: null });

    // Undoing: the phase (steps of every state, failures counted) is stored as given.
    const compensating = await commitTo(s, run.runId, { currentNodeId: 'each', branches: j([]), compensation: j(undoing) });
    expect(compensating.compensation).toEqual(undoing);
    expect(await s.getRun(run.runId)).toEqual(asRead(compensating));

    // Ends: compensated written with the last log, then kept by a commit that omits both.
    const done: CompensationLog = { finished, phase: { ...undoing.phase!, steps: [] } };
    const ended = await commitTo(s, run.runId, {
      status: 'FAILED',
      currentNodeId: null,
      error: undoing.phase!.error,
      compensation: j(done),
      compensated: false,
    });
    expect(ended).toMatchObject({ status: 'FAILED', compensation: done, compensated: false });
    const kept = await commitTo(s, run.runId, { status: 'FAILED', currentNodeId: null, error: undoing.phase!.error });
    expect(kept).toMatchObject({ compensation: done, compensated: false });
    expect(await s.getRun(run.runId)).toEqual(asRead(kept));

    // Another run, compensated true: the lists show it; a summary has `compensated` but never the log.
    const { run: other } = await s.createRun(newRun({ flowId }));
    const cancelled = await commitTo(s, other.runId, {
      status: 'CANCELLED',
      currentNodeId: null,
      branches: j([]),
      error: { code: 'CANCELLED', message: 'Cancelled', retryable: false },
      compensation: j({ finished: [{ nodeId: 'charge', branchId: 'b1' }], phase: null }),
      compensated: true,
    });
    expect(cancelled).toMatchObject({ compensated: true, compensation: { finished: [{ nodeId: 'charge', branchId: 'b1' }], phase: null } });
    const full = await s.listRuns({ flowId, limit: 10 });
    const summary = await s.listRuns({ flowId, limit: 10, summary: true });
    const byId = <T extends { runId: string }>(list: T[]) => new Map(list.map((r) => [r.runId, r]));
    expect(byId(full.runs).get(run.runId)).toMatchObject({ compensation: done, compensated: false });
    expect(byId(full.runs).get(other.runId)).toMatchObject({ compensated: true });
    for (const [runId, compensated] of [
      [run.runId, false],
      [other.runId, true],
    ] as const) {
      const r = byId(summary.runs).get(runId)!;
      expect(r.compensated).toBe(compensated);
      expect(r).not.toHaveProperty('compensation');
    }
  });

  it('takes a cancel entry (no wait) for a live run and makes it due, whatever its timers; the holder reads it and consumes it', async () => {
    const s = store();
    const flowId = `cancel-entry-${randomUUID()}`;
    const { run: created } = await s.createRun(newRun({ flowId }));
    // WAITING for a resume, with a timer an hour away elsewhere: not due.
    const parked = await commitTo(s, created.runId, {
      status: 'WAITING',
      waitReason: 'approval',
      nextAttemptAt: { delayMs: 3_600_000 },
      branches: j([branch('a', { status: 'WAITING', waitReason: 'approval', waitId: 4 })]),
    });
    expect(await s.findDueRuns({ limit: 1000, flowKeys: [`${flowId}@1`] })).not.toContain(parked.runId);
    expect(await s.lockRun(parked.runId, { onlyIfDue: true })).toBeNull();

    const cancel = { runId: parked.runId, kind: 'cancel' as const, waitId: null, branchId: null, payload: j({ reason: 'customer left' }) };
    expect(await s.addToInbox(cancel)).toBe(true);
    expect(await s.getInbox(parked.runId)).toEqual([
      {
        id: expect.any(Number),
        runId: parked.runId,
        kind: 'cancel',
        waitId: null,
        branchId: null,
        payload: { reason: 'customer left' },
        createdAt: expect.any(Date),
      },
    ]);
    expect((await s.getRun(parked.runId))!.hasInbox).toBe(true);
    expect(await s.findDueRuns({ limit: 1000, flowKeys: [`${flowId}@1`] })).toEqual([parked.runId]);

    const lease = (await s.lockRun(parked.runId, { onlyIfDue: true }))!;
    expect(lease).not.toBeNull();
    expect(lease.run).toMatchObject({ status: 'WAITING', hasInbox: true, version: parked.version });
    const [entry] = await s.getInbox(parked.runId);
    const next = await lease.commit(
      step(lease.run!, { status: 'RUNNING', nextAttemptAt: null, branches: j([]) }, { consumeInbox: [entry!.id], release: true }),
    );
    expect(next.hasInbox).toBe(false);
    expect(await s.getInbox(parked.runId)).toEqual([]);
  });
}
