/**
 * Failure paths: an order that charges the card, reserves stock and ships in a child run. A
 * declined card is a planned path (`catch` on CARD_DECLINED → `declined`, a business outcome: the
 * run COMPLETES with outcome 'declined'). A shipment that fails for good fails the order, and the
 * run undoes what it did — the stock is released, the charge refunded — newest first, before it
 * ends FAILED with `compensated: true`.
 * Run: npx tsx --conditions=hazel-source examples/order-saga.ts
 */
import { FlowEngine, flow } from '@hazeljs/flow';
import type { FlowContext, NodeResult } from '@hazeljs/flow';

interface Order {
  orderId: string;
  card: string;
  address: string;
}

/** What the outside world saw: charges, refunds, reservations (a payment provider, a warehouse). */
export const ledger: string[] = [];
const order = (ctx: FlowContext) => ctx.input as Order;

export const shipParcel = flow('ship-parcel', '1.0.0')
  .entry('book-courier')
  .node('book-courier', (ctx): NodeResult => {
    const { address } = ctx.input as { address: string };
    if (address === 'nowhere') return { status: 'error', error: { code: 'NO_COURIER', message: `No courier serves ${address}`, retryable: false } };
    return { status: 'ok', output: { tracking: `TRK-${address.length}` } };
  })
  .build();

// ---- README: Catch and compensation ----
export const orderSaga = flow('order-saga', '1.0.0')
  .entry('charge')
  .node(
    'charge',
    (ctx): NodeResult => {
      const { orderId, card } = order(ctx);
      if (card === 'declined') return { status: 'error', error: { code: 'CARD_DECLINED', message: 'The bank declined the card', retryable: false } };
      ledger.push(`charge ${orderId}`);
      return { status: 'ok', output: { chargeId: `ch-${orderId}` } };
    },
    {
      catch: { to: 'declined', codes: ['CARD_DECLINED'] },
      compensate: (ctx) => {
        ledger.push(`refund ${order(ctx).orderId} (${ctx.error?.code})`);
        return { status: 'ok' };
      },
    },
  )
  .node(
    'reserve',
    (ctx) => {
      ledger.push(`reserve ${order(ctx).orderId}`);
      return { status: 'ok' };
    },
    {
      compensate: (ctx) => {
        ledger.push(`release ${order(ctx).orderId}`);
        return { status: 'ok' };
      },
    },
  )
  .node('ship', (ctx): NodeResult => ({ status: 'child', flowId: 'ship-parcel', version: '1.0.0', input: { address: order(ctx).address } }))
  .node('confirm', () => ({ status: 'ok', outcome: 'shipped' }))
  .node('declined', (ctx) => ({ status: 'ok', outcome: 'declined', output: { told: `card declined: ${ctx.error?.message}` } }))
  .edge('charge', 'reserve')
  .edge('reserve', 'ship')
  .edge('ship', 'confirm')
  .build();
// ---- end ----

export async function runOrderSagaExample(engine: FlowEngine, input: Order) {
  for (const def of [shipParcel, orderSaga]) await engine.registerDefinition(def);
  const { runId } = await engine.startRun({ flowId: 'order-saga', version: '1.0.0', input });
  return engine.runToCompletion(runId);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const engine = new FlowEngine();
  for (const [orderId, card, address] of [
    ['o-1', 'visa', 'Main St 1'],
    ['o-2', 'declined', 'Main St 2'],
    ['o-3', 'visa', 'nowhere'],
  ] as const) {
    const run = await runOrderSagaExample(engine, { orderId, card, address });
    console.log(orderId, run.status, `compensated=${run.compensated}`, run.error?.code ?? '');
  }
  console.log(ledger.join('\n'));
  await engine.close();
}
