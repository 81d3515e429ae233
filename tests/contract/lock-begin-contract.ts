/**
 * Contract of the optional parts of `lockRun` (LockRunOptions) and of `msUntilNextDue`: every
 * store here implements `beginAttempt`, and each must begin exactly when the run qualifies,
 * writing what the engine's own begin commit would write — and nothing at all otherwise.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { BeginAttemptRequest, FlowRunRecord, FlowStorage } from '../../src/storage/types.js';
import { j, newRun, step } from './contract-helpers.js';
import type { StoreHandle } from './storage-contract.js';

const request = (nodes: Record<string, string[]> = { 'contract-flow@1': ['a', 'b'] }, maxAttemptsBytes = 1000): BeginAttemptRequest => ({ nodes, maxAttemptsBytes });

/** Creates a run, then (optionally) commits `patch` to it and lets go. */
async function runWith(s: FlowStorage, patch?: Parameters<typeof step>[1]): Promise<FlowRunRecord> {
  const { run } = await s.createRun(newRun());
  if (!patch) return run;
  const lease = (await s.lockRun(run.runId))!;
  return lease.commit(step(run, patch, { release: true }));
}

async function expectUntouched(s: FlowStorage, run: FlowRunRecord, begin: BeginAttemptRequest): Promise<void> {
  const lease = await s.lockRun(run.runId, { beginAttempt: begin });
  expect(lease).not.toBeNull();
  expect(lease!.attemptBegun ?? false).toBe(false);
  expect(lease!.run).toEqual(await s.getRun(run.runId).then((r) => r && { ...r, dueInMs: lease!.run!.dueInMs }));
  expect(lease!.run!.version).toBe(run.version);
  await lease!.release();
  expect((await s.getEvents(run.runId)).map((e) => e.type)).not.toContain('NODE_STARTED');
}

export function lockBeginContract(handle: () => StoreHandle): void {
  const store = () => handle().storage;

  it('lockRun with beginAttempt begins the due attempt in the lock, as a fenced commit', async () => {
    const s = store();
    const run = await runWith(s, { attempts: j({ a: 2, z: 1 }), attempt: 0 });
    const lease = (await s.lockRun(run.runId, { beginAttempt: request() }))!;
    expect(lease.attemptBegun).toBe(true);
    const begun = lease.run!;
    expect(begun).toMatchObject({ status: 'RUNNING', currentNodeId: 'a', attempt: 1, attemptInFlight: true, attemptsJson: { a: 3, z: 1 } });
    expect(begun.version).toBe(run.version + 1);
    expect(begun.lastSeq).toBe(run.lastSeq + 1);
    expect(begun.inputJson).toEqual(run.inputJson);
    expect(await s.getRun(run.runId)).toEqual({ ...begun, dueInMs: 0 });
    const events = await s.getEvents(run.runId);
    expect(events.map((e) => [e.seq, e.type, e.nodeId, e.attempt, e.durationMs, e.payloadJson])).toEqual([
      [1, 'RUN_STARTED', 'a', null, null, null],
      [2, 'NODE_STARTED', 'a', 1, null, null],
    ]);
    // The lease holds the lock and commits on top of the begin.
    expect(await s.lockRun(run.runId, { beginAttempt: request() })).toBeNull();
    const done = await lease.commit(step(begun, { attemptInFlight: false, state: j({ ok: true }) }, { events: [{ type: 'NODE_FINISHED', nodeId: 'a', attempt: 1 }], release: true }));
    expect(done).toMatchObject({ version: begun.version + 1, attemptInFlight: false, stateJson: { ok: true }, attemptsJson: { a: 3, z: 1 } });
    expect(await s.getRun(run.runId)).toEqual({ ...done, dueInMs: 0 });
  });

  it('lockRun with beginAttempt writes nothing when the run does not qualify', async () => {
    const s = store();
    // Not a flow, or not a node, the caller can execute; attempts over the size bound.
    const fresh = await runWith(s);
    await expectUntouched(s, fresh, request({ 'other-flow@1': ['a'] }));
    await expectUntouched(s, fresh, request({ 'contract-flow@1': ['b'] }));
    await expectUntouched(s, fresh, request(undefined, 4));
    // An attempt in flight (its holder died), a retry not yet due, a wait, a finished run.
    await expectUntouched(s, await runWith(s, { attempt: 1, attemptInFlight: true }), request());
    await expectUntouched(s, await runWith(s, { nextAttemptAt: { delayMs: 60_000 } }), request());
    await expectUntouched(s, await runWith(s, { status: 'WAITING', waitReason: 'timer', nextAttemptAt: { at: new Date(Date.now() - 1000) } }), request());
    await expectUntouched(s, await runWith(s, { status: 'COMPLETED', currentNodeId: null }), request());
    // Unknown run: a lease on nothing, nothing begun.
    const none = (await s.lockRun(randomUUID(), { beginAttempt: request() }))!;
    expect(none.run).toBeNull();
    expect(none.attemptBegun ?? false).toBe(false);
    await none.release();
  });

  it('lockRun with beginAttempt begins a retry once it is due, and never while another holder has the run', async () => {
    const s = store();
    const run = await runWith(s, { attempt: 1, attempts: j({ a: 1 }), nextAttemptAt: { at: new Date(Date.now() - 10) } });
    const holder = (await s.lockRun(run.runId))!;
    expect(await s.lockRun(run.runId, { beginAttempt: request() })).toBeNull();
    const other = handle().second ? await handle().second!() : null;
    if (other) expect(await other.lockRun(run.runId, { beginAttempt: request() })).toBeNull();
    await holder.release();
    expect((await s.getRun(run.runId))!.version).toBe(run.version);
    const lease = (await (other ?? s).lockRun(run.runId, { beginAttempt: request() }))!;
    expect(lease.attemptBegun).toBe(true);
    expect(lease.run).toMatchObject({ attempt: 2, attemptInFlight: true, attemptsJson: { a: 2 }, dueInMs: 0 });
    expect(lease.run!.nextAttemptAt?.getTime()).toBe(run.nextAttemptAt!.getTime());
    await lease.release();
  });

  it('lockRun with onlyIfDue holds only a due run, and never one that is not', async () => {
    const s = store();
    const due = { onlyIfDue: true } as const;
    const waiting = await runWith(s, { status: 'WAITING', waitReason: 'approval' });
    const later = await runWith(s, { nextAttemptAt: { delayMs: 60_000 } });
    const done = await runWith(s, { status: 'COMPLETED', currentNodeId: null });
    for (const run of [waiting, later, done]) {
      expect(await s.lockRun(run.runId, due)).toBeNull();
      expect(await s.lockRun(run.runId, { ...due, beginAttempt: request() })).toBeNull();
      // Nothing was held or written: a plain lock gets it at once, and the row is as it was.
      const plain = (await s.lockRun(run.runId))!;
      expect(plain.run).toEqual({ ...run, dueInMs: plain.run!.dueInMs });
      await plain.release();
    }
    expect(await s.lockRun(randomUUID(), due)).toBeNull();
    // Due: locked (and begun when asked); a due timer is locked without a begin (the engine resumes it).
    const ready = await runWith(s);
    const lease = (await s.lockRun(ready.runId, { ...due, beginAttempt: request() }))!;
    expect(lease.attemptBegun).toBe(true);
    expect(lease.run).toMatchObject({ attempt: 1, attemptInFlight: true, version: ready.version + 1 });
    expect(await s.lockRun(ready.runId, due)).toBeNull();
    await lease.release();
    // In flight now (its holder let go mid-attempt): still due, so locked, but not begun again.
    const inFlight = (await s.lockRun(ready.runId, { ...due, beginAttempt: request() }))!;
    expect(inFlight.attemptBegun ?? false).toBe(false);
    expect(inFlight.run).toMatchObject({ attemptInFlight: true, version: ready.version + 1 });
    await inFlight.release();
    const timer = await runWith(s, { status: 'WAITING', waitReason: 'timer', nextAttemptAt: { at: new Date(Date.now() - 10) } });
    const woken = (await s.lockRun(timer.runId, { ...due, beginAttempt: request() }))!;
    expect(woken.attemptBegun ?? false).toBe(false);
    expect(woken.run).toMatchObject({ status: 'WAITING', version: timer.version });
    await woken.release();
  });

  it('a commit on top of a version the holder read elsewhere returns the whole new row', async () => {
    const s = store();
    const { run } = await s.createRun(newRun({ input: j({ keep: [1, 2] }) }));
    const lease = (await s.lockRun(run.runId))!;
    // The row moves without the lease (cancel is lock-free); the holder reads it and commits on top.
    await s.cancelRun(run.runId, [], { code: 'CANCELLED', message: 'x' });
    const seen = (await s.getRun(run.runId))!;
    const next = await lease.commit(step(seen, { waitReason: 'after', outputs: j({ o: 1 }) }, { release: true }));
    expect(next).toEqual({ ...(await s.getRun(run.runId))!, dueInMs: 0 });
    expect(next).toMatchObject({ version: seen.version + 1, status: 'CANCELLED', waitReason: 'after', inputJson: { keep: [1, 2] }, outputsJson: { o: 1 } });
  });

  it('msUntilNextDue counts due times still in the future only', async () => {
    const s = store();
    const flowId = 'due-' + randomUUID();
    const { run } = await s.createRun(newRun({ flowId }));
    const lease = (await s.lockRun(run.runId))!;
    const past = await lease.commit(step(run, { nextAttemptAt: { at: new Date(Date.now() - 1000) } }));
    expect(await s.msUntilNextDue([`${flowId}@1`])).toBeNull();
    await lease.commit(step(past, { nextAttemptAt: { delayMs: 60_000 } }, { release: true }));
    const ms = await s.msUntilNextDue([`${flowId}@1`]);
    expect(ms).toBeGreaterThan(55_000);
    expect(ms).toBeLessThanOrEqual(60_000);
  });
}
