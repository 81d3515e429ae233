/**
 * Contract of retention and of run lists: `pruneRuns` deletes one batch of finished runs with
 * everything that belongs to them (events, node values, inbox, event waits and receipts,
 * idempotency records), never a live run, a locked run, a parent whose child is still live or a
 * child whose parent is still live; `listRuns({ summary: true })` pages exactly like a full list,
 * without the runs' JSON values.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import type { FlowRunRecord, FlowStorage, Transition } from '../../src/storage/types.js';
import { branch, j, newRun, step } from './contract-helpers.js';
import type { StoreHandle } from './storage-contract.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Later than any run of the test finished: every finished run is "older". */
const future = () => new Date(Date.now() + 60_000);
const ended = { currentNodeId: null, branches: j([]) } as const;

/** Commits `patch` (and `extra`) under a lock taken and let go here. */
async function commitTo(s: FlowStorage, runId: string, patch: Parameters<typeof step>[1], extra: Partial<Transition> = {}): Promise<FlowRunRecord> {
  const lease = (await s.lockRun(runId))!;
  return lease.commit(step(lease.run!, patch, { release: true, ...extra }));
}

/** A run of flow `flowId` created and, unless `status` is RUNNING, taken to `status`. */
async function runIn(
  s: FlowStorage,
  flowId: string,
  status: 'RUNNING' | 'WAITING' | 'COMPLETED' | 'FAILED',
  extra: Partial<Transition> = {},
  flowVersion = '1',
) {
  const { run } = await s.createRun(newRun({ flowId, flowVersion }));
  if (status === 'RUNNING') return run;
  if (status === 'WAITING') {
    const parked = branch('a', { status: 'WAITING', waitReason: 'event', waitId: 2, event: { name: `${flowId}.go`, key: null } });
    return commitTo(
      s,
      run.runId,
      { status: 'WAITING', waitReason: 'event', branches: j([parked]) },
      { addWaits: [{ branchId: 'b1', waitId: 2, name: `${flowId}.go`, key: null }], ...extra },
    );
  }
  const error = status === 'FAILED' ? { code: 'BOOM', message: 'failed' } : null;
  return commitTo(s, run.runId, { status, ...ended, error }, { events: [{ type: status === 'FAILED' ? 'NODE_FAILED' : 'RUN_COMPLETED' }], ...extra });
}

export function pruneContract(handle: () => StoreHandle): void {
  const store = () => handle().storage;

  it('lists summaries: the same runs, order and pages as a full list, without input, state, outputs and attempts', async () => {
    const s = store();
    const flowId = `summary-${randomUUID()}`;
    for (let i = 0; i < 3; i++) {
      const { run } = await s.createRun(newRun({ flowId, input: j({ big: 'x'.repeat(100), i }), state: j({ i }) }));
      await commitTo(s, run.runId, {}, { values: [{ nodeId: 'a', kind: 'output', value: j({ out: i }) }] });
    }
    const full = await s.listRuns({ flowId, limit: 2 });
    const summary = await s.listRuns({ flowId, limit: 2, summary: true });
    expect(summary.runs.map((r) => r.runId)).toEqual(full.runs.map((r) => r.runId));
    expect(summary.nextCursor).toEqual(full.nextCursor);
    for (const [i, r] of summary.runs.entries()) {
      for (const key of ['inputJson', 'stateJson', 'outputsJson', 'attemptsJson', 'compensation']) expect(r).not.toHaveProperty(key);
      const { inputJson: _i, stateJson: _s, outputsJson: _o, attemptsJson: _a, compensation: _c, readAt: _r, ...rest } = full.runs[i]!;
      expect({ ...r, readAt: undefined }).toEqual({ ...rest, readAt: undefined });
      expect(r.createdAt).toBeInstanceOf(Date);
      expect(r.branches).toEqual([branch('a')]);
    }
    const next = await s.listRuns({ flowId, limit: 2, cursor: summary.nextCursor!, summary: true });
    expect(next.runs.map((r) => r.runId)).toEqual((await s.listRuns({ flowId, limit: 2, cursor: full.nextCursor! })).runs.map((r) => r.runId));
    expect(next.nextCursor).toBeNull();
  });

  it('prunes finished runs with their events, values, inbox, receipts and idempotency records, a batch at a time', async () => {
    const s = store();
    const flowId = `prune-${randomUUID()}`;
    const key = `idem-${randomUUID()}`;
    const { run: first } = await s.createRun(newRun({ flowId }));
    const completed = await commitTo(
      s,
      first.runId,
      { status: 'COMPLETED', ...ended },
      {
        events: [{ type: 'RUN_COMPLETED' }],
        values: [{ nodeId: 'a', kind: 'output', value: j({ out: 1 }) }],
        idempotency: { key, runId: first.runId, nodeId: 'a', result: j({ output: 1 }) },
        receipts: [randomUUID()],
      },
    );
    expect((await s.getIdempotencyRecord(key))?.runId).toBe(first.runId);
    expect(
      await s.addToInbox({ runId: completed.runId, kind: 'child', waitId: null, branchId: null, payload: j({ childRunId: 'x', status: 'COMPLETED' }) }),
    ).toBe(true);
    const failed = await runIn(s, flowId, 'FAILED');
    const { run: toCancel } = await s.createRun(newRun({ flowId }));
    const cancelled = (await s.cancelRun(toCancel.runId, [{ type: 'RUN_CANCELLED' }], { code: 'CANCELLED', message: 'by test' }))!;
    const running = await runIn(s, flowId, 'RUNNING');
    const waiting = await runIn(s, flowId, 'WAITING');
    const other = await runIn(s, `${flowId}-other`, 'COMPLETED');

    // Not finished before the cutoff: nothing goes.
    expect(await s.pruneRuns({ olderThan: new Date(Date.now() - 60_000), flowId, limit: 100 })).toBe(0);
    expect(await s.pruneRuns({ olderThan: 60_000, flowId, limit: 100 })).toBe(0);
    // Batches: at most `limit` each.
    expect(await s.pruneRuns({ olderThan: future(), flowId, limit: 2 })).toBe(2);
    expect(await s.pruneRuns({ olderThan: future(), flowId, limit: 2 })).toBe(1);
    expect(await s.pruneRuns({ olderThan: future(), flowId, limit: 2 })).toBe(0);

    for (const gone of [completed, failed, cancelled]) {
      expect(await s.getRun(gone.runId)).toBeNull();
      expect(await s.getEvents(gone.runId)).toEqual([]);
      expect(await s.getInbox(gone.runId)).toEqual([]);
    }
    expect(await s.getIdempotencyRecord(key)).toBeNull();
    expect((await s.getMapValues(completed.runId, 'a')).outputs.size).toBe(0);
    expect((await s.getRun(running.runId))?.status).toBe('RUNNING');
    expect((await s.getRun(waiting.runId))?.status).toBe('WAITING');
    expect((await s.getRun(other.runId))?.status).toBe('COMPLETED'); // another flow
    // The waiting run keeps its event wait.
    const sent = await s.sendEvent({ eventId: randomUUID(), name: `${flowId}.go`, key: null, payload: j(1) });
    expect(sent.delivered.map((d) => d.runId)).toEqual([waiting.runId]);
  });

  it('prunes by age (store clock), status, version and flow keys left alone; frees a run idempotency key', async () => {
    const s = store();
    const flowId = `prune-${randomUUID()}`;
    const runKey = `run-key-${randomUUID()}`;
    const { run: keyed } = await s.createRun(newRun({ flowId, idempotencyKey: runKey }));
    await commitTo(s, keyed.runId, { status: 'COMPLETED', ...ended });
    const failed = await runIn(s, flowId, 'FAILED');
    const v2 = await runIn(s, flowId, 'COMPLETED', {}, '2');
    const v3 = await runIn(s, flowId, 'COMPLETED', {}, '3');
    await sleep(20);

    expect(await s.pruneRuns({ olderThan: 5, flowId, status: 'FAILED', limit: 100 })).toBe(1);
    expect(await s.getRun(failed.runId)).toBeNull();
    expect(await s.pruneRuns({ olderThan: 5, flowId, flowVersion: '2', limit: 100 })).toBe(1);
    expect(await s.getRun(v2.runId)).toBeNull();
    expect(await s.pruneRuns({ olderThan: 5, flowId, exceptFlowKeys: [`${flowId}@3`], limit: 100 })).toBe(1);
    expect(await s.getRun(keyed.runId)).toBeNull();
    expect((await s.getRun(v3.runId))?.status).toBe('COMPLETED');
    // The run's idempotency key went with it: the key starts a new run.
    expect((await s.createRun(newRun({ flowId, idempotencyKey: runKey }))).created).toBe(true);
  });

  it('refuses to prune live runs, and bad queries', async () => {
    const s = store();
    await expect(s.pruneRuns({ olderThan: future(), status: 'RUNNING', limit: 10 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(s.pruneRuns({ olderThan: future(), status: ['COMPLETED', 'WAITING'], limit: 10 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(s.pruneRuns({ olderThan: -1, limit: 10 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(s.pruneRuns({ olderThan: new Date(Number.NaN), limit: 10 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(s.pruneRuns({ olderThan: future(), limit: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('skips a run someone holds, and a parent whose child is still live; a child outlives its pruned parent', async () => {
    const s = store();
    const flowId = `prune-${randomUUID()}`;
    const held = await runIn(s, flowId, 'COMPLETED');
    const lease = (await s.lockRun(held.runId))!;
    const parent = await runIn(s, flowId, 'COMPLETED');
    const { run: child } = await s.createRun(newRun({ flowId, parentRunId: parent.runId, parentNodeId: 'a' }));

    expect(await s.pruneRuns({ olderThan: future(), flowId, limit: 100 })).toBe(0);
    await lease.release();
    expect(await s.pruneRuns({ olderThan: future(), flowId, limit: 100 })).toBe(1);
    expect(await s.getRun(held.runId)).toBeNull();
    expect(await s.getRun(parent.runId)).not.toBeNull();

    // The child ends: its parent hears of it, and both may go.
    await commitTo(s, child.runId, { status: 'COMPLETED', ...ended });
    expect((await s.getInbox(parent.runId)).map((e) => e.kind)).toEqual(['child']);
    expect(await s.pruneRuns({ olderThan: future(), flowId, limit: 100 })).toBe(2);

    // A child whose parent is gone (pruned) still ends, by a commit or a cancel.
    const { run: orphan } = await s.createRun(newRun({ flowId, parentRunId: randomUUID(), parentNodeId: 'a' }));
    expect((await commitTo(s, orphan.runId, { status: 'FAILED', ...ended, error: { code: 'X', message: 'x' } })).status).toBe('FAILED');
    const { run: orphan2 } = await s.createRun(newRun({ flowId, parentRunId: randomUUID(), parentNodeId: 'a' }));
    expect((await s.cancelRun(orphan2.runId, [{ type: 'RUN_CANCELLED' }], { code: 'CANCELLED', message: 'x' }))?.status).toBe('CANCELLED');
  });

  it('keeps a finished child while its parent is live (the parent reads it when it applies its end)', async () => {
    const s = store();
    const flowId = `prune-${randomUUID()}`;
    const parent = await runIn(s, `${flowId}-parent`, 'WAITING');
    const { run: child } = await s.createRun(newRun({ flowId, parentRunId: parent.runId, parentNodeId: 'a' }));
    await commitTo(s, child.runId, { status: 'COMPLETED', ...ended }, { events: [{ type: 'RUN_COMPLETED' }] });
    expect((await s.getInbox(parent.runId)).map((e) => e.payload)).toEqual([{ childRunId: child.runId, status: 'COMPLETED' }]);

    expect(await s.pruneRuns({ olderThan: future(), flowId, limit: 100 })).toBe(0);
    expect((await s.getRun(child.runId))?.status).toBe('COMPLETED');
    // The parent has finished: nothing reads the child any more.
    await commitTo(s, parent.runId, { status: 'COMPLETED', ...ended }, { consumeInbox: (await s.getInbox(parent.runId)).map((e) => e.id) });
    expect(await s.pruneRuns({ olderThan: future(), flowId, limit: 100 })).toBe(1);
    expect(await s.getRun(child.runId)).toBeNull();
  });
}
