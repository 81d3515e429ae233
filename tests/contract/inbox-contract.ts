/**
 * Contract of the run's inbox, child runs and events: answers written without the run's lock and
 * consumed by a fenced commit (which refuses to time out a wait that has an answer), runs with
 * answers found due, events delivered to registered waits (and to waits registered after the event
 * was sent), and the rule for a run that ends (its parent hears of it, its waits go).
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { InvalidArgumentError, StaleRunError, WaitAnsweredError } from '../../src/errors.js';
import type { EventWait, FlowRunRecord, FlowStorage, NewFlowEvent, NewInboxEntry, Transition } from '../../src/storage/types.js';
import { asRead, branch, j, newRun, step, waitFor } from './contract-helpers.js';
import type { StoreHandle } from './storage-contract.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uniqueName = () => `order.paid.${randomUUID().slice(0, 8)}`;
const event = (name: string, key: string | null, payload: unknown = { n: 1 }): NewFlowEvent => ({ eventId: randomUUID(), name, key, payload: j(payload) });
const resume = (runId: string, waitId: number | null, payload: unknown = { ok: true }, branchId = 'b1'): NewInboxEntry => ({
  runId,
  kind: 'resume',
  waitId,
  branchId,
  payload: j(payload),
});
/** Branches parked at the given waits (an answer is taken only for a wait that is current). */
const waitingAt = (...waits: Array<[branchId: string, waitId: number]>) =>
  j(waits.map(([branchId, waitId]) => branch('a', { branchId, status: 'WAITING', waitReason: 'approval', waitId })));
const byRun = <T extends { runId: string; waitId: number }>(list: T[]) => [...list].sort((a, b) => a.runId.localeCompare(b.runId) || a.waitId - b.waitId);
const ended = { currentNodeId: null, branches: j([]) } as const;

/** Commits `patch` (and `extra`) to the run under a lock taken and let go here. */
async function commitTo(s: FlowStorage, runId: string, patch: Parameters<typeof step>[1], extra: Partial<Transition> = {}): Promise<FlowRunRecord> {
  const lease = (await s.lockRun(runId))!;
  return lease.commit(step(lease.run!, patch, { release: true, ...extra }));
}

/** Parks branch b1 of the run on `waits` (WAITING, registered for sendEvent). */
function park(s: FlowStorage, runId: string, waits: EventWait[], extra: Partial<Transition> = {}): Promise<FlowRunRecord> {
  const w = waits[0]!;
  const parked = branch('a', { status: 'WAITING', waitReason: 'event', waitId: w.waitId, event: { name: w.name, key: w.key } });
  return commitTo(s, runId, { status: 'WAITING', waitReason: 'event', branches: j([parked]) }, { addWaits: waits, ...extra });
}

const wait = (name: string, key: string | null, waitId = 3): EventWait => ({ branchId: 'b1', waitId, name, key });

export function inboxContract(handle: () => StoreHandle): void {
  const store = () => handle().storage;

  it('takes answers into the inbox without the lock: one per wait, in arrival order', async () => {
    const s = store();
    const other = handle().second ? await handle().second!() : s;
    const { run: created } = await s.createRun(newRun());
    expect(created).toMatchObject({ hasInbox: false, parentRunId: null, parentNodeId: null });
    const run = await commitTo(s, created.runId, { status: 'WAITING', waitReason: 'approval', branches: waitingAt(['b1', 5], ['b2', 6]) });
    expect(await s.getInbox(run.runId)).toEqual([]);
    const holder = (await s.lockRun(run.runId))!; // a holder does not keep answers out
    // Of ten concurrent answers to one wait, from two handles, exactly one is taken.
    const taken = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : s).addToInbox(resume(run.runId, 5, { i }))));
    expect(taken.filter((t) => t)).toHaveLength(1);
    const winner = taken.indexOf(true);
    const eventPayload = { eventId: 'e-1', name: 'n', key: null, payload: [1] };
    expect(await s.addToInbox({ runId: run.runId, kind: 'event', waitId: 6, branchId: 'b2', payload: j(eventPayload) })).toBe(true);
    expect(await s.addToInbox(resume(run.runId, 6, {}, 'b2'))).toBe(false); // wait 6 has its answer
    expect(await s.addToInbox(resume(run.runId, 7))).toBe(false); // b1 does not wait at 7
    expect(await s.addToInbox(resume(run.runId, 5, {}, 'b9'))).toBe(false); // no branch b9
    // Child ends name no wait: never limited.
    for (const status of ['COMPLETED', 'FAILED']) {
      expect(await s.addToInbox({ runId: run.runId, kind: 'child', waitId: null, branchId: null, payload: j({ childRunId: 'c', status }) })).toBe(true);
    }
    expect(await s.addToInbox(resume(randomUUID(), 1))).toBe(false); // no such run: nothing written
    const inbox = await s.getInbox(run.runId);
    expect(inbox.map((e) => [e.runId, e.kind, e.waitId, e.branchId, e.payload])).toEqual([
      [run.runId, 'resume', 5, 'b1', { i: winner }],
      [run.runId, 'event', 6, 'b2', eventPayload],
      [run.runId, 'child', null, null, { childRunId: 'c', status: 'COMPLETED' }],
      [run.runId, 'child', null, null, { childRunId: 'c', status: 'FAILED' }],
    ]);
    for (let i = 1; i < inbox.length; i++) expect(inbox[i]!.id).toBeGreaterThan(inbox[i - 1]!.id);
    for (const e of inbox) {
      expect(typeof e.id).toBe('number');
      expect(e.createdAt).toBeInstanceOf(Date);
      expect(Math.abs(e.createdAt.getTime() - Date.now())).toBeLessThan(10_000);
    }
    // Every read says so.
    expect((await s.getRun(run.runId))!.hasInbox).toBe(true);
    expect((await holder.reload())!.hasInbox).toBe(true);
    expect((await s.listRuns({ flowId: run.flowId, limit: 1000 })).runs.find((r) => r.runId === run.runId)!.hasInbox).toBe(true);
    await holder.release();
    const next = (await s.lockRun(run.runId))!;
    expect(next.run!.hasInbox).toBe(true);
    await next.release();
  });

  it("consumes inbox entries in a fenced commit: a stale one consumes nothing, and only its own run's", async () => {
    const s = store();
    const parked = { status: 'WAITING', waitReason: 'approval' } as const;
    const run = await commitTo(s, (await s.createRun(newRun())).run.runId, { ...parked, branches: waitingAt(['b1', 1], ['b2', 2], ['b3', 9]) });
    const other = await commitTo(s, (await s.createRun(newRun())).run.runId, { ...parked, branches: waitingAt(['b1', 1]) });
    await s.addToInbox(resume(run.runId, 1));
    await s.addToInbox(resume(run.runId, 2, {}, 'b2'));
    await s.addToInbox(resume(other.runId, 1));
    const [e1, e2] = await s.getInbox(run.runId);
    const [o1] = await s.getInbox(other.runId);
    const lease = (await s.lockRun(run.runId))!;
    expect(lease.run).toEqual(asRead({ ...run, hasInbox: true }));
    const moved = await lease.commit(step(run, {}));
    expect(moved.hasInbox).toBe(true);
    await expect(lease.commit(step(run, { currentNodeId: 'zzz' }, { consumeInbox: [e1!.id, e2!.id] }))).rejects.toBeInstanceOf(StaleRunError);
    expect((await s.getInbox(run.runId)).map((e) => e.id)).toEqual([e1!.id, e2!.id]);
    const next = await lease.commit(step(moved, {}, { consumeInbox: [e1!.id, o1!.id] }));
    expect(next.hasInbox).toBe(true);
    expect((await s.getInbox(run.runId)).map((e) => e.id)).toEqual([e2!.id]);
    expect((await s.getInbox(other.runId)).map((e) => e.id)).toEqual([o1!.id]);
    const last = await lease.commit(step(next, {}, { consumeInbox: [e2!.id], release: true }));
    expect(last.hasInbox).toBe(false);
    expect(await s.getInbox(run.runId)).toEqual([]);
    expect(await s.getRun(run.runId)).toEqual(asRead(last));
    // An answer that arrives later is seen by the next holder.
    await s.addToInbox(resume(run.runId, 9, {}, 'b3'));
    const again = (await s.lockRun(run.runId))!;
    expect(again.run!.hasInbox).toBe(true);
    await again.release();
  });

  it('refuses a commit that times out a wait with an answer in the inbox: WaitAnsweredError, nothing written, the lock kept', async () => {
    const s = store();
    const parked = { status: 'WAITING', waitReason: 'approval' } as const;
    const run = await commitTo(s, (await s.createRun(newRun())).run.runId, { ...parked, branches: waitingAt(['b1', 5], ['b2', 6]) });
    const lease = (await s.lockRun(run.runId))!;
    // The holder read an empty inbox and drafts the timeout of b1's wait; a resume of it is taken meanwhile.
    expect(await s.addToInbox(resume(run.runId, 5, { late: true }))).toBe(true);
    const woken = (...ids: string[]) => j(ids.map((branchId) => branch('a', { branchId })));
    const timeout = (branchId: string, waitId: number) => ({
      timedOutWaits: [{ branchId, waitId }],
      events: [{ type: 'RUN_RESUMED' as const, nodeId: 'a', branchId, payload: j({ timer: true }) }],
    });
    await expect(lease.commit(step(run, { status: 'RUNNING', branches: woken('b1', 'b2') }, { ...timeout('b1', 5), release: true }))).rejects.toBeInstanceOf(
      WaitAnsweredError,
    );
    expect(await s.getRun(run.runId)).toMatchObject({ version: run.version, lastSeq: run.lastSeq, status: 'WAITING', hasInbox: true });
    expect(await s.lockRun(run.runId)).toBeNull(); // still held
    // Drafted again: the answer applies to b1, and b2's wait (no answer) times out.
    const [answer] = await s.getInbox(run.runId);
    const next = await lease.commit(
      step(run, { status: 'RUNNING', branches: woken('b1', 'b2') }, { ...timeout('b2', 6), consumeInbox: [answer!.id], release: true }),
    );
    expect(next).toMatchObject({ version: run.version + 1, lastSeq: run.lastSeq + 1, status: 'RUNNING', hasInbox: false });
    expect(await s.getEvents(run.runId)).toHaveLength(run.lastSeq + 1);
  });

  it('finds runs with answers in their inbox due, whatever their due time, and onlyIfDue takes them', async () => {
    const s = store();
    const flowId = 'inbox-due-' + randomUUID();
    const make = async (patch: Parameters<typeof step>[1]) => commitTo(s, (await s.createRun(newRun({ flowId }))).run.runId, patch);
    const manual = await make({ status: 'WAITING', waitReason: 'approval', branches: j([branch('a', { status: 'WAITING', waitId: 1 })]) });
    // RUNNING (a retry a minute away) with one branch parked: an answer makes it due now.
    const later = await make({ nextAttemptAt: { delayMs: 60_000 }, branches: waitingAt(['b1', 1]) });
    const done = await make({ status: 'COMPLETED', ...ended });
    const childEnd = (runId: string): NewInboxEntry => ({
      runId,
      kind: 'child',
      waitId: null,
      branchId: null,
      payload: j({ childRunId: 'c', status: 'COMPLETED' }),
    });
    const untouched = await make({ status: 'WAITING', waitReason: 'approval' });
    expect(await s.findDueRuns({ limit: 1000 })).not.toContain(manual.runId);
    for (const run of [manual, later]) expect(await s.addToInbox(resume(run.runId, 1))).toBe(true);
    expect(await s.addToInbox(resume(done.runId, 1))).toBe(false); // nothing waits in an ended run
    expect(await s.addToInbox(childEnd(done.runId))).toBe(true); // an entry naming no wait is kept, but an ended run is not due
    const due = await s.findDueRuns({ limit: 1000 });
    expect(due).toEqual(expect.arrayContaining([manual.runId, later.runId]));
    expect(due).not.toContain(done.runId);
    expect(due).not.toContain(untouched.runId);
    expect(await s.findDueRuns({ limit: 1000, flowKeys: [`${flowId}@1`] })).toEqual(expect.arrayContaining([manual.runId, later.runId]));
    expect(await s.findDueRuns({ limit: 1000, flowKeys: ['other@1'] })).not.toContain(manual.runId);
    for (const run of [manual, later]) {
      const lease = (await s.lockRun(run.runId, { onlyIfDue: true }))!;
      expect(lease).not.toBeNull();
      expect(lease.run).toMatchObject({ hasInbox: true, version: run.version });
      await lease.release();
    }
    expect(await s.lockRun(done.runId, { onlyIfDue: true })).toBeNull();
    expect(await s.lockRun(untouched.runId, { onlyIfDue: true })).toBeNull();
    // Due times are what msUntilNextDue counts, answers or not.
    expect(await s.msUntilNextDue([`${flowId}@1`])).toBeGreaterThan(55_000);
  });

  it('wakes the run when an answer arrives', async () => {
    const s = store();
    const woken: string[] = [];
    const off = s.onWake((id) => woken.push(id));
    try {
      const { run } = await s.createRun(newRun());
      await commitTo(s, run.runId, { status: 'WAITING', waitReason: 'approval', branches: waitingAt(['b1', 1]) });
      await waitFor(() => woken.includes(run.runId));
      woken.length = 0;
      await s.addToInbox(resume(run.runId, 1));
      await waitFor(() => woken.includes(run.runId));
    } finally {
      off();
    }
  });

  it('sends an event to every wait registered for its name and key, one entry per wait', async () => {
    const s = store();
    const name = uniqueName();
    const runFor = async (w: EventWait) => {
      const { run } = await s.createRun(newRun());
      const parked = await park(s, run.runId, [w]);
      expect(parked.hasInbox).toBe(false);
      return run.runId;
    };
    const anyKey = await runFor(wait(name, null));
    const k1 = await runFor(wait(name, 'k1', 4));
    const k2 = await runFor(wait(name, 'k2'));
    const otherName = await runFor(wait(`${name}.other`, null));
    const woken: string[] = [];
    const off = s.onWake((id) => woken.push(id));
    try {
      const first = event(name, 'k1', { amount: 3 });
      const sent = await s.sendEvent(first);
      expect(sent.eventId).toBe(first.eventId);
      expect(sent.sentAt).toBeInstanceOf(Date);
      expect(Math.abs(sent.sentAt.getTime() - Date.now())).toBeLessThan(10_000);
      expect(byRun(sent.delivered)).toEqual(
        byRun([
          { runId: anyKey, branchId: 'b1', waitId: 3 },
          { runId: k1, branchId: 'b1', waitId: 4 },
        ]),
      );
      for (const [runId, waitId] of [
        [anyKey, 3],
        [k1, 4],
      ] as const) {
        const inbox = await s.getInbox(runId);
        expect(inbox.map((e) => [e.kind, e.waitId, e.branchId, e.payload])).toEqual([
          ['event', waitId, 'b1', { eventId: first.eventId, name, key: 'k1', payload: { amount: 3 } }],
        ]);
        expect((await s.getRun(runId))!.hasInbox).toBe(true);
      }
      expect(await s.getInbox(k2)).toEqual([]);
      expect(await s.getInbox(otherName)).toEqual([]);
      await waitFor(() => woken.includes(anyKey) && woken.includes(k1));
    } finally {
      off();
    }
    // A wait that has its answer keeps it; an event without a key reaches only waits without one.
    expect((await s.sendEvent(event(name, 'k1'))).delivered).toEqual([]);
    expect((await s.sendEvent(event(name, null))).delivered).toEqual([]);
    expect(await s.getInbox(k2)).toEqual([]);
    expect((await s.sendEvent(event(name, 'k2'))).delivered).toEqual([{ runId: k2, branchId: 'b1', waitId: 3 }]);
    expect((await s.sendEvent(event(uniqueName(), null))).delivered).toEqual([]);
  });

  it('a wait gets the earliest event sent since its run was created that the run has not received', async () => {
    const s = store();
    const name = uniqueName();
    const beforeRun = await s.sendEvent(event(name, 'y', 'before the run'));
    await sleep(5);
    const { run } = await s.createRun(newRun());
    const x = event(name, 'x', 'x');
    const y = event(name, 'y', 'y');
    await s.sendEvent(x);
    await s.sendEvent(y);
    expect(beforeRun.delivered).toEqual([]);
    // Keyed: y (not the one sent before the run was created, nor x of another key).
    const parked = await park(s, run.runId, [wait(name, 'y', 3)]);
    expect(parked.hasInbox).toBe(true);
    const [entry] = await s.getInbox(run.runId);
    expect(entry).toMatchObject({ kind: 'event', waitId: 3, branchId: 'b1', payload: { eventId: y.eventId, name, key: 'y', payload: 'y' } });
    // Applied (received, wait ended) while the branch waits again, for any key: x is the earliest left.
    const lease = (await s.lockRun(run.runId))!;
    // The branch parked again at each new wait (as the engine writes it: the answer of a wait
    // that is over is never delivered).
    const again = {
      status: 'WAITING' as const,
      waitReason: 'event',
      branches: j([branch('a', { status: 'WAITING', waitReason: 'event', waitId: 5, event: { name, key: null } })]),
    };
    const next = await lease.commit(
      step(lease.run!, again, { consumeInbox: [entry!.id], receipts: [y.eventId], endWaits: [{ branchId: 'b1', waitId: 3 }], addWaits: [wait(name, null, 5)] }),
    );
    expect(next.hasInbox).toBe(true);
    const [entry2] = await s.getInbox(run.runId);
    expect(entry2).toMatchObject({ kind: 'event', waitId: 5, payload: { eventId: x.eventId, key: 'x' } });
    // Received in the same commit that registers the next wait: nothing is left for it.
    const againAt7 = { ...again, branches: j([branch('a', { status: 'WAITING', waitReason: 'event', waitId: 7, event: { name, key: null } })]) };
    const last = await lease.commit(
      step(next, againAt7, {
        consumeInbox: [entry2!.id],
        receipts: [x.eventId],
        endWaits: [{ branchId: 'b1', waitId: 5 }],
        addWaits: [wait(name, null, 7)],
        release: true,
      }),
    );
    expect(last.hasInbox).toBe(false);
    expect(await s.getInbox(run.runId)).toEqual([]);
    expect(await s.getRun(run.runId)).toEqual(asRead(last));
    // Only the wait still registered gets the next event.
    const z = event(name, 'z');
    expect((await s.sendEvent(z)).delivered).toEqual([{ runId: run.runId, branchId: 'b1', waitId: 7 }]);
    // Received events stay received: a later wait of the run does not get them again.
    const [entry3] = await s.getInbox(run.runId);
    await commitTo(s, run.runId, again, { consumeInbox: [entry3!.id], receipts: [z.eventId], endWaits: [{ branchId: 'b1', waitId: 7 }] });
    expect((await park(s, run.runId, [wait(name, null, 9)])).hasInbox).toBe(false);
  });

  it('a stale commit registers no wait and delivers nothing', async () => {
    const s = store();
    const name = uniqueName();
    const { run } = await s.createRun(newRun());
    await s.sendEvent(event(name, null));
    const lease = (await s.lockRun(run.runId))!;
    await lease.commit(step(run, {}));
    await expect(lease.commit(step(run, { status: 'WAITING' }, { addWaits: [wait(name, null)], release: true }))).rejects.toBeInstanceOf(StaleRunError);
    expect(await s.getInbox(run.runId)).toEqual([]);
    expect((await s.sendEvent(event(name, null))).delivered).toEqual([]);
  });

  it('never lets an event and a wait registered at the same time miss each other', async () => {
    const s = store();
    const other = handle().second ? await handle().second!() : s;
    for (let i = 0; i < 50; i++) {
      const name = uniqueName();
      const { run } = await s.createRun(newRun());
      const lease = (await s.lockRun(run.runId))!;
      const parked = branch('a', { status: 'WAITING', waitId: 3, event: { name, key: 'k' } });
      const e = event(name, 'k', i);
      const [committed, sent] = await Promise.all([
        lease.commit(step(run, { status: 'WAITING', waitReason: 'event', branches: j([parked]) }, { addWaits: [wait(name, 'k')], release: true })),
        other.sendEvent(e),
      ]);
      const inbox = await s.getInbox(run.runId);
      expect(inbox.map((x) => [x.waitId, (x.payload as { eventId: string }).eventId])).toEqual([[3, e.eventId]]);
      // Delivered by exactly one side: sendEvent to the wait registered first, or the commit to the wait it registers.
      expect(sent.delivered.length).toBe(committed.hasInbox ? 0 : 1);
    }
  });

  it("a child run that ends puts its end in its parent's inbox, and wakes the parent", async () => {
    const s = store();
    const { run: parent } = await s.createRun(newRun());
    const child = async () => {
      const { run } = await s.createRun(newRun({ parentRunId: parent.runId, parentNodeId: 'spawn' }));
      await sleep(3); // distinct creation times, for the order of listRuns
      return run;
    };
    const completed = await child();
    expect(completed).toMatchObject({ parentRunId: parent.runId, parentNodeId: 'spawn', hasInbox: false });
    expect(await s.getRun(completed.runId)).toEqual(asRead(completed));
    const cancelled = await child();
    const failed = await child();
    const running = await child();
    const woken: string[] = [];
    const off = s.onWake((id) => woken.push(id));
    try {
      const done = await commitTo(s, completed.runId, { status: 'COMPLETED', ...ended }, { values: [{ nodeId: 'a', kind: 'output', value: j('out') }] });
      expect(done).toMatchObject({ status: 'COMPLETED', parentRunId: parent.runId, parentNodeId: 'spawn' });
      await waitFor(() => woken.includes(parent.runId));
      woken.length = 0;
      const c = await s.cancelRun(cancelled.runId, [{ type: 'RUN_CANCELLED' }], { code: 'CANCELLED', message: 'x' });
      expect(c).toMatchObject({ status: 'CANCELLED', parentRunId: parent.runId });
      await waitFor(() => woken.includes(parent.runId));
    } finally {
      off();
    }
    await commitTo(s, failed.runId, { status: 'FAILED', ...ended, error: { code: 'BOOM', message: 'no' } });
    // Ending a run that had ended already says nothing more.
    await commitTo(s, completed.runId, { status: 'COMPLETED', ...ended });
    await s.cancelRun(cancelled.runId, [], { code: 'CANCELLED', message: 'again' });
    const inbox = await s.getInbox(parent.runId);
    expect(inbox.map((e) => [e.kind, e.waitId, e.branchId, e.payload])).toEqual([
      ['child', null, null, { childRunId: completed.runId, status: 'COMPLETED' }],
      ['child', null, null, { childRunId: cancelled.runId, status: 'CANCELLED' }],
      ['child', null, null, { childRunId: failed.runId, status: 'FAILED' }],
    ]);
    expect((await s.getRun(parent.runId))!.hasInbox).toBe(true);
    expect(await s.getInbox(running.runId)).toEqual([]);
    // A top-level run that ends tells no one.
    const top = await commitTo(s, parent.runId, { status: 'COMPLETED', ...ended }, { consumeInbox: inbox.map((e) => e.id) });
    expect(top.hasInbox).toBe(false);
    // The children of a run, newest first.
    const kids = await s.listRuns({ parentRunId: parent.runId });
    expect(kids.runs.map((r) => r.runId)).toEqual([running, failed, cancelled, completed].map((r) => r.runId));
    for (const r of kids.runs) expect(r).toMatchObject({ parentRunId: parent.runId, parentNodeId: 'spawn' });
    const page = await s.listRuns({ parentRunId: parent.runId, status: 'RUNNING', limit: 1 });
    expect([page.runs.map((r) => r.runId), page.nextCursor]).toEqual([[running.runId], null]);
    expect((await s.listRuns({ parentRunId: randomUUID() })).runs).toEqual([]);
    await expect(s.listRuns({ parentRunId: '' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('unregisters the event waits of a run that ends', async () => {
    const s = store();
    const name = uniqueName();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { run } = await s.createRun(newRun());
      await park(s, run.runId, [wait(name, null)]);
      ids.push(run.runId);
    }
    const [completes, fails, cancels, waits] = ids as [string, string, string, string];
    await commitTo(s, completes, { status: 'COMPLETED', ...ended });
    await commitTo(s, fails, { status: 'FAILED', ...ended, error: { code: 'E', message: 'm' } });
    await s.cancelRun(cancels, [], { code: 'CANCELLED', message: 'x' });
    expect((await s.sendEvent(event(name, 'any'))).delivered).toEqual([{ runId: waits, branchId: 'b1', waitId: 3 }]);
    for (const runId of [completes, fails, cancels]) expect(await s.getInbox(runId)).toEqual([]);
    // A run that ends in the commit that would register a wait registers none, and gets no event.
    const { run } = await s.createRun(newRun());
    const late = uniqueName();
    await s.sendEvent(event(late, null));
    await commitTo(s, run.runId, { status: 'COMPLETED', ...ended }, { addWaits: [wait(late, null)] });
    expect(await s.getInbox(run.runId)).toEqual([]);
    expect((await s.sendEvent(event(late, null))).delivered).toEqual([]);
  });

  it('never prunes an event whose delivery is still in an inbox; once every delivery is applied, it goes', async () => {
    const s = store();
    const name = uniqueName();
    const { run: first } = await s.createRun(newRun());
    const { run: late } = await s.createRun(newRun());
    const { run: later } = await s.createRun(newRun());
    await park(s, first.runId, [wait(name, null)]);
    const sent = event(name, null, { big: 'y'.repeat(10_000) });
    expect((await s.sendEvent(sent)).delivered).toEqual([{ runId: first.runId, branchId: 'b1', waitId: 3 }]);
    const delivery = { eventId: sent.eventId, name, key: null, payload: { big: 'y'.repeat(10_000) } };

    // Past its retention, but delivered and not yet applied: kept, and read whole.
    while ((await s.pruneEvents(new Date(Date.now() + 60_000), 1000)) > 0);
    const [entry] = await s.getInbox(first.runId);
    expect(entry).toMatchObject({ kind: 'event', waitId: 3, payload: delivery });
    // Still stored: a wait of a run created before it was sent gets it too.
    const parked = await park(s, late.runId, [wait(name, null)]);
    expect(parked.hasInbox).toBe(true);
    const [lateEntry] = await s.getInbox(late.runId);
    expect(lateEntry!.payload).toEqual(delivery);

    // Both deliveries applied: nothing names the event any more, and the next prune takes it.
    const applied = (run: FlowRunRecord, id: number) =>
      commitTo(
        s,
        run.runId,
        { status: 'RUNNING', branches: j([branch('a')]) },
        { consumeInbox: [id], endWaits: [{ branchId: 'b1', waitId: 3 }], receipts: [sent.eventId] },
      );
    await applied((await s.getRun(first.runId))!, entry!.id);
    await applied(parked, lateEntry!.id);
    while ((await s.pruneEvents(new Date(Date.now() + 60_000), 1000)) > 0);
    expect((await park(s, later.runId, [wait(name, null)])).hasInbox).toBe(false);
  });

  it('prunes events sent before a time, at most `limit` at a time', async () => {
    const s = store();
    const name = uniqueName();
    const { run } = await s.createRun(newRun());
    for (let i = 0; i < 3; i++) await s.sendEvent(event(name, null));
    expect(await s.pruneEvents(new Date(Date.now() - 3_600_000), 1000)).toBe(0);
    expect(await s.pruneEvents(new Date(Date.now() + 60_000), 0)).toBe(0);
    expect(await s.pruneEvents(new Date(Date.now() + 60_000), 2)).toBe(2);
    while ((await s.pruneEvents(new Date(Date.now() + 60_000), 100)) > 0);
    // Pruned events reach no wait registered later.
    expect((await park(s, run.runId, [wait(name, null)])).hasInbox).toBe(false);
  });
}
