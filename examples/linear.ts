/**
 * Linear flow with decorators: validate an order, price it, confirm it.
 * Run: npx tsx --conditions=hazel-source examples/linear.ts
 */
import { FlowEngine, Flow, Entry, Node, Edge, buildFlowDefinition } from '@hazeljs/flow';
import type { FlowContext, NodeResult } from '@hazeljs/flow';

interface Order {
  orderId: string;
  items: Array<{ sku: string; qty: number; unitPrice: number }>;
}

@Flow('order-linear', '1.0.0')
export class OrderFlow {
  @Entry()
  @Node('validate')
  @Edge('price')
  async validate(ctx: FlowContext): Promise<NodeResult> {
    const order = ctx.input as Order;
    if (!order.items?.length) {
      return { status: 'error', error: { code: 'EMPTY_ORDER', message: 'An order needs at least one item', retryable: false } };
    }
    return { status: 'ok', patch: { orderId: order.orderId } };
  }

  @Node('price')
  @Edge('confirm')
  async price(ctx: FlowContext): Promise<NodeResult> {
    const order = ctx.input as Order;
    const total = order.items.reduce((sum, i) => sum + i.qty * i.unitPrice, 0);
    return { status: 'ok', output: { total }, patch: { total } };
  }

  @Node('confirm')
  async confirm(ctx: FlowContext): Promise<NodeResult> {
    return { status: 'ok', output: { confirmed: true, orderId: ctx.state.orderId, total: ctx.state.total } };
  }
}

export const linearFlow = buildFlowDefinition(OrderFlow);

export async function runLinearExample(engine: FlowEngine) {
  await engine.registerDefinition(linearFlow);
  const { runId } = await engine.startRun({
    flowId: 'order-linear',
    version: '1.0.0',
    input: {
      orderId: 'o-1',
      items: [
        { sku: 'book', qty: 2, unitPrice: 12.5 },
        { sku: 'pen', qty: 1, unitPrice: 3 },
      ],
    },
  });
  // The seed's loop: one node per tick until the run leaves RUNNING.
  let run = await engine.getRun(runId);
  while (run?.status === 'RUNNING') run = await engine.tick(runId);
  return run!;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const engine = new FlowEngine();
  const run = await runLinearExample(engine);
  console.log(run.status, run.outputsJson);
  await engine.close();
}
