/**
 * Contract of business outcomes: a run has none until a commit sets one (`RunUpdate.outcome`); a
 * commit that leaves it out keeps it, a later one replaces it, and the run keeps it when it ends
 * (and through a cancel). The committed record, a read, a summary and a second handle agree, and
 * `listRuns({ outcome })` finds exactly the runs that have it (one or several, with the other filters).
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import type { FlowRunRecord, FlowStorage, Transition } from '../../src/storage/types.js';
import { asRead, j, newRun, step } from './contract-helpers.js';
import type { StoreHandle } from './storage-contract.js';

async function commit(s: FlowStorage, runId: string, patch: Parameters<typeof step>[1], extra: Partial<Transition> = {}): Promise<FlowRunRecord> {
  const lease = (await s.lockRun(runId))!;
  try {
    return await lease.commit(step(lease.run!, patch, extra));
  } finally {
    await lease.release();
  }
}

export function outcomeContract(handle: () => StoreHandle): void {
  const store = () => handle().storage;

  it('outcomes: none at first; set, kept when a commit leaves it out, replaced, and kept when the run ends', async () => {
    const s = store();
    const { run } = await s.createRun(newRun());
    expect(run.outcome).toBeNull();
    const set = await commit(s, run.runId, { outcome: 'charged' });
    expect(set.outcome).toBe('charged');
    expect(await s.getRun(run.runId)).toEqual(asRead(set));
    const kept = await commit(s, run.runId, { attempt: 1 });
    expect(kept.outcome).toBe('charged');
    const replaced = await commit(s, run.runId, { outcome: 'refunded ✓ — “partial”' });
    expect(replaced.outcome).toBe('refunded ✓ — “partial”');
    const ended = await commit(s, run.runId, { status: 'COMPLETED', currentNodeId: null, branches: j([]) }, { events: [{ type: 'RUN_COMPLETED' }] });
    expect(ended).toMatchObject({ status: 'COMPLETED', outcome: 'refunded ✓ — “partial”' });
    expect(await s.getRun(run.runId)).toEqual(asRead(ended));
    const other = await handle().second?.();
    if (other) expect((await other.getRun(run.runId))!.outcome).toBe('refunded ✓ — “partial”');
  });

  it('outcomes: a cancelled run keeps its outcome', async () => {
    const s = store();
    const { run } = await s.createRun(newRun());
    await commit(s, run.runId, { outcome: 'reserved' });
    const cancelled = await s.cancelRun(run.runId, [{ type: 'RUN_CANCELLED' }], { code: 'CANCELLED', message: 'test' });
    expect(cancelled).toMatchObject({ status: 'CANCELLED', outcome: 'reserved' });
  });

  it('outcomes: listRuns finds the runs with the outcome asked for, with status, flow, paging and summaries', async () => {
    const s = store();
    const flowId = `outcome-${randomUUID()}`;
    const made: Record<string, string> = {};
    for (const [name, outcome, status] of [
      ['refunded', 'refunded', 'COMPLETED'],
      ['declined', 'declined', 'COMPLETED'],
      ['refunding', 'refunded', 'RUNNING'],
      ['none', undefined, 'COMPLETED'],
    ] as const) {
      const { run } = await s.createRun(newRun({ flowId }));
      made[name] = run.runId;
      await commit(s, run.runId, { status, ...(outcome ? { outcome } : {}) });
    }
    const ids = async (filter: Parameters<FlowStorage['listRuns']>[0]) => (await s.listRuns({ flowId, ...filter })).runs.map((r) => r.runId).sort();
    expect(await ids({ outcome: 'refunded' })).toEqual([made.refunded, made.refunding].sort());
    expect(await ids({ outcome: 'refunded', status: 'COMPLETED' })).toEqual([made.refunded]);
    expect(await ids({ outcome: ['declined', 'refunded'], status: ['COMPLETED'] })).toEqual([made.refunded, made.declined].sort());
    expect(await ids({ outcome: ['declined'] })).toEqual([made.declined]);
    expect(await ids({ outcome: ['refunded', 'declined', 'refunded'], summary: true })).toEqual([made.refunded, made.declined, made.refunding].sort());
    expect(await ids({ outcome: ['refunded', 'nobody-has-this'], parentRunId: 'no-such-parent' })).toEqual([]);
    expect(await ids({ outcome: 'nobody-has-this' })).toEqual([]);
    expect(await s.listRuns({ flowId: `other-${randomUUID()}`, outcome: 'refunded' })).toEqual({ runs: [], nextCursor: null });

    const first = await s.listRuns({ flowId, outcome: 'refunded', limit: 1, summary: true });
    const second = await s.listRuns({ flowId, outcome: 'refunded', limit: 1, cursor: first.nextCursor!, summary: true });
    // Newest first, ties by run id (runs made in the same millisecond): the order of the whole list.
    const whole = (await s.listRuns({ flowId, outcome: 'refunded' })).runs.map((r) => r.runId);
    expect(whole.slice().sort()).toEqual([made.refunded, made.refunding].sort());
    expect([...first.runs, ...second.runs].map((r) => [r.runId, r.outcome])).toEqual(whole.map((id) => [id, 'refunded']));
    expect(second.nextCursor).toBeNull();
    const all = await s.listRuns({ flowId, summary: true });
    expect(Object.fromEntries(all.runs.map((r) => [r.runId, r.outcome]))).toEqual({
      [made.refunded!]: 'refunded',
      [made.declined!]: 'declined',
      [made.refunding!]: 'refunded',
      [made.none!]: null,
    });
  });

  it('outcomes: listRuns refuses an outcome filter that no outcome could be', async () => {
    const s = store();
    for (const outcome of ['', 'x'.repeat(201), 1, null, [], ['a', 2], 'bad\u0000']) {
      await expect(s.listRuns({ outcome: outcome as string })).rejects.toBeInstanceOf(InvalidArgumentError);
    }
  });
}
