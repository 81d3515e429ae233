/**
 * Contract of the cancel cascade: a run cancelled, a run that ends FAILED, and a commit that
 * abandons the wait for a child (`cancelChildren`) cancel every unfinished run below, in the same
 * write — so no crash can leave a child waiting forever — and a cancelled run has no live branch.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { StaleRunError } from '../../src/errors.js';
import type { FlowRunRecord, FlowStorage, Transition } from '../../src/storage/types.js';
import { branch, j, newRun, step, waitFor } from './contract-helpers.js';
import type { StoreHandle } from './storage-contract.js';

const ended = { currentNodeId: null, branches: j([]) } as const;

async function commitTo(s: FlowStorage, runId: string, patch: Parameters<typeof step>[1], extra: Partial<Transition> = {}): Promise<FlowRunRecord> {
  const lease = (await s.lockRun(runId))!;
  return lease.commit(step(lease.run!, patch, { release: true, ...extra }));
}

/** A run under `parentRunId` (RUNNING, as created). */
async function childOf(s: FlowStorage, parentRunId: string): Promise<string> {
  return (await s.createRun(newRun({ parentRunId, parentNodeId: 'a' }))).run.runId;
}

async function statusOf(s: FlowStorage, runId: string): Promise<string | undefined> {
  return (await s.getRun(runId))?.status;
}

/** What a run cancelled as a descendant looks like: no live branch, no due time, RUN_CANCELLED last. */
async function expectCancelledBelow(s: FlowStorage, runId: string, message: string): Promise<void> {
  const run = (await s.getRun(runId))!;
  expect(run).toMatchObject({ status: 'CANCELLED', branches: [], attemptInFlight: false, nextAttemptAt: null, waitReason: null });
  expect(run.error).toMatchObject({ code: 'CANCELLED', message });
  expect((await s.getEvents(runId)).at(-1)).toMatchObject({ type: 'RUN_CANCELLED', seq: run.lastSeq, payloadJson: { reason: message } });
}

export function cascadeContract(handle: () => StoreHandle): void {
  const store = () => handle().storage;

  it('cancelRun cancels the run and every unfinished run below it in one call, and writes no end into a cancelled parent', async () => {
    const s = store();
    const heard: string[] = [];
    const off = s.onRunsCancelled?.((ids) => heard.push(...ids));
    try {
      const { run: parent } = await s.createRun(newRun());
      const children: string[] = [];
      for (let i = 0; i < 50; i++) children.push(await childOf(s, parent.runId));
      const grandchild = await childOf(s, children[0]!);
      const name = `cascade.${randomUUID().slice(0, 8)}`;
      const parked = branch('a', { status: 'WAITING', waitReason: 'event', waitId: 2, event: { name, key: null } });
      await commitTo(
        s,
        grandchild,
        { status: 'WAITING', waitReason: 'event', branches: j([parked]) },
        { addWaits: [{ branchId: 'b1', waitId: 2, name, key: null }] },
      );
      const done = await childOf(s, parent.runId);
      await commitTo(s, done, { status: 'COMPLETED', ...ended });
      await s.getInbox(parent.runId).then((inbox) => expect(inbox).toHaveLength(1)); // done's end
      const held = (await s.lockRun(children[1]!))!;

      const cancelled = await s.cancelRun(parent.runId, [{ type: 'RUN_CANCELLED' }], { code: 'CANCELLED', message: 'by test' });
      expect(cancelled?.status).toBe('CANCELLED');
      for (const id of children) await expectCancelledBelow(s, id, `parent run ${parent.runId} was cancelled: by test`);
      await expectCancelledBelow(s, grandchild, `parent run ${children[0]} was cancelled`);
      expect(await statusOf(s, done)).toBe('COMPLETED');
      // The grandchild's event wait is gone; the cancelled parents heard of no child's end.
      expect((await s.sendEvent({ eventId: randomUUID(), name, key: null, payload: j(1) })).delivered).toEqual([]);
      expect(await s.getInbox(parent.runId)).toHaveLength(1);
      expect(await s.getInbox(children[0]!)).toEqual([]);
      // A holder of a run cancelled below is fenced out.
      await expect(held.commit(step(held.run!, { currentNodeId: 'b' }))).rejects.toBeInstanceOf(StaleRunError);
      await held.release();
      if (off) {
        await waitFor(() => heard.length >= 51);
        expect(new Set(heard)).toEqual(new Set([...children, grandchild]));
      }
    } finally {
      off?.();
    }
  });

  it('a cancelled run has no live branch: neither one waiting on a timer nor one with an attempt in flight', async () => {
    const s = store();
    const { run: timed } = await s.createRun(newRun());
    const dueAt = new Date(Date.now() + 3_600_000);
    const sleeping = branch('a', { status: 'WAITING', waitReason: 'timer', dueAt: dueAt.toISOString() });
    await commitTo(s, timed.runId, { status: 'WAITING', waitReason: 'timer', branches: j([sleeping]), nextAttemptAt: { at: dueAt } });
    const { run: busy } = await s.createRun(newRun());
    const running = branch('a', { status: 'RUNNING', attempt: 1 });
    const lease = (await s.lockRun(busy.runId))!;
    await lease.commit(step(lease.run!, { status: 'RUNNING', branches: j([running]), attempt: 1, attemptInFlight: true }));
    for (const runId of [timed.runId, busy.runId]) {
      const cancelled = (await s.cancelRun(runId, [{ type: 'RUN_CANCELLED' }], { code: 'CANCELLED', message: 'x' }))!;
      const read = (await s.getRun(runId))!;
      for (const run of [cancelled, read]) {
        expect(run).toMatchObject({ status: 'CANCELLED', currentNodeId: 'a', branches: [], attemptInFlight: false, nextAttemptAt: null, waitReason: null });
      }
      const listed = (await s.listRuns({ status: 'CANCELLED', limit: 1000, summary: true })).runs.find((r) => r.runId === runId);
      expect(listed?.branches).toEqual([]);
    }
    await lease.release();
    expect(await s.findDueRuns({ limit: 1000 })).not.toContain(timed.runId);
  });

  it('a commit that abandons children cancels them and theirs, and no end of theirs reaches the parent', async () => {
    const s = store();
    const { run: parent } = await s.createRun(newRun());
    const dropped = await childOf(s, parent.runId);
    const below = await childOf(s, dropped);
    const kept = await childOf(s, parent.runId);
    const { run: stranger } = await s.createRun(newRun());
    const stale = (await s.getRun(parent.runId))!;
    // Only the run's own children are cancelled: an id that is not one (or its own) is ignored.
    const next = await commitTo(s, parent.runId, { status: 'WAITING', waitReason: 'child' }, { cancelChildren: [dropped, stranger.runId, parent.runId] });
    expect(next.status).toBe('WAITING');
    expect(await statusOf(s, stranger.runId)).toBe('RUNNING');
    await expectCancelledBelow(s, dropped, `parent run ${parent.runId} no longer waits for it`);
    await expectCancelledBelow(s, below, `parent run ${dropped} was cancelled`);
    expect(await statusOf(s, kept)).toBe('RUNNING');
    expect(await s.getInbox(parent.runId)).toEqual([]);
    expect((await s.getRun(parent.runId))!.hasInbox).toBe(false);
    // A commit refused by its fence cancels nothing.
    const lease = (await s.lockRun(parent.runId))!;
    await expect(lease.commit(step(stale, {}, { cancelChildren: [kept] }))).rejects.toBeInstanceOf(StaleRunError);
    await lease.release();
    expect(await statusOf(s, kept)).toBe('RUNNING');
  });

  it('a commit that ends a run FAILED cancels every unfinished run below it; its own end still reaches its parent', async () => {
    const s = store();
    const { run: top } = await s.createRun(newRun());
    const failing = await childOf(s, top.runId);
    const waiting = await childOf(s, failing);
    const below = await childOf(s, waiting);
    const finished = await childOf(s, failing);
    await commitTo(s, finished, { status: 'COMPLETED', ...ended });
    await commitTo(s, failing, { status: 'FAILED', ...ended, error: { code: 'BOOM', message: 'no' } });
    await expectCancelledBelow(s, waiting, `parent run ${failing} failed`);
    await expectCancelledBelow(s, below, `parent run ${waiting} was cancelled`);
    expect(await statusOf(s, finished)).toBe('COMPLETED');
    expect((await s.getInbox(top.runId)).map((e) => e.payload)).toEqual([{ childRunId: failing, status: 'FAILED' }]);
    expect((await s.getInbox(failing)).map((e) => e.payload)).toEqual([{ childRunId: finished, status: 'COMPLETED' }]);
    expect(await s.getInbox(waiting)).toEqual([]);
  });
}
