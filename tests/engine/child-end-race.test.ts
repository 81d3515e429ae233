/**
 * A child run that ends while its parent's node attempt (the one that started it) is still being
 * committed: the child's end lands in the parent's inbox before the parent's CHILD_STARTED. Seen
 * in the chaos soak (a worker runs the child to its end while the parent's holder is busy); here
 * the "other worker" is a second engine that runs each child to its end as soon as it is created.
 *
 * Expected: the parent's node finishes with the child's outputs and the run completes. (Before
 * 96bb9d4 the transition that applied the early event consumed the child's end and dropped it, as
 * no branch waited for the child yet; the CHILD_STARTED in that same transition then made the
 * branch wait for it forever.)
 */
import { describe, expect, it } from 'vitest';
import { FlowEngine, createMemoryStorage, flow, type FlowStorage, type NodeResult } from '@hazeljs/flow';

describe('a child that ends before its parent committed CHILD_STARTED', () => {
  it('still finishes the parent node when another inbox entry (an early event) is read in the same transition', async () => {
    const inner = createMemoryStorage();
    const child = flow('quick-child', '1')
      .entry('only')
      .node('only', () => ({ status: 'ok', output: { seven: 7 } }))
      .build();
    const parent = flow('race-parent', '1')
      .entry('fan')
      .node('fan', () => ({ status: 'ok' }), { split: 'all' })
      .node('signal', (ctx): NodeResult =>
        ctx.state._resumePayload === undefined
          ? { status: 'wait', event: { name: 'go', key: ctx.runId } }
          : { status: 'ok', output: { got: ctx.state._resumePayload } },
      )
      .node('spawn', (): NodeResult => ({ status: 'child', flowId: 'quick-child', version: '1' }))
      .node('done', (ctx) => ({ status: 'ok', output: { spawn: ctx.outputs.spawn ?? null } }), { join: 'all' })
      .edge('fan', 'signal')
      .edge('fan', 'spawn')
      .edge('signal', 'done')
      .edge('spawn', 'done')
      .build();

    // "Another worker": runs every child run to its end the moment it is created, before the
    // parent's holder has committed the CHILD_STARTED of the attempt that asked for it.
    const other = new FlowEngine({ storage: inner });
    await other.registerDefinition(child);
    const storage = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'createRun') {
          return async (args: Parameters<FlowStorage['createRun']>[0]) => {
            const created = await target.createRun(args);
            if (args.parentRunId) await other.runToCompletion(created.run.runId);
            return created;
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as FlowStorage;
    const engine = new FlowEngine({ storage });
    await engine.registerDefinition(child);
    await engine.registerDefinition(parent);

    const { runId } = await engine.startRun({ flowId: 'race-parent', version: '1', input: {} });
    // The event comes early (before the run reaches its wait): the wait finds it at once, so the
    // holder reads its inbox again while the spawn attempt (and its child) are under way.
    await engine.sendEvent({ name: 'go', key: runId, payload: { ok: true } });
    let run = await engine.getRun(runId);
    for (let i = 0; i < 20 && run!.status !== 'COMPLETED'; i++) run = await engine.tick(runId);

    const children = await engine.listRuns({ parentRunId: runId });
    expect(children.runs.map((c) => c.status)).toEqual(['COMPLETED']);
    const types = (await engine.getTimeline(runId)).map((e) => e.type);
    expect(types).toContain('CHILD_STARTED');
    expect(types, types.join(', ')).toContain('CHILD_FINISHED');
    expect(run!.status).toBe('COMPLETED');
    expect(run!.outputsJson.spawn).toEqual({ only: { seven: 7 } });
    await engine.close();
    await other.close();
  });
});
