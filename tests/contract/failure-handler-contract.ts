/**
 * Contract of the failure handler (`Transition.failureHandler`): the commit that moves a run to
 * FAILED creates the handler run in the same write and names it in the failed run's
 * `failureHandlerRunId`; the handler's `failureOf` names the failed run. Only that commit does: a
 * commit that ends the run otherwise, or a stale one, creates nothing, and a handler already
 * holding the key is named instead of a second being created.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { StaleRunError } from '../../src/errors.js';
import type { FlowStorage, NewRun } from '../../src/storage/types.js';
import { branch, j, newRun, step, waitFor } from './contract-helpers.js';
import type { StoreHandle } from './storage-contract.js';

const failed = { status: 'FAILED', currentNodeId: 'a', branches: j([]), error: { code: 'BOOM', message: 'it broke', retryable: false } } as const;

function handlerFor(runId: string, overrides: Partial<NewRun> = {}): NewRun {
  return newRun({
    flowId: 'contract-handler',
    idempotencyKey: `onFailure:${runId}`,
    input: j({ runId, flowId: 'contract-flow', version: '1', error: failed.error }),
    failureOf: runId,
    events: [{ type: 'RUN_STARTED', nodeId: 'a', branchId: 'b1', payload: j({ failureOf: runId }) }],
    ...overrides,
  });
}

async function handlersOf(s: FlowStorage, runId: string): Promise<string[]> {
  const page = await s.listRuns({ flowId: 'contract-handler', limit: 1000, summary: true });
  return page.runs.filter((r) => r.failureOf === runId).map((r) => r.runId);
}

export function failureHandlerContract(handle: () => StoreHandle): void {
  const store = () => handle().storage;

  it('the commit that ends a run FAILED creates its failure handler in the same write, and the two runs name each other', async () => {
    const s = store();
    const woken: string[] = [];
    const off = s.onWake((id) => woken.push(id));
    try {
      const { run } = await s.createRun(newRun());
      expect(run).toMatchObject({ failureOf: null, failureHandlerRunId: null });
      const handler = handlerFor(run.runId);
      const lease = (await s.lockRun(run.runId))!;
      const committed = await lease.commit(
        step(lease.run!, failed, {
          release: true,
          failureHandler: handler,
          events: [{ type: 'FAILURE_HANDLER_STARTED', payload: j({ handlerRunId: handler.runId }) }],
        }),
      );
      expect(committed).toMatchObject({ status: 'FAILED', failureHandlerRunId: handler.runId, failureOf: null });
      expect(await s.getRun(run.runId)).toMatchObject({ status: 'FAILED', failureHandlerRunId: handler.runId });

      const h = (await s.getRun(handler.runId))!;
      expect(h).toMatchObject({
        status: 'RUNNING',
        flowId: 'contract-handler',
        failureOf: run.runId,
        failureHandlerRunId: null,
        parentRunId: null,
        idempotencyKey: `onFailure:${run.runId}`,
        currentNodeId: 'a',
        branches: [branch('a')],
        lastSeq: 1,
        version: 1,
      });
      expect(h.inputJson).toEqual({ runId: run.runId, flowId: 'contract-flow', version: '1', error: failed.error });
      expect((await s.getEvents(handler.runId)).map((e) => [e.seq, e.type, e.payloadJson])).toEqual([[1, 'RUN_STARTED', { failureOf: run.runId }]]);
      expect((await s.getEvents(run.runId)).at(-1)).toMatchObject({ type: 'FAILURE_HANDLER_STARTED', payloadJson: { handlerRunId: handler.runId } });
      // A new run with work: workers are told, and it is due.
      await waitFor(() => woken.includes(handler.runId));
      expect(await s.findDueRuns({ limit: 1000 })).toContain(handler.runId);
      // Not a child: the failure's cascade left it alone, and the failed run lists no children.
      expect((await s.listRuns({ parentRunId: run.runId })).runs).toEqual([]);
      expect((await s.listRuns({ flowId: 'contract-handler', limit: 1000, summary: true })).runs.find((r) => r.runId === handler.runId)).toMatchObject({
        failureOf: run.runId,
      });
    } finally {
      off();
    }
  });

  it('creates no second handler: a run already holding the key is named instead', async () => {
    const s = store();
    const { run } = await s.createRun(newRun());
    const first = await s.createRun(handlerFor(run.runId));
    expect(first.run.failureOf).toBe(run.runId);
    const lease = (await s.lockRun(run.runId))!;
    const committed = await lease.commit(step(lease.run!, failed, { release: true, failureHandler: handlerFor(run.runId) }));
    expect(committed.failureHandlerRunId).toBe(first.run.runId);
    expect(await handlersOf(s, run.runId)).toEqual([first.run.runId]);
  });

  it('only a commit that moves a live run to FAILED creates it: not one that completes it, nor a stale one', async () => {
    const s = store();
    const { run: done } = await s.createRun(newRun());
    const lease = (await s.lockRun(done.runId))!;
    const completed = await lease.commit(
      step(lease.run!, { status: 'COMPLETED', currentNodeId: null, branches: j([]) }, { release: true, failureHandler: handlerFor(done.runId) }),
    );
    expect(completed.failureHandlerRunId).toBeNull();
    expect(await handlersOf(s, done.runId)).toEqual([]);

    const { run } = await s.createRun(newRun());
    const held = (await s.lockRun(run.runId))!;
    await s.cancelRun(run.runId, [{ type: 'RUN_CANCELLED' }], { code: 'CANCELLED', message: 'by test' });
    const stale = handlerFor(run.runId);
    await expect(held.commit(step(held.run!, failed, { release: true, failureHandler: stale }))).rejects.toBeInstanceOf(StaleRunError);
    await held.release();
    expect(await s.getRun(stale.runId)).toBeNull();
    expect((await s.getRun(run.runId))!.failureHandlerRunId).toBeNull();
  });

  it('createRun keeps the failureOf it is given', async () => {
    const s = store();
    const failedRunId = randomUUID();
    const { run } = await s.createRun(newRun({ failureOf: failedRunId }));
    expect(run.failureOf).toBe(failedRunId);
    expect((await s.getRun(run.runId))!.failureOf).toBe(failedRunId);
  });
}
