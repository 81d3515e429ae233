/**
 * Children are never left behind, on every store: when a run ends FAILED or CANCELLED, or a
 * branch or map item that waits for a child is aborted, the child and its own children are
 * cancelled in the same write — nothing is left WAITING forever under a parent that will never
 * read its end (and that, with a live child, could never be pruned).
 */
import { describe, expect, it } from 'vitest';
import { flow, type FlowDefinition, type NodeResult } from '@hazeljs/flow';
import { storeCases } from '../helpers/stores.js';
import { engineOnStore } from '../helpers/engine-on-store.js';

describe.each(storeCases)('children cancelled with what waited for them, on $name', (store) => {
  const t = engineOnStore(store);
  const { uniq, start } = t;

  /** A child flow whose run waits forever for a grandchild that waits forever. */
  async function waitingChild(): Promise<FlowDefinition> {
    const grandchild = flow(uniq('gc'), '1')
      .entry('w')
      .node('w', (): NodeResult => ({ status: 'wait', reason: 'forever' }))
      .build();
    await t.engine.registerDefinition(grandchild);
    const child = flow(uniq('child'), '1')
      .entry('s')
      .node('s', (): NodeResult => ({ status: 'child', flowId: grandchild.flowId, version: '1' }))
      .build();
    await t.engine.registerDefinition(child);
    return child;
  }

  /** Every run under `runId` (children, theirs…), with its status. */
  async function descendants(runId: string): Promise<Array<{ runId: string; status: string }>> {
    const out: Array<{ runId: string; status: string }> = [];
    for (const r of (await t.engine.listRuns({ parentRunId: runId, summary: true, limit: 1000 })).runs) {
      out.push({ runId: r.runId, status: r.status }, ...(await descendants(r.runId)));
    }
    return out;
  }

  /** Drives the first child of `runId` until it rests (its own child started), once it exists. */
  async function driveChildOf(runId: string): Promise<void> {
    for (;;) {
      const [c] = (await t.engine.listRuns({ parentRunId: runId, summary: true })).runs;
      if (c) {
        await t.engine.runToCompletion(c.runId);
        return;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  it("join 'any' aborting a branch that waits for a child cancels the child and its children", async () => {
    const child = await waitingChild();
    const def = flow(uniq('any'), '1')
      .entry('start')
      .node('start', () => ({ status: 'ok' }), { split: 'all' })
      .node('spawn', (): NodeResult => ({ status: 'child', flowId: child.flowId, version: '1' }))
      .node('quick', async (ctx) => {
        await driveChildOf(ctx.runId); // spawn has started its child, which has started its own
        return { status: 'ok', output: 'quick' };
      })
      .node('first', () => ({ status: 'ok' }), { join: 'any' })
      .edge('start', 'spawn')
      .edge('start', 'quick')
      .edge('spawn', 'first')
      .edge('quick', 'first')
      .build();
    const runId = await start(def);
    const run = await t.engine.runToCompletion(runId);
    expect(run.status).toBe('COMPLETED');
    const below = await descendants(runId);
    expect(below).toHaveLength(2);
    expect(below.map((r) => r.status)).toEqual(['CANCELLED', 'CANCELLED']);
    const [c] = below;
    expect((await t.engine.getRun(c!.runId))!.error).toMatchObject({ code: 'CANCELLED' });
    // The parent no longer waited for it: the child's end is not put in its inbox.
    expect(await t.storage.getInbox(runId)).toEqual([]);
  });

  it('a sibling branch failing the run cancels the child the other branch waits for', async () => {
    const child = await waitingChild();
    const def = flow(uniq('fails'), '1')
      .entry('start')
      .node('start', () => ({ status: 'ok' }), { split: 'all' })
      .node('spawn', (): NodeResult => ({ status: 'child', flowId: child.flowId, version: '1' }))
      .node('boom', async (ctx): Promise<NodeResult> => {
        await driveChildOf(ctx.runId);
        return { status: 'error', error: { code: 'BOOM', message: 'no', retryable: false } };
      })
      .edge('start', 'spawn')
      .edge('start', 'boom')
      .build();
    const runId = await start(def);
    const run = await t.engine.runToCompletion(runId);
    expect(run.status).toBe('FAILED');
    expect((await descendants(runId)).map((r) => r.status)).toEqual(['CANCELLED', 'CANCELLED']);
    expect(await t.storage.getInbox(runId)).toEqual([]);
  });

  it('a map item failing the node cancels the children of the other items', async () => {
    const child = await waitingChild();
    const def = flow(uniq('map-fails'), '1')
      .entry('each')
      .node(
        'each',
        async (ctx): Promise<NodeResult> => {
          if (ctx.item !== 'bad') return { status: 'child', flowId: child.flowId, version: '1' };
          await new Promise((r) => setTimeout(r, 50));
          return { status: 'error', error: { code: 'BAD_ITEM', message: 'no', retryable: false } };
        },
        { forEach: () => ['a', 'bad', 'b'], concurrency: 3 },
      )
      .build();
    const runId = await start(def);
    const run = await t.engine.runToCompletion(runId);
    expect(run.status).toBe('FAILED');
    const below = await descendants(runId);
    expect(below.length).toBeGreaterThanOrEqual(2); // the children of 'a' and 'b' (theirs, if they got that far)
    expect(below.filter((r) => r.status !== 'CANCELLED')).toEqual([]);
  });

  it('a run that fails aborts the attempt in flight of its child in this process (ctx.signal)', async () => {
    let started!: () => void;
    const childStarted = new Promise<void>((r) => (started = r));
    let sawAbort = false;
    const child = flow(uniq('busy-child'), '1')
      .entry('work')
      .node('work', async (ctx): Promise<NodeResult> => {
        started();
        await new Promise((r) => ctx.signal.addEventListener('abort', r));
        sawAbort = true;
        return { status: 'ok' };
      })
      .build();
    await t.engine.registerDefinition(child);
    let childDriven: Promise<unknown> | undefined;
    const def = flow(uniq('fails-busy'), '1')
      .entry('start')
      .node('start', () => ({ status: 'ok' }), { split: 'all' })
      .node('spawn', (): NodeResult => ({ status: 'child', flowId: child.flowId, version: '1' }))
      .node('boom', async (ctx): Promise<NodeResult> => {
        for (;;) {
          const [c] = (await t.engine.listRuns({ parentRunId: ctx.runId, summary: true })).runs;
          if (c) {
            childDriven = t.engine.runToCompletion(c.runId);
            break;
          }
          await new Promise((r) => setTimeout(r, 5));
        }
        await childStarted;
        return { status: 'error', error: { code: 'BOOM', message: 'no', retryable: false } };
      })
      .edge('start', 'spawn')
      .edge('start', 'boom')
      .build();
    const runId = await start(def);
    expect((await t.engine.runToCompletion(runId)).status).toBe('FAILED');
    await childDriven;
    expect(sawAbort).toBe(true);
    expect((await descendants(runId)).map((r) => r.status)).toEqual(['CANCELLED']);
  });

  it('cancelling a parent cancels its 50 waiting children and their children in one store call', async () => {
    const child = await waitingChild();
    const def = flow(uniq('many'), '1')
      .entry('each')
      .node('each', (): NodeResult => ({ status: 'child', flowId: child.flowId, version: '1' }), {
        forEach: () => Array.from({ length: 50 }, (_, i) => i),
        concurrency: 50,
      })
      .build();
    const runId = await start(def);
    expect((await t.engine.runToCompletion(runId)).status).toBe('WAITING');
    expect((await descendants(runId)).filter((r) => r.status === 'WAITING')).toHaveLength(100);
    // The store's cancel alone: nothing is left for a second step (a crash there would strand them).
    const cancelled = await t.storage.cancelRun(runId, [{ type: 'RUN_CANCELLED' }], { code: 'CANCELLED', message: 'by test' });
    expect(cancelled?.status).toBe('CANCELLED');
    const below = await descendants(runId);
    expect(below).toHaveLength(100);
    expect(below.filter((r) => r.status !== 'CANCELLED')).toEqual([]);
    const timeline = await t.engine.getTimeline(below[0]!.runId);
    expect(timeline.at(-1)).toMatchObject({ type: 'RUN_CANCELLED' });
  });
});
