/**
 * Contract of the run model of many branches: the branches stored in the run row, node values
 * written once each in rows of their own (outputs assembled into `outputsJson`, maps read with
 * `getMapValues`), events that say their branch and item, and the store's clock on every record.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { StaleRunError } from '../../src/errors.js';
import type { BranchRecord, FlowStorage, NodeValueWrite } from '../../src/storage/types.js';
import { asRead, branch, expectReadNow, j, newRun, step } from './contract-helpers.js';
import type { StoreHandle } from './storage-contract.js';

const output = (nodeId: string, value: unknown): NodeValueWrite => ({ nodeId, kind: 'output', value: j(value) });
const items = (nodeId: string, list: unknown[]): NodeValueWrite => ({ nodeId, kind: 'items', value: j(list) });
const item = (nodeId: string, itemIndex: number, value: unknown): NodeValueWrite => ({ nodeId, kind: 'item', itemIndex, value: j(value) });

async function mapValuesOf(s: FlowStorage, runId: string, nodeId: string) {
  const values = await s.getMapValues(runId, nodeId);
  return { items: values.items, outputs: [...values.outputs.entries()].sort(([a], [b]) => a - b) };
}

export function branchesContract(handle: () => StoreHandle): void {
  const store = () => handle().storage;

  it('stores the branches given at creation and by commits, and keeps them when a commit leaves them out', async () => {
    const s = store();
    const first: BranchRecord[] = [branch('start', { dueAt: '2030-01-02T03:04:05.678Z' })];
    const { run } = await s.createRun(newRun({ currentNodeId: 'start', branches: j(first) }));
    expect(run.branches).toEqual(first);
    expect((await s.getRun(run.runId))!.branches).toEqual(first);
    const many: BranchRecord[] = [
      branch('left', { branchId: 'b3', status: 'RUNNING', attempt: 2, recoveries: 1 }),
      branch('right', {
        branchId: 'b4',
        status: 'RETRY',
        attempt: 1,
        dueAt: '2030-01-01T00:00:00.000Z',
        error: { code: 'E', message: 'boom', retryable: true },
      }),
      branch('ask', { branchId: 'b5', status: 'WAITING', waitId: 4, waitReason: 'approval', waitFor: 'resume' }),
      branch('asked', { branchId: 'b8', status: 'READY', resumePayload: { ok: [1, 'two'] } }),
      branch('join', { branchId: 'b6', status: 'READY', joined: ['b3', 'b4'] }),
      branch('each', {
        branchId: 'b7',
        status: 'RUNNING',
        map: {
          total: 5,
          concurrency: 2,
          done: 2,
          started: 4,
          items: [
            { index: 2, status: 'RUNNING', attempt: 1, recoveries: 0 },
            { index: 3, status: 'RETRY', attempt: 2, recoveries: 0, dueAt: '2030-01-01T00:00:01.000Z', error: { code: 'X', message: 'y' } },
          ],
        },
      }),
    ];
    const lease = (await s.lockRun(run.runId))!;
    const split = await lease.commit(
      step(run, { currentNodeId: 'left', branches: j(many) }, { events: [{ type: 'BRANCH_STARTED', nodeId: 'left', branchId: 'b3' }] }),
    );
    expect(split.branches).toEqual(many);
    expect((await s.getRun(run.runId))!.branches).toEqual(many);
    const kept = await lease.commit(step(split, { state: j({ s: 1 }) }));
    expect(kept.branches).toEqual(many);
    const none = await lease.commit(step(kept, { status: 'COMPLETED', currentNodeId: null, branches: j([]) }, { release: true }));
    expect(none.branches).toEqual([]);
    expect(await s.getRun(run.runId)).toEqual(asRead(none));
  });

  it('writes node outputs in rows of their own and assembles outputsJson from them', async () => {
    const s = store();
    const { run } = await s.createRun(newRun());
    expect(run.outputsJson).toEqual({});
    const lease = (await s.lockRun(run.runId))!;
    const one = await lease.commit(step(run, {}, { values: [output('a', { n: 1, deep: [{ x: 'ü' }] }), output('b', null)] }));
    expect(one.outputsJson).toEqual({ a: { n: 1, deep: [{ x: 'ü' }] }, b: null });
    expect(await s.getRun(run.runId)).toEqual(asRead(one));
    // A commit without values leaves them; a node's new output replaces its previous one.
    const same = await lease.commit(step(one, { state: j({ s: 1 }) }));
    expect(same.outputsJson).toEqual(one.outputsJson);
    const two = await lease.commit(step(same, {}, { values: [output('a', 'again'), output('c', [3]), output('c', [4])] }));
    expect(two.outputsJson).toEqual({ a: 'again', b: null, c: [4] }); // the later of two writes of one node wins
    expect(await s.getRun(run.runId)).toEqual(asRead(two));
    await lease.release();
    // Read under the next lock, by the next holder.
    const next = (await s.lockRun(run.runId))!;
    expect(next.run!.outputsJson).toEqual({ a: 'again', b: null, c: [4] });
    await next.release();
    // Another run's outputs are its own.
    expect((await s.getRun((await s.createRun(newRun())).run.runId))!.outputsJson).toEqual({});
  });

  it("stores a map's items and item outputs, replaces them, and clears them", async () => {
    const s = store();
    const { run } = await s.createRun(newRun());
    expect(await mapValuesOf(s, run.runId, 'each')).toEqual({ items: null, outputs: [] });
    const lease = (await s.lockRun(run.runId))!;
    const started = await lease.commit(
      step(
        run,
        {},
        {
          values: [items('each', [{ id: 1 }, { id: 2 }, { id: 3 }])],
          events: [{ type: 'MAP_STARTED', nodeId: 'each', branchId: 'b1', payload: j({ items: 3, concurrency: 2 }) }],
        },
      ),
    );
    expect(started.outputsJson).toEqual({}); // a map's values are not outputs
    expect(await mapValuesOf(s, run.runId, 'each')).toEqual({ items: [{ id: 1 }, { id: 2 }, { id: 3 }], outputs: [] });
    const items12 = await lease.commit(step(started, {}, { values: [item('each', 1, 'one'), item('each', 0, { zero: true })] }));
    const items2 = await lease.commit(step(items12, {}, { values: [item('each', 2, null), item('each', 1, 'one again')] }));
    expect(await mapValuesOf(s, run.runId, 'each')).toEqual({
      items: [{ id: 1 }, { id: 2 }, { id: 3 }],
      outputs: [
        [0, { zero: true }],
        [1, 'one again'],
        [2, null],
      ],
    });
    expect(await mapValuesOf(s, run.runId, 'other')).toEqual({ items: null, outputs: [] });
    // Another map, then the map ends: its output is written and its items cleared in one commit.
    const other = await lease.commit(step(items2, {}, { values: [items('other', ['x']), item('other', 0, 'X')] }));
    const ended = await lease.commit(step(other, {}, { clearMaps: ['each'], values: [output('each', [{ zero: true }, 'one again', null])] }));
    expect(ended.outputsJson).toEqual({ each: [{ zero: true }, 'one again', null] });
    expect(await mapValuesOf(s, run.runId, 'each')).toEqual({ items: null, outputs: [] });
    expect(await mapValuesOf(s, run.runId, 'other')).toEqual({ items: ['x'], outputs: [[0, 'X']] });
    expect(await s.getRun(run.runId)).toEqual(asRead(ended));
    // A map that restarts: cleared first, then written again in the same commit.
    const restarted = await lease.commit(step(ended, {}, { clearMaps: ['other'], values: [items('other', ['y', 'z']), item('other', 1, 'Z')] }));
    expect(await mapValuesOf(s, run.runId, 'other')).toEqual({ items: ['y', 'z'], outputs: [[1, 'Z']] });
    // Clearing a map leaves the node's output, and clearing what is not there is harmless.
    const cleared = await lease.commit(step(restarted, {}, { clearMaps: ['each', 'other', 'nothing'], release: true }));
    expect(cleared.outputsJson).toEqual({ each: [{ zero: true }, 'one again', null] });
    expect(await mapValuesOf(s, run.runId, 'other')).toEqual({ items: null, outputs: [] });
    expect(await s.getRun(run.runId)).toEqual(asRead(cleared));
    expect(await mapValuesOf(s, randomUUID(), 'each')).toEqual({ items: null, outputs: [] });
  });

  it('a fenced commit with values writes nothing: no values, no cleared map, no events', async () => {
    const s = store();
    const { run } = await s.createRun(newRun());
    const lease = (await s.lockRun(run.runId))!;
    const base = await lease.commit(step(run, {}, { values: [output('a', 1), items('m', [1, 2]), item('m', 0, 'first')] }));
    const stale = step(
      run,
      { branches: j([branch('zzz')]) },
      {
        clearMaps: ['m'],
        values: [output('a', 'stale'), output('zzz', 'stale'), items('m', ['stale']), item('m', 1, 'stale'), items('n', [0])],
        events: [{ type: 'NODE_FINISHED', nodeId: 'a', branchId: 'b1' }],
      },
    );
    await expect(lease.commit(stale)).rejects.toBeInstanceOf(StaleRunError);
    const after = await s.getRun(run.runId);
    expect(after).toEqual(asRead(base));
    expect(after!.outputsJson).toEqual({ a: 1 });
    expect(await mapValuesOf(s, run.runId, 'm')).toEqual({ items: [1, 2], outputs: [[0, 'first']] });
    expect(await mapValuesOf(s, run.runId, 'n')).toEqual({ items: null, outputs: [] });
    expect((await s.getEvents(run.runId)).map((e) => e.seq)).toEqual([1]);
    // Fenced out by a lock-free cancel too.
    await s.cancelRun(run.runId, [], { code: 'CANCELLED', message: 'x' });
    await expect(lease.commit(step(base, {}, { values: [output('a', 'late')], clearMaps: ['m'] }))).rejects.toBeInstanceOf(StaleRunError);
    expect((await s.getRun(run.runId))!.outputsJson).toEqual({ a: 1 });
    expect(await mapValuesOf(s, run.runId, 'm')).toEqual({ items: [1, 2], outputs: [[0, 'first']] });
    await lease.release();
  });

  it('events say which branch and item they belong to', async () => {
    const s = store();
    const { run } = await s.createRun(
      newRun({
        events: [
          { type: 'RUN_STARTED', nodeId: 'a' },
          { type: 'NODE_STARTED', nodeId: 'a', branchId: 'b1', attempt: 1 },
        ],
      }),
    );
    const lease = (await s.lockRun(run.runId))!;
    await lease.commit(
      step(
        run,
        {},
        {
          events: [
            { type: 'NODE_FINISHED', nodeId: 'a', branchId: 'b1', attempt: 1 },
            { type: 'BRANCH_STARTED', nodeId: 'x', branchId: 'b4', payload: j({ from: 'b1', splitNodeId: 'a' }) },
            { type: 'NODE_STARTED', nodeId: 'm', branchId: 'b5', itemIndex: 0, attempt: 1 },
            { type: 'NODE_FAILED', nodeId: 'm', branchId: 'b5', itemIndex: 12, attempt: 2, error: { code: 'E', message: 'm', retryable: true } },
            { type: 'RUN_COMPLETED', branchId: null, itemIndex: null },
          ],
          release: true,
        },
      ),
    );
    const events = await s.getEvents(run.runId);
    expect(events.map((e) => [e.seq, e.type, e.nodeId, e.branchId, e.itemIndex, e.attempt])).toEqual([
      [1, 'RUN_STARTED', 'a', null, null, null],
      [2, 'NODE_STARTED', 'a', 'b1', null, 1],
      [3, 'NODE_FINISHED', 'a', 'b1', null, 1],
      [4, 'BRANCH_STARTED', 'x', 'b4', null, null],
      [5, 'NODE_STARTED', 'm', 'b5', 0, 1],
      [6, 'NODE_FAILED', 'm', 'b5', 12, 2],
      [7, 'RUN_COMPLETED', null, null, null, null],
    ]);
    expect(events[3]!.payloadJson).toEqual({ from: 'b1', splitNodeId: 'a' });
    expect(events[5]!.error).toEqual({ code: 'E', message: 'm', retryable: true });
  });

  it('stamps every record with the store clock at the read or commit (readAt)', async () => {
    const s = store();
    const { run } = await s.createRun(newRun());
    expectReadNow(run);
    const read = (await s.getRun(run.runId))!;
    expectReadNow(read);
    expect(read.readAt.getTime()).toBeGreaterThanOrEqual(run.readAt.getTime());
    const lease = (await s.lockRun(run.runId))!;
    expectReadNow(lease.run);
    const committed = await lease.commit(step(lease.run!, {}));
    expectReadNow(committed);
    expect(committed.readAt.getTime()).toBeGreaterThanOrEqual(lease.run!.readAt.getTime());
    expectReadNow(await lease.reload());
    await lease.release();
    expectReadNow((await s.listRuns({ limit: 1 })).runs[0]);
    expectReadNow(await s.cancelRun(run.runId, [], { code: 'CANCELLED', message: 'x' }));
  });
}
