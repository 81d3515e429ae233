/**
 * The README's two Usage examples, verbatim (imports included), as tests.
 * They must keep running unchanged against the package.
 */
import { describe, expect, it } from 'vitest';
import { FlowEngine, Flow, Entry, Node, Edge, buildFlowDefinition } from '@hazeljs/flow';
import type { FlowContext, NodeResult } from '@hazeljs/flow';
import { flow } from '@hazeljs/flow';

describe('seed README examples', () => {
  it('decorator-based example runs to COMPLETED', async () => {
    // ---- verbatim from README.md, Usage ----
    @Flow('my-flow', '1.0.0')
    class MyFlow {
      @Entry()
      @Node('start')
      @Edge('end')
      async start(): Promise<NodeResult> {
        return { status: 'ok', output: 1 };
      }

      @Node('end')
      async end(ctx: FlowContext): Promise<NodeResult> {
        return { status: 'ok', output: ctx.outputs.start };
      }
    }

    const engine = new FlowEngine();
    const def = buildFlowDefinition(MyFlow);
    await engine.registerDefinition(def);

    const { runId } = await engine.startRun({
      flowId: 'my-flow',
      version: '1.0.0',
      input: {},
    });

    let run = await engine.getRun(runId);
    while (run?.status === 'RUNNING') {
      run = await engine.tick(runId);
    }
    // ---- end verbatim ----
    expect(run?.status).toBe('COMPLETED');
    expect(run?.outputsJson).toEqual({ start: 1, end: 1 });
    const timeline = await engine.getTimeline(runId);
    expect(timeline.map((e) => e.type)).toEqual(['RUN_STARTED', 'NODE_STARTED', 'NODE_FINISHED', 'NODE_STARTED', 'NODE_FINISHED', 'RUN_COMPLETED']);
    await engine.close();
  });

  it('functional builder example builds a runnable definition', async () => {
    // ---- verbatim from README.md, Usage ----
    const def = flow('my-flow', '1.0.0')
      .entry('start')
      .node('start', async (ctx) => ({ status: 'ok', output: 1 }))
      .node('end', async (ctx) => ({ status: 'ok', output: ctx.outputs.start }))
      .edge('start', 'end')
      .build();
    // ---- end verbatim ----
    const engine = new FlowEngine();
    await engine.registerDefinition(def);
    const { runId } = await engine.startRun({ flowId: 'my-flow', version: '1.0.0', input: {} });
    const run = await engine.runToCompletion(runId);
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson).toEqual({ start: 1, end: 1 });
    await engine.close();
  });
});
