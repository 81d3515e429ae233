/**
 * Contract of what operating the engine reads and writes: `countRuns` per flow, version and
 * status; `countDueRuns` by the rule of due (storage/due.ts) with the age of the oldest, an answer
 * in the inbox making a waiting run due; the workers' registry — a row written and refreshed
 * (`lastSeenAt` by the store's clock), listed `live` then `silent` after 3 missed heartbeats, left
 * out after 30 and deleted by another worker's refresh, removed at stop — and a run's traceparent
 * stored at creation and read back by every read.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { asRead, branch, j, newRun, step } from './contract-helpers.js';
import type { StoreHandle } from './storage-contract.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function operationsContract(handle: () => StoreHandle): void {
  const store = () => handle().storage;

  it('operations: runs counted per flow, version and status; due runs per flow version with the age of the oldest', async () => {
    const s = store();
    const flowId = `ops-${randomUUID()}`;
    await s.createRun(newRun({ flowId }));
    await s.createRun(newRun({ flowId }));
    const waiting = (await s.createRun(newRun({ flowId, flowVersion: '2' }))).run;
    const lease = (await s.lockRun(waiting.runId))!;
    const parked = branch('a', { status: 'WAITING', waitId: 1, waitFor: 'resume', waitReason: 'ok?' });
    await lease.commit(step(lease.run!, { status: 'WAITING', branches: j([parked]) }, { release: true }));
    await sleep(20);
    const counts = (await s.countRuns()).filter((c) => c.flowId === flowId).sort((a, b) => a.flowVersion.localeCompare(b.flowVersion));
    expect(counts).toEqual([
      { flowId, flowVersion: '1', status: 'RUNNING', count: 2 },
      { flowId, flowVersion: '2', status: 'WAITING', count: 1 },
    ]);
    const due = (await s.countDueRuns()).filter((c) => c.flowId === flowId);
    expect(due).toEqual([{ flowId, flowVersion: '1', due: 2, oldestDueSeconds: expect.any(Number) }]);
    expect(due[0]!.oldestDueSeconds).toBeGreaterThanOrEqual(0.015);
    expect(due[0]!.oldestDueSeconds).toBeLessThan(60);

    // An answer in its inbox makes the waiting run due, since the answer came.
    expect(await s.addToInbox({ runId: waiting.runId, kind: 'resume', waitId: 1, branchId: parked.branchId, payload: j(null) })).toBe(true);
    const answered = (await s.countDueRuns()).find((c) => c.flowId === flowId && c.flowVersion === '2');
    expect(answered).toMatchObject({ due: 1 });
    expect(answered!.oldestDueSeconds).toBeLessThan(due[0]!.oldestDueSeconds + 1);
  });

  it('operations: a worker row is written, refreshed and listed; silent after 3 missed heartbeats, gone after 30; removed at stop', async () => {
    const s = store();
    const beat = {
      workerId: `w-${randomUUID()}`,
      host: 'h1',
      pid: 42,
      startedAt: new Date(Date.now() - 1000),
      heartbeatMs: 30,
      flowKeys: ['a@1', 'b@2'],
      concurrency: 4,
      inFlight: 1,
    };
    await s.recordWorker(beat);
    const [first] = (await s.listWorkers()).filter((w) => w.workerId === beat.workerId);
    expect(first).toEqual({ ...beat, startedAt: new Date(beat.startedAt.getTime()), lastSeenAt: expect.any(Date), status: 'live' });
    await sleep(20);
    await s.recordWorker({ ...beat, inFlight: 3 });
    const [refreshed] = (await s.listWorkers()).filter((w) => w.workerId === beat.workerId);
    expect(refreshed).toMatchObject({ inFlight: 3, status: 'live' });
    expect(refreshed!.lastSeenAt.getTime()).toBeGreaterThan(first!.lastSeenAt.getTime());

    await sleep(120); // > 3 heartbeats of 30 ms
    expect((await s.listWorkers()).find((w) => w.workerId === beat.workerId)?.status).toBe('silent');
    await sleep(900); // > 30 heartbeats
    expect((await s.listWorkers()).some((w) => w.workerId === beat.workerId)).toBe(false);
    // Deleted, not only hidden: another worker's refresh took it away.
    const other = { ...beat, workerId: `w-${randomUUID()}`, heartbeatMs: 60_000 };
    await s.recordWorker(other);
    // A refresh keeps the row's start; a row written anew takes the one given.
    const restartedAt = new Date(beat.startedAt.getTime() + 500);
    await s.recordWorker({ ...beat, startedAt: restartedAt, heartbeatMs: 60_000 });
    expect((await s.listWorkers()).find((w) => w.workerId === beat.workerId)?.startedAt).toEqual(restartedAt);
    await s.recordWorker({ ...beat, startedAt: new Date(), heartbeatMs: 60_000 });
    expect((await s.listWorkers()).find((w) => w.workerId === beat.workerId)?.startedAt).toEqual(restartedAt);
    await s.removeWorker(beat.workerId);
    await s.removeWorker(other.workerId);
    expect((await s.listWorkers()).some((w) => w.workerId === beat.workerId || w.workerId === other.workerId)).toBe(false);
  });

  it('operations: a run keeps the traceparent it was created with; a child carries it through a commit', async () => {
    const s = store();
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const { run } = await s.createRun(newRun({ traceparent }));
    expect(run.traceparent).toBe(traceparent);
    expect(await s.getRun(run.runId)).toEqual(asRead(run));
    const lease = (await s.lockRun(run.runId))!;
    const committed = await lease.commit(step(lease.run!, { attempt: 1 }, { release: true }));
    expect(committed.traceparent).toBe(traceparent);
    expect((await s.listRuns({ flowId: 'contract-flow', summary: true, limit: 500 })).runs.find((r) => r.runId === run.runId)?.traceparent).toBe(traceparent);
    expect((await s.createRun(newRun())).run.traceparent).toBeNull();
  });
}
