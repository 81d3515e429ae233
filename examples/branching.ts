/**
 * Branching with the builder: conditional edges with priorities route a payment by amount.
 * Run: npx tsx --conditions=hazel-source examples/branching.ts
 */
import { FlowEngine, flow } from '@hazeljs/flow';

export const branchingFlow = flow('payment-routing', '1.0.0')
  .entry('assess')
  .node('assess', async (ctx) => {
    const { amount } = ctx.input as { amount: number };
    return { status: 'ok', patch: { amount, risk: amount > 10_000 ? 'high' : 'low' } };
  })
  .node('manualReview', async (ctx) => ({ status: 'ok', output: { route: 'manual', amount: ctx.state.amount } }))
  .node('autoApprove', async (ctx) => ({ status: 'ok', output: { route: 'auto', amount: ctx.state.amount } }))
  .node('notify', async (ctx) => ({ status: 'ok', output: { notified: Object.keys(ctx.outputs) } }))
  // Highest priority among matching edges wins.
  .edge('assess', 'manualReview', (ctx) => ctx.state.risk === 'high', 10)
  .edge('assess', 'autoApprove', () => true, 0)
  .edge('manualReview', 'notify')
  .edge('autoApprove', 'notify')
  .build();

export async function runBranchingExample(engine: FlowEngine, amount: number) {
  await engine.registerDefinition(branchingFlow);
  const { runId } = await engine.startRun({ flowId: 'payment-routing', version: '1.0.0', input: { amount } });
  return engine.runToCompletion(runId);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const engine = new FlowEngine();
  for (const amount of [250, 50_000]) {
    const run = await runBranchingExample(engine, amount);
    console.log(amount, run.status, run.outputsJson);
  }
  await engine.close();
}
