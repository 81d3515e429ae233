/**
 * Typed flows at run time (docs/typed-flows.md): the README's "Typed flows" example, verbatim and
 * checked against the README, and the typed entry points — `startRun({ flow })`, a run record's
 * `tenantId`/`idempotencyKey` passed back, `sendEvent({ event })`, `childRun`, `flowRef` — doing
 * what their untyped spellings do. The types themselves are proven in tests/types/typed-flows.test-d.ts.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { FlowEngine, InvalidArgumentError, childRun, createMemoryStorage, defineEvent, flow, flowRef } from '@hazeljs/flow';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const THIS_FILE = readFileSync(new URL(import.meta.url), 'utf8');

/** The lines between `// ---- <marker> ----` and `// ---- end <marker> ----` in this file. */
function snippet(marker: string): string {
  const start = THIS_FILE.indexOf(`// ---- ${marker} ----`);
  const end = THIS_FILE.indexOf(`// ---- end ${marker} ----`);
  return THIS_FILE.slice(THIS_FILE.indexOf('\n', start) + 1, end);
}
/** Code compared line by line without its indentation (the test's code is indented, the README's not). */
const lines = (code: string) =>
  code
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');

describe('README, Typed flows', () => {
  it('the example runs and types the outputs it shows', async () => {
    // ---- verbatim from README.md, Typed flows ----
    const { FlowEngine, flow } = await import('@hazeljs/flow');

    interface Order {
      orderId: string;
      items: Array<{ sku: string; qty: number; unitPrice: number }>;
    }
    interface Services {
      tax: { rate(country: string): number };
    }

    const orderFlow = flow<Order, { confirmed?: boolean }, Services>('typed-order', '1.0.0')
      .entry('price')
      .node('price', async (ctx) => {
        const net = ctx.input.items.reduce((sum, i) => sum + i.qty * i.unitPrice, 0);
        return { status: 'ok', output: net * (1 + ctx.services.tax.rate('DE')) };
      })
      .node('confirm', async (ctx) => ({
        status: 'ok',
        output: { orderId: ctx.input.orderId, total: ctx.outputs.price ?? 0 }, // price: number | undefined
        patch: { confirmed: true },
      }))
      .edge('price', 'confirm')
      .build();

    const engine = new FlowEngine({ storage: createMemoryStorage(), services: { tax: { rate: () => 0.2 } } });
    await engine.registerDefinition(orderFlow);
    const { runId } = await engine.startRun({
      flow: orderFlow, // the input is checked against Order
      input: { orderId: 'o-1', items: [{ sku: 'pen', qty: 2, unitPrice: 5 }] },
    });
    const run = await engine.runToCompletion(runId); // run.outputsJson.confirm: { orderId: 'o-1', total: 12 }
    // ---- end verbatim from README.md, Typed flows ----
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson.confirm).toEqual({ orderId: 'o-1', total: 12 });
    expect(run.stateJson).toEqual({ confirmed: true });
    await engine.close();
  });

  it("is the README's code, line for line (but the import and the store the test gives)", () => {
    const ours = lines(snippet('verbatim from README.md, Typed flows'))
      .map((l) => (l.startsWith('const { FlowEngine, flow } = await import(') ? "import { FlowEngine, flow } from '@hazeljs/flow';" : l))
      .map((l) => l.replace('{ storage: createMemoryStorage(), services:', '{ services:'));
    const section = README.slice(README.indexOf('## Typed flows'));
    const block = section.slice(section.indexOf('```ts') + 5, section.indexOf('```', section.indexOf('```ts') + 5));
    expect(lines(block)).toEqual(ours);
  });
});

describe('typed entry points', () => {
  let engines: FlowEngine[] = [];
  afterEach(async () => {
    for (const e of engines) await e.close();
    engines = [];
  });
  async function engineWith(...defs: Parameters<FlowEngine['registerDefinition']>[0][]) {
    const engine = new FlowEngine({ storage: createMemoryStorage() });
    engines.push(engine);
    for (const def of defs) await engine.registerDefinition(def);
    return engine;
  }

  const echo = flow<{ n: number }>('typed-echo', '1.0.0')
    .entry('a')
    .node('a', (ctx) => ({ status: 'ok', output: { n: ctx.input.n, tenant: ctx.tenantId ?? null } }))
    .build();

  it('startRun({ flow }) starts the flow a definition or a flowRef names, as { flowId, version } does', async () => {
    const engine = await engineWith(echo);
    for (const flowGiven of [echo, flowRef<{ n: number }>('typed-echo', '1.0.0')]) {
      const { runId } = await engine.startRun({ flow: flowGiven, input: { n: 3 } });
      const run = await engine.runToCompletion(runId);
      expect([run.flowId, run.flowVersion, run.outputsJson.a]).toEqual(['typed-echo', '1.0.0', { n: 3, tenant: null }]);
    }
  });

  it('refuses a flow given twice, or not as a flow, and writes nothing', async () => {
    const engine = await engineWith(echo);
    const bad = [
      { flow: echo, flowId: 'typed-echo', version: '1.0.0', input: { n: 1 } },
      { flow: null, input: { n: 1 } },
      { flow: 'typed-echo@1.0.0', input: { n: 1 } },
      { flow: { flowId: 'typed-echo' }, input: { n: 1 } },
    ];
    for (const args of bad) await expect(engine.startRun(args as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect((await engine.listRuns()).runs).toHaveLength(0);
  });

  it("takes a run record's tenantId and idempotencyKey back (null = none)", async () => {
    const engine = await engineWith(echo);
    const first = await engine.getRun((await engine.startRun({ flow: echo, input: { n: 1 }, tenantId: 't-1', idempotencyKey: 'k-1' })).runId);
    const again = await engine.startRun({
      flowId: first!.flowId,
      version: first!.flowVersion,
      input: { n: 1 },
      tenantId: first!.tenantId,
      idempotencyKey: first!.idempotencyKey,
    });
    expect(again).toMatchObject({ runId: first!.runId, created: false });
    const none = await engine.startRun({ flow: echo, input: { n: 2 }, tenantId: null, idempotencyKey: null });
    const run = await engine.runToCompletion(none.runId);
    expect([run.tenantId, run.idempotencyKey, run.outputsJson.a]).toEqual([null, null, { n: 2, tenant: null }]);
    await expect(engine.startRun({ flow: echo, input: { n: 1 }, tenantId: '' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('sendEvent({ event }) delivers to the wait a declaration made, and payloadOf reads the payload', async () => {
    const paid = defineEvent<{ amount: number }>('typed.paid');
    const pay = flow<{ orderId: string }>('typed-pay', '1.0.0')
      .entry('await')
      .node('await', (ctx) => {
        const payment = paid.payloadOf(ctx);
        return payment ? { status: 'ok', output: payment.amount } : { status: 'wait', event: paid.wait({ key: ctx.input.orderId }) };
      })
      .build();
    const engine = await engineWith(pay);
    const { runId } = await engine.startRun({ flow: pay, input: { orderId: 'o-1' } });
    expect((await engine.runToCompletion(runId)).branches[0]).toMatchObject({ event: { name: 'typed.paid', key: 'o-1' } });
    expect(await engine.sendEvent({ event: paid, key: 'o-1', payload: { amount: 7 } })).toMatchObject({ delivered: 1 });
    expect((await engine.runToCompletion(runId)).outputsJson.await).toBe(7);
    await expect(engine.sendEvent({ event: paid, name: 'typed.paid', payload: { amount: 1 } } as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(engine.sendEvent({ event: null, payload: 1 } as never)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('childRun starts the child flow with the input given', async () => {
    const parent = flow('typed-parent', '1.0.0')
      .entry('call')
      .node('call', () => childRun(echo, { n: 5 }, { tenantId: 't-9' }))
      .build();
    const engine = await engineWith(echo, parent);
    const run = await engine.runToCompletion((await engine.startRun({ flow: parent, input: null })).runId);
    expect(run.outputsJson.call).toEqual({ a: { n: 5, tenant: 't-9' } });
  });
});
