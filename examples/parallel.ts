/**
 * Parallel branches: an order fans out to three checks that run at the same time (`split: 'all'`),
 * and `decide` runs once, after every check has arrived (`join: 'all'`), with all their outputs.
 * Run: npx tsx --conditions=hazel-source examples/parallel.ts
 */
import { FlowEngine, Flow, Entry, Node, Edge, buildFlowDefinition } from '@hazeljs/flow';
import type { FlowContext, NodeResult } from '@hazeljs/flow';

interface Order {
  orderId: string;
  amount: number;
  country: string;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

@Flow('order-checks', '1.0.0')
export class OrderChecks {
  @Entry()
  @Node('receive', { split: 'all' })
  @Edge('fraud')
  @Edge('stock')
  @Edge('shipping', (ctx) => (ctx.input as Order).country !== 'XX')
  async receive(ctx: FlowContext): Promise<NodeResult> {
    return { status: 'ok', output: { received: (ctx.input as Order).orderId } };
  }

  @Node('fraud')
  @Edge('decide')
  async fraud(ctx: FlowContext): Promise<NodeResult> {
    await pause(30); // each check stands for a call to another service
    const risky = (ctx.input as Order).amount > 10_000;
    return { status: 'ok', output: { risky }, patch: { checks: { fraud: 'done' } } };
  }

  @Node('stock')
  @Edge('decide')
  async stock(): Promise<NodeResult> {
    await pause(30);
    return { status: 'ok', output: { inStock: true }, patch: { checks: { stock: 'done' } } };
  }

  @Node('shipping')
  @Edge('decide')
  async shipping(ctx: FlowContext): Promise<NodeResult> {
    await pause(30);
    return { status: 'ok', output: { days: (ctx.input as Order).country === 'DE' ? 1 : 4 }, patch: { checks: { shipping: 'done' } } };
  }

  @Node('decide', { join: 'all' })
  async decide(ctx: FlowContext): Promise<NodeResult> {
    const fraud = ctx.outputs.fraud as { risky: boolean };
    const stock = ctx.outputs.stock as { inStock: boolean };
    return { status: 'ok', output: { accepted: !fraud.risky && stock.inStock, checks: ctx.state.checks } };
  }
}

export const parallelFlow = buildFlowDefinition(OrderChecks);

export async function runParallelExample(engine: FlowEngine, order: Order) {
  await engine.registerDefinition(parallelFlow);
  const { runId } = await engine.startRun({ flowId: 'order-checks', version: '1.0.0', input: order });
  return engine.runToCompletion(runId);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const engine = new FlowEngine();
  const run = await runParallelExample(engine, { orderId: 'o-7', amount: 120, country: 'DE' });
  console.log(run.status, run.outputsJson.decide);
  const timeline = await engine.getTimeline(run.runId);
  for (const e of timeline) console.log(String(e.seq).padStart(2), e.type.padEnd(16), (e.branchId ?? '').padEnd(4), e.nodeId ?? '');
  await engine.close();
}
