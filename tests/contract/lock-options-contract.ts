/**
 * Contract of `lockRun`'s options (`onlyIfDue`), of a commit on top of a version the holder read
 * elsewhere, and of `msUntilNextDue`.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { FlowRunRecord, FlowStorage } from '../../src/storage/types.js';
import { asRead, branch, j, newRun, step } from './contract-helpers.js';
import type { StoreHandle } from './storage-contract.js';

/** Creates a run, then (optionally) commits `patch` to it and lets go. */
async function runWith(s: FlowStorage, patch?: Parameters<typeof step>[1]): Promise<FlowRunRecord> {
  const { run } = await s.createRun(newRun());
  if (!patch) return run;
  const lease = (await s.lockRun(run.runId))!;
  return lease.commit(step(run, patch, { release: true }));
}

export function lockOptionsContract(handle: () => StoreHandle): void {
  const store = () => handle().storage;

  it('lockRun with onlyIfDue holds only a due run, and never one that is not', async () => {
    const s = store();
    const due = { onlyIfDue: true } as const;
    const waiting = await runWith(s, { status: 'WAITING', waitReason: 'approval' });
    const later = await runWith(s, { nextAttemptAt: { delayMs: 60_000 } });
    const done = await runWith(s, { status: 'COMPLETED', currentNodeId: null, branches: j([]) });
    for (const run of [waiting, later, done]) {
      expect(await s.lockRun(run.runId, due)).toBeNull();
      // Nothing was held or written: a plain lock gets it at once, and the row is as it was.
      const plain = (await s.lockRun(run.runId))!;
      expect(plain.run).toEqual(asRead(run, plain.run!.dueInMs));
      await plain.release();
    }
    expect(await s.lockRun(randomUUID(), due)).toBeNull();
    // Due: locked, read under the lock, nothing written.
    const ready = await runWith(s);
    const lease = (await s.lockRun(ready.runId, due))!;
    expect(lease).not.toBeNull();
    expect(lease.run).toEqual(asRead(ready));
    expect(await s.lockRun(ready.runId, due)).toBeNull();
    expect(await s.lockRun(ready.runId)).toBeNull();
    const other = handle().second ? await handle().second!() : null;
    if (other) expect(await other.lockRun(ready.runId, due)).toBeNull();
    await lease.release();
    // An attempt in flight (its holder let go mid-attempt) is still due: the next holder recovers it.
    const inFlight = await runWith(s, { attempt: 1, attemptInFlight: true });
    const recovering = (await (other ?? s).lockRun(inFlight.runId, due))!;
    expect(recovering.run).toMatchObject({ attemptInFlight: true, version: inFlight.version });
    await recovering.release();
    // A retry once it is due, and a due timer.
    const retry = await runWith(s, { attempt: 1, nextAttemptAt: { at: new Date(Date.now() - 10) } });
    const timer = await runWith(s, { status: 'WAITING', waitReason: 'timer', nextAttemptAt: { at: new Date(Date.now() - 10) } });
    for (const run of [retry, timer]) {
      const woken = (await s.lockRun(run.runId, due))!;
      expect(woken.run).toEqual(asRead(run));
      await woken.release();
    }
    expect((await s.getEvents(ready.runId)).map((e) => e.type)).toEqual(['RUN_STARTED']);
  });

  it('a commit on top of a version the holder read elsewhere returns the whole new row', async () => {
    const s = store();
    const { run } = await s.createRun(newRun({ input: j({ keep: [1, 2] }) }));
    const lease = (await s.lockRun(run.runId))!;
    const first = await lease.commit(step(run, {}, { values: [{ nodeId: 'a', kind: 'output', value: j({ first: true }) }] }));
    // The row moves without the lease (cancel is lock-free); the holder reads it and commits on top.
    await s.cancelRun(run.runId, [], { code: 'CANCELLED', message: 'x' });
    const seen = (await s.getRun(run.runId))!;
    const next = await lease.commit(
      step(
        seen,
        { waitReason: 'after', branches: j([branch('z', { status: 'WAITING' })]) },
        { values: [{ nodeId: 'o', kind: 'output', value: j(1) }], release: true },
      ),
    );
    expect(next).toEqual(asRead((await s.getRun(run.runId))!));
    expect(next).toMatchObject({
      version: seen.version + 1,
      status: 'CANCELLED',
      waitReason: 'after',
      inputJson: { keep: [1, 2] },
      outputsJson: { a: { first: true }, o: 1 },
      branches: [branch('z', { status: 'WAITING' })],
    });
    expect(first.outputsJson).toEqual({ a: { first: true } });
  });

  it('every store finds the same runs due, in the claim order of storage/due.ts', async () => {
    const s = store();
    const flowId = 'claim-' + randomUUID();
    const key = [`${flowId}@1`];
    const make = async (patch?: Parameters<typeof step>[1]) => {
      const { run } = await s.createRun(newRun({ flowId }));
      if (!patch) return run;
      const lease = (await s.lockRun(run.runId))!;
      return lease.commit(step(run, patch, { release: true }));
    };
    const past = (ms: number) => ({ at: new Date(Date.now() - ms) });
    const now = await make(); // RUNNING, nothing to wait for
    // Due-since times are kept to the millisecond: the runs below must not all share one.
    await new Promise((r) => setTimeout(r, 5));
    const retry = await make({ attempt: 1, nextAttemptAt: past(20_000) });
    const timer = await make({ status: 'WAITING', waitReason: 'timer', nextAttemptAt: past(10_000) });
    const parked = { status: 'WAITING', waitReason: 'approval', branches: j([branch('a', { status: 'WAITING', waitId: 1 })]) } as const;
    const answered = await make(parked);
    expect(await s.addToInbox({ runId: answered.runId, kind: 'resume', waitId: 1, branchId: 'b1', payload: j({}) })).toBe(true);
    const later = await make({ nextAttemptAt: { delayMs: 60_000 } });
    const manual = await make(parked);
    const done = await make({ status: 'COMPLETED', currentNodeId: null, branches: j([]) });

    // Same priority: by how long each has been due — its due time, else its last write, and an
    // answer since it arrived — then the oldest run.
    expect(await s.findDueRuns({ limit: 100, flowKeys: key })).toEqual([retry.runId, timer.runId, now.runId, answered.runId]);
    expect(await s.findDueRuns({ limit: 2, flowKeys: key })).toEqual([retry.runId, timer.runId]);
    // And `onlyIfDue` agrees, run by run.
    for (const run of [now, retry, timer, answered]) {
      const lease = await s.lockRun(run.runId, { onlyIfDue: true });
      expect(lease).not.toBeNull();
      await lease!.release();
    }
    for (const run of [later, manual, done]) expect(await s.lockRun(run.runId, { onlyIfDue: true })).toBeNull();
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
