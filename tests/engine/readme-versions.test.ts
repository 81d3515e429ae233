/**
 * The README's "Versions, migration and re-runs" example, verbatim, as a test (and checked against
 * the README's text, so that the two cannot drift apart): a deploy that adds version 2 of a flow
 * with runs of version 1 in flight — what it leaves behind, the migration (dry run, then for
 * real, a renamed node mapped), a retry of what failed once fixed, and a fork of a finished run.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FlowEngine, flow, type FlowDefinition } from '@hazeljs/flow';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** reserve → approve (waits for a person) → ship; version 2 renames approve to review and notifies after ship. */
function orderFlow(version: '1' | '2'): FlowDefinition {
  const waitNode = version === '1' ? 'approve' : 'review';
  let f = flow('order', version)
    .entry('reserve')
    .node('reserve', () => ({ status: 'ok', output: 'reserved' }))
    .node(waitNode, (ctx) => (ctx.state._resumePayload === undefined ? { status: 'wait', reason: 'approval' } : { status: 'ok', output: 'approved' }))
    .node('ship', (ctx) =>
      ctx.state.carrier === 'backup' || ctx.input === 'fine'
        ? { status: 'ok', output: `shipped by ${String(ctx.state.carrier ?? 'main')}` }
        : { status: 'error', error: { code: 'CARRIER_DOWN', message: 'carrier down', retryable: false } },
    )
    .edge('reserve', waitNode)
    .edge(waitNode, 'ship');
  if (version === '2') f = f.node('notify', () => ({ status: 'ok', output: 'notified' })).edge('ship', 'notify');
  return f.build();
}

describe('README: Versions, migration and re-runs', () => {
  it('runs the example', async () => {
    const engine = new FlowEngine();
    const orderFlowV2 = orderFlow('2');
    // Before the deploy: version 1 with two runs waiting for approval.
    const old = new FlowEngine({ storage: engine.storage });
    await old.registerDefinition(orderFlow('1'));
    const inFlight: string[] = [];
    for (const input of ['fine', 'fine']) {
      const { runId } = await old.startRun({ flowId: 'order', version: '1', input });
      await old.runToCompletion(runId);
      inFlight.push(runId);
    }
    await engine.registerDefinition(orderFlowV2);
    // A run of version 2 that failed at ship, and one that completed.
    const failedRunId = (await engine.startRun({ flowId: 'order', version: '2', input: 'bad' })).runId;
    await engine.runToCompletion(failedRunId);
    await engine.resumeRun(failedRunId, 'yes');
    expect(await engine.runToCompletion(failedRunId)).toMatchObject({ status: 'FAILED' });
    const completedRunId = (await engine.startRun({ flowId: 'order', version: '2', input: 'fine' })).runId;
    await engine.runToCompletion(completedRunId);
    await engine.resumeRun(completedRunId, 'yes');
    await engine.runToCompletion(completedRunId);

    // ---- verbatim from README.md, Versions ----
    await engine.registerDefinition(orderFlowV2); // the new code: version 2 of 'order'

    // What the deploy leaves behind: each version's unfinished runs, and the due ones no process serves.
    const flows = await engine.listFlows(); // [{ flowId: 'order', version: '1', unfinishedRuns: 2, strandedRuns: 0, … }, …]

    // Move the runs in flight to version 2 (its node 'approve' is now 'review'): a dry run first.
    const move = { flowId: 'order', fromVersion: '1', toVersion: '2', nodeMap: { approve: 'review' } };
    const plan = await engine.migrateRuns({ ...move, dryRun: true });
    const { migrated, blocked } = await engine.migrateRuns(move);

    // Re-run what failed once it is fixed: same run, from the node that failed.
    await engine.retryRun(failedRunId, { statePatch: { carrier: 'backup' } });
    await engine.retryRuns({ flowId: 'order', version: '2', status: 'FAILED', nodeId: 'ship' }); // all of them, in batches

    // Try a change on a copy: a new run from a node of a finished one; the source is untouched.
    const { runId: forkId } = await engine.forkRun(completedRunId, { fromNodeId: 'ship', statePatch: { carrier: 'backup' } });
    // ---- end ----

    expect(flows.find((f) => f.version === '1')).toMatchObject({ unfinishedRuns: 2, strandedRuns: 0, registered: false });
    expect({ migrated: [...plan.migrated].sort(), blocked: plan.blocked }).toEqual({ migrated: [...inFlight].sort(), blocked: [] });
    expect({ migrated, blocked }).toEqual(plan);
    for (const runId of inFlight) {
      await engine.resumeRun(runId, 'yes');
      expect(await engine.runToCompletion(runId)).toMatchObject({
        status: 'COMPLETED',
        flowVersion: '2',
        outputsJson: { review: 'approved', notify: 'notified' },
      });
    }
    expect(await engine.runToCompletion(failedRunId)).toMatchObject({ status: 'COMPLETED', outputsJson: { ship: 'shipped by backup' } });
    expect(await engine.runToCompletion(forkId)).toMatchObject({ status: 'COMPLETED', forkedFrom: { runId: completedRunId, nodeId: 'ship' } });
    expect((await engine.getRun(completedRunId))!.outputsJson).toMatchObject({ ship: 'shipped by main' });
    await engine.close();
  });

  it('is the README’s text', () => {
    const section = README.slice(README.indexOf('## Versions, migration and re-runs'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
    const test = readFileSync(new URL(import.meta.url), 'utf8');
    const verbatim = /---- verbatim from README.md, Versions ----\n([\s\S]*?)\s*\/\/ ---- end ----/.exec(test)![1]!;
    const strip = (text: string) => text.replace(/^\s+/gm, '').trim();
    expect(strip(verbatim)).toBe(strip(code));
  });
});
