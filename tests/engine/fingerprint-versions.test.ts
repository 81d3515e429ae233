/**
 * What re-registering `flowId@version` accepts, as docs/concepts.md#versions-what-the-fingerprint-covers
 * says, on every store: changed code (a handler, an edge condition) under the same version is
 * accepted without a conflict — the process runs its newest code, runs in flight included, and the
 * store keeps the graph description of the first registration — while a changed shape (here a
 * node added) is a DefinitionConflictError. The fingerprint's field-by-field cases are in
 * tests/definitions/graph.test.ts and parallel-options.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { DefinitionConflictError, flow, type FlowContext, type NodeResult } from '@hazeljs/flow';
import { storeCases } from '../helpers/stores.js';
import { engineOnStore } from '../helpers/engine-on-store.js';

describe.each(storeCases)('one version, changed code, on $name', (store) => {
  const t = engineOnStore(store);

  type When = (ctx: FlowContext) => boolean;
  const over100: When = (ctx) => (ctx.state.amount as number) > 100;
  const over1000: When = (ctx) => (ctx.state.amount as number) > 1000;

  const build = (id: string, when: When, label: string, extraNode = false) => {
    const b = flow(id, '1')
      .entry('ask')
      .node('ask', (ctx): NodeResult =>
        ctx.state._resumePayload === undefined ? { status: 'wait', reason: 'amount' } : { status: 'ok', patch: { amount: ctx.state._resumePayload } },
      )
      .node('big', (): NodeResult => ({ status: 'ok', output: label }))
      .node('small', (): NodeResult => ({ status: 'ok', output: label }))
      // The condition's code is no part of the fingerprint.
      .edge('ask', 'big', when, 1)
      .edge('ask', 'small');
    return (extraNode ? b.node('audit', (): NodeResult => ({ status: 'ok' })) : b).build();
  };

  it('accepts a changed condition and handler under the same version, and runs in flight take the new code', async () => {
    const id = t.uniq('limits');
    await t.engine.registerDefinition(build(id, over100, 'v1 code'));
    const runId = (await t.engine.startRun({ flowId: id, version: '1', input: {} })).runId;
    await t.engine.runToCompletion(runId);
    // The same version, re-registered with another limit and other handlers: no conflict.
    await expect(t.engine.registerDefinition(build(id, over1000, 'v2 code'))).resolves.toBeUndefined();
    await t.engine.resumeRun(runId, 500);
    const run = await t.engine.runToCompletion(runId);
    // 500 > 100 would have gone to `big`; the run, started under the old code, took the new condition.
    expect(run.outputsJson).toEqual({ small: 'v2 code' });
    // The stored description (GET /v1/flows, the dashboard) still shows the first registration's condition.
    const stored = (await t.engine.listFlows()).find((f) => f.flowId === id)!;
    const when = (stored.definitionJson as { edges: Array<{ when?: string }> }).edges.find((e) => e.when)!.when;
    expect(when).toContain('> 100');
    expect(when).not.toContain('1000');
  });

  it('refuses a changed shape under the same version (a node added), in this process and another', async () => {
    const id = t.uniq('shape');
    await t.engine.registerDefinition(build(id, over100, 'x'));
    await expect(t.engine.registerDefinition(build(id, over100, 'x', true))).rejects.toBeInstanceOf(DefinitionConflictError);
  });
});
