/**
 * Business outcomes: a refund request that is refunded or declined. Both are planned ends, so
 * both runs are COMPLETED; the run's `outcome` says which, and `listRuns({ outcome })` finds them.
 * The flow and the calls below are the README's "Outcomes" example.
 * Run: npx tsx --conditions=hazel-source examples/outcomes.ts
 */
import { FlowEngine, flow } from '@hazeljs/flow';

// ---- README: Outcomes ----
export const refundFlow = flow('refund-request', '1.0.0')
  .entry('review')
  .node('review', (ctx) => ({ status: 'ok', patch: { amount: (ctx.input as { amount: number }).amount } }))
  .node('refund', (ctx) => ({ status: 'ok', output: { refunded: ctx.state.amount }, outcome: 'refunded' }))
  .node('decline', () => ({ status: 'ok', outcome: 'declined' }))
  .edge('review', 'decline', (ctx) => (ctx.state.amount as number) > 500, 10)
  .edge('review', 'refund')
  .build();

export async function runOutcomesExample(engine: FlowEngine) {
  await engine.registerDefinition(refundFlow);
  const small = await engine.startRun({ flowId: 'refund-request', version: '1.0.0', input: { amount: 40 } });
  const large = await engine.startRun({ flowId: 'refund-request', version: '1.0.0', input: { amount: 900 } });
  const refunded = await engine.runToCompletion(small.runId); // COMPLETED, outcome 'refunded'
  const declined = await engine.runToCompletion(large.runId); // COMPLETED, outcome 'declined'
  const page = await engine.listRuns({ flowId: 'refund-request', outcome: 'declined', status: 'COMPLETED' });
  return { refunded, declined, declinedRuns: page.runs };
}
// ---- end ----

if (import.meta.url === `file://${process.argv[1]}`) {
  const engine = new FlowEngine();
  const { refunded, declined, declinedRuns } = await runOutcomesExample(engine);
  console.log(refunded.status, refunded.outcome, '|', declined.status, declined.outcome, '| declined:', declinedRuns.length);
  await engine.close();
}
