/**
 * Type tests of typed flows (docs/typed-flows.md): checked by `npm test` (vitest's typecheck mode
 * runs tsc on every *.test-d.ts) and by `npm run typecheck`. Each `@ts-expect-error` is an error
 * the types must report: if one stops being reported, tsc fails on the unused directive.
 */
import { describe, expectTypeOf, it } from 'vitest';
import {
  Edge,
  Entry,
  Flow,
  type FlowEngine,
  Node,
  buildFlowDefinition,
  childRun,
  defineEvent,
  flow,
  flowRef,
  type CaughtError,
  type FlowContext,
  type FlowDefinition,
  type FlowRunRecord,
  type InputOf,
  type NodeResult,
} from '@hazeljs/flow';

interface Order {
  orderId: string;
  amount: number;
}
interface OrderState {
  charged?: boolean;
  address?: { city: string; zip: string };
  _resumePayload?: { approved: boolean };
}
interface Services {
  payments: { charge(amount: number): Promise<string> };
}

declare const engine: FlowEngine;

const orderFlow = flow<Order, OrderState, Services>('typed-order', '1.0.0')
  .entry('price')
  .node('price', async (ctx) => {
    expectTypeOf(ctx.input).toEqualTypeOf<Order>();
    expectTypeOf(ctx.services).toEqualTypeOf<Services>();
    expectTypeOf(ctx.state.charged).toEqualTypeOf<boolean | undefined>();
    expectTypeOf(ctx.error).toEqualTypeOf<CaughtError | undefined>();
    // @ts-expect-error no node was added before this one: no output to read
    void ctx.outputs.price;
    return { status: 'ok', output: ctx.input.amount * 2 };
  })
  .node(
    'charge',
    async (ctx) => {
      expectTypeOf(ctx.outputs.price).toEqualTypeOf<number | undefined>();
      // @ts-expect-error an unknown output key
      void ctx.outputs.prise;
      if (ctx.input.amount > 1000) return { status: 'error', error: { code: 'TOO_LARGE', message: 'over the limit' } };
      const chargeId = await ctx.services.payments.charge(ctx.outputs.price ?? 0);
      return { status: 'ok', output: { chargeId }, patch: { charged: true, address: { city: 'Berlin' } }, outcome: 'charged' };
    },
    {
      catch: 'refund',
      idempotencyKey: (ctx) => `charge:${ctx.input.orderId}`,
      compensate: async (ctx) => {
        // The undo of a node that finished: its own output is there.
        expectTypeOf(ctx.outputs.charge).toEqualTypeOf<{ chargeId: string }>();
        return { status: 'ok' };
      },
    },
  )
  .node('refund', (ctx) => {
    expectTypeOf(ctx.error).toEqualTypeOf<CaughtError | undefined>();
    return { status: 'ok', outcome: 'refunded' };
  })
  .node('approve', (ctx) => {
    // The resume payload has the type the state declares at `_resumePayload`.
    expectTypeOf(ctx.state._resumePayload).toEqualTypeOf<{ approved: boolean } | undefined>();
    return ctx.state._resumePayload ? { status: 'ok', output: ctx.state._resumePayload.approved } : { status: 'wait', reason: 'approval' };
  })
  .node('lines', async (ctx) => ({ status: 'ok', output: { line: ctx.itemIndex ?? 0 } }), { forEach: (ctx) => [ctx.input.orderId] })
  .node('ship', () => childRun(shippingRef, { orderId: 'o-1' }))
  .node('untypedResult', async (): Promise<NodeResult> => ({ status: 'ok', output: 1 }))
  .node('noOutput', () => ({ status: 'ok' }))
  .node('summary', (ctx) => {
    expectTypeOf(ctx.outputs.charge).toEqualTypeOf<{ chargeId: string } | undefined>();
    expectTypeOf(ctx.outputs.refund).toEqualTypeOf<undefined>();
    expectTypeOf(ctx.outputs.approve).toEqualTypeOf<boolean | undefined>();
    expectTypeOf(ctx.outputs.lines).toEqualTypeOf<{ line: number }[] | undefined>();
    expectTypeOf(ctx.outputs.ship).toEqualTypeOf<Record<string, unknown> | undefined>();
    expectTypeOf(ctx.outputs.untypedResult).toEqualTypeOf<unknown>();
    expectTypeOf(ctx.outputs.noOutput).toEqualTypeOf<undefined>();
    return { status: 'ok' };
  })
  // @ts-expect-error a patch that does not fit the state
  .node('badPatch', () => ({ status: 'ok', patch: { charged: 'yes' } }))
  .edge('price', 'charge', (ctx) => (ctx.outputs.price ?? 0) > 0)
  // @ts-expect-error an edge condition reading an unknown output
  .edge('charge', 'approve', (ctx) => ctx.outputs.chrage !== undefined)
  .build();

const shippingRef = flowRef<{ orderId: string }>('typed-shipping', '1.0.0');

describe('typed builder', () => {
  it('carries the input type to the definition', () => {
    expectTypeOf(orderFlow).toExtend<FlowDefinition>();
    expectTypeOf<InputOf<typeof orderFlow>>().toEqualTypeOf<Order>();
  });

  it('declares outputs read before their node is added (a loop back)', () => {
    flow<Order, OrderState, Services, { review: { ok: boolean } }>('loop', '1')
      .entry('draft')
      .node('draft', (ctx) => {
        expectTypeOf(ctx.outputs.review).toEqualTypeOf<{ ok: boolean } | undefined>();
        return { status: 'ok', output: 'text' };
      })
      .node('review', () => ({ status: 'ok', output: { ok: true } }));
  });

  it('checks a child run input against the child flow', () => {
    childRun(shippingRef, { orderId: 'o-1' });
    // @ts-expect-error the shipping flow takes { orderId: string }
    childRun(shippingRef, { order: 'o-1' });
  });
});

describe('untyped builder (as before)', () => {
  it('keeps unknown input and any output key, and still records outputs', () => {
    flow('untyped', '1.0.0')
      .entry('a')
      .node('a', async () => ({ status: 'ok', output: 1 }))
      .node('b', async (ctx) => {
        expectTypeOf(ctx.input).toEqualTypeOf<unknown>();
        expectTypeOf(ctx.state).toExtend<Record<string, unknown>>();
        expectTypeOf(ctx.services).toEqualTypeOf<Record<string, unknown> | undefined>();
        expectTypeOf(ctx.outputs.a).toEqualTypeOf<number | undefined>();
        expectTypeOf(ctx.outputs.declaredLater).toEqualTypeOf<unknown>();
        return { status: 'ok', output: ctx.outputs.declaredLater, patch: { anything: 1 } };
      })
      .build();
  });

  it('FlowContext without type arguments has the untyped shapes', () => {
    expectTypeOf<FlowContext['input']>().toEqualTypeOf<unknown>();
    expectTypeOf<FlowContext['outputs']>().toEqualTypeOf<Record<string, unknown>>();
    expectTypeOf<FlowContext['services']>().toEqualTypeOf<Record<string, unknown> | undefined>();
    expectTypeOf<FlowContext['state']['anyKey']>().toEqualTypeOf<unknown>();
  });
});

describe('startRun', () => {
  it('checks the input against the flow it names', async () => {
    await engine.startRun({ flow: orderFlow, input: { orderId: 'o-1', amount: 12 } });
    // @ts-expect-error amount must be a number
    await engine.startRun({ flow: orderFlow, input: { orderId: 'o-1', amount: '12' } });
    // @ts-expect-error the input is missing a field
    await engine.startRun({ flow: orderFlow, input: { orderId: 'o-1' } });
    await engine.startRun({ flow: shippingRef, input: { orderId: 'o-1' } });
    // @ts-expect-error a typed handle checks the same
    await engine.startRun({ flow: shippingRef, input: { orderId: 1 } });
    // @ts-expect-error naming the definition's type checks too
    await engine.startRun<typeof orderFlow>({ flowId: 'typed-order', version: '1.0.0', input: { orderId: 'o-1' } });
    // @ts-expect-error initialState is checked against the state
    await engine.startRun({ flow: orderFlow, input: { orderId: 'o-1', amount: 1 }, initialState: { charged: 'no' } });
  });

  it('keeps the untyped call', async () => {
    await engine.startRun({ flowId: 'any', version: '1', input: { whatever: true }, initialState: { x: 1 } });
    // @ts-expect-error either flow or flowId and version
    await engine.startRun({ flow: orderFlow, flowId: 'typed-order', version: '1.0.0', input: { orderId: 'o-1', amount: 1 } });
  });

  it('takes back what a run record holds (tenantId, idempotencyKey: string | null)', async () => {
    const run = null as unknown as FlowRunRecord;
    await engine.startRun({ flowId: run.flowId, version: run.flowVersion, input: run.inputJson, tenantId: run.tenantId, idempotencyKey: run.idempotencyKey });
  });
});

describe('events', () => {
  const paymentReceived = defineEvent<{ amount: number }>('payment.received');

  it('types the payload at both ends', async () => {
    flow<Order>('pay', '1')
      .entry('await')
      .node('await', (ctx) => {
        const payment = paymentReceived.payloadOf(ctx);
        expectTypeOf(payment).toEqualTypeOf<{ amount: number } | undefined>();
        return payment
          ? { status: 'ok', output: payment.amount }
          : { status: 'wait', event: paymentReceived.wait({ key: ctx.input.orderId, timeoutMs: 60_000 }) };
      });
    await engine.sendEvent({ event: paymentReceived, key: 'o-1', payload: { amount: 10 } });
    // @ts-expect-error the payload of payment.received is { amount: number }
    await engine.sendEvent({ event: paymentReceived, key: 'o-1', payload: { amount: '10' } });
    // @ts-expect-error a declared payload is required
    await engine.sendEvent({ event: paymentReceived, key: 'o-1' });
    await engine.sendEvent({ name: 'payment.received', key: 'o-1', payload: 'anything, untyped' });
  });
});

type Ctx = FlowContext<Order, OrderState, Services, { price?: number }>;

@Flow<Order, OrderState, Services>('typed-class', '1.0.0')
class OrderClass {
  @Entry()
  @Node('price', { idempotencyKey: (ctx: Ctx) => ctx.input.orderId, compensate: async (_ctx: Ctx) => ({ status: 'ok' }) })
  @Edge('confirm', (ctx: Ctx) => (ctx.outputs.price ?? 0) > 0)
  async price(ctx: Ctx): Promise<NodeResult<number, OrderState>> {
    return { status: 'ok', output: ctx.input.amount };
  }

  @Node('confirm')
  async confirm(ctx: Ctx): Promise<NodeResult> {
    // @ts-expect-error an output the context does not declare
    void ctx.outputs.prise;
    return { status: 'ok', output: { total: ctx.outputs.price, by: await ctx.services.payments.charge(1) } };
  }

  /** Not a handler: a method taking something other than a context is not checked. */
  format(amount: number): string {
    return amount.toFixed(2);
  }
}

// @ts-expect-error a method takes a context of another input type than @Flow declares
@Flow<Order, OrderState, Services>('typed-class-wrong', '1.0.0')
class WrongInput {
  @Entry()
  @Node('a')
  async a(ctx: FlowContext<{ other: string }, OrderState, Services>): Promise<NodeResult> {
    return { status: 'ok', output: ctx.input.other };
  }
}

@Flow('untyped-class', '1.0.0')
class UntypedClass {
  @Entry()
  @Node('a', { idempotencyKey: (ctx) => ctx.runId })
  @Edge('b', (ctx) => ctx.state.x === 1)
  async a(ctx: FlowContext): Promise<NodeResult> {
    return { status: 'ok', output: ctx.input };
  }

  @Node('b')
  async b(): Promise<NodeResult> {
    return { status: 'ok' };
  }
}

describe('typed decorators', () => {
  it('type the definition by the contexts the methods take', async () => {
    void WrongInput;
    const def = buildFlowDefinition(OrderClass);
    expectTypeOf<InputOf<typeof def>>().toEqualTypeOf<Order>();
    await engine.startRun({ flow: def, input: { orderId: 'o-1', amount: 1 } });
    // @ts-expect-error the class's input is an Order
    await engine.startRun({ flow: def, input: { id: 'o-1' } });
    const untyped = buildFlowDefinition(UntypedClass);
    expectTypeOf<InputOf<typeof untyped>>().toEqualTypeOf<unknown>();
    await engine.startRun({ flow: untyped, input: 'anything' });
  });
});
