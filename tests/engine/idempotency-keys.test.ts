/**
 * Idempotency keys as docs/api.md#idempotency-keys describes them, on every store: a run key is
 * global (one run per key in the store, whatever the tenant); a repeat returns that run as it is
 * (its own input, `created: false`); only a repeat naming another flow or version is refused with
 * IDEMPOTENCY_KEY_CONFLICT, writing nothing. A node key is global too: a result committed under
 * it is reused by any node of any run that computes the same key.
 */
import { describe, expect, it } from 'vitest';
import { FlowError, flow, type NodeResult } from '@hazeljs/flow';
import { storeCases } from '../helpers/stores.js';
import { engineOnStore } from '../helpers/engine-on-store.js';

describe.each(storeCases)('idempotency keys on $name', (store) => {
  const t = engineOnStore(store);
  const { uniq } = t;
  const oneNode = (id: string, version = '1') =>
    flow(id, version)
      .entry('a')
      .node('a', (ctx): NodeResult => ({ status: 'ok', output: ctx.input }))
      .build();

  it('a repeated run key returns the first run, with its own input, tenant and status (created: false)', async () => {
    const def = oneNode(uniq('start-key'));
    await t.engine.registerDefinition(def);
    const key = uniq('order');
    const first = await t.engine.startRun({ flowId: def.flowId, version: '1', input: { n: 1 }, tenantId: 'acme', idempotencyKey: key });
    await t.engine.runToCompletion(first.runId);
    // Another input and another tenant: still the first run, as it is now — not an error.
    const again = await t.engine.startRun({ flowId: def.flowId, version: '1', input: { n: 2 }, tenantId: 'globex', idempotencyKey: key });
    expect(again).toEqual({ runId: first.runId, status: 'COMPLETED', created: false });
    const run = (await t.engine.getRun(first.runId))!;
    expect(run).toMatchObject({ inputJson: { n: 1 }, tenantId: 'acme', idempotencyKey: key });
    expect((await t.engine.listRuns({ flowId: def.flowId })).runs).toHaveLength(1);
  });

  it('a run key that started another flow or version is IDEMPOTENCY_KEY_CONFLICT, and nothing is written', async () => {
    const a = oneNode(uniq('first-flow'));
    const b = oneNode(uniq('second-flow'));
    const a2 = oneNode(a.flowId, '2');
    for (const def of [a, b, a2]) await t.engine.registerDefinition(def);
    const key = uniq('shared');
    const first = await t.engine.startRun({ flowId: a.flowId, version: '1', input: {}, idempotencyKey: key });
    for (const other of [b, a2]) {
      const refused = await t.engine.startRun({ flowId: other.flowId, version: other.version, input: {}, idempotencyKey: key }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(FlowError);
      expect(refused).toMatchObject({ code: 'IDEMPOTENCY_KEY_CONFLICT', message: expect.stringContaining(first.runId) });
      expect((await t.engine.listRuns({ flowId: other.flowId, flowVersion: other.version })).runs).toHaveLength(0);
    }
  });

  it('a node key is global: a result committed under it is reused by another flow’s node, without calling its handler', async () => {
    const key = uniq('charge');
    let calls = 0;
    const charging = (id: string, output: string) =>
      flow(id, '1')
        .entry('charge')
        .node('charge', (): NodeResult => (calls++, { status: 'ok', output, patch: { by: id } }), { idempotencyKey: () => key })
        .build();
    const first = charging(uniq('shop'), 'first');
    const second = charging(uniq('other-shop'), 'second');
    const one = await t.engine.runToCompletion(await t.start(first));
    const two = await t.engine.runToCompletion(await t.start(second));
    expect(calls).toBe(1);
    expect(one.outputsJson).toEqual({ charge: 'first' });
    // The second flow's run got the first flow's output and patch.
    expect(two.outputsJson).toEqual({ charge: 'first' });
    expect(two.stateJson).toEqual({ by: first.flowId });
  });
});
