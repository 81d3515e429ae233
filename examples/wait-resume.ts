/**
 * Human in the loop: the flow parks in WAITING until someone calls resumeRun with a decision.
 * Run: npx tsx --conditions=hazel-source examples/wait-resume.ts
 */
import { FlowEngine, Flow, Entry, Node, Edge, buildFlowDefinition } from '@hazeljs/flow';
import type { FlowContext, NodeResult } from '@hazeljs/flow';

@Flow('expense-approval', '1.0.0')
export class ExpenseApproval {
  @Entry()
  @Node('request')
  @Edge('approved', (ctx) => ctx.state.approved === true)
  @Edge('rejected', (ctx) => ctx.state.approved === false)
  async request(ctx: FlowContext): Promise<NodeResult> {
    const decision = ctx.state._resumePayload as { approved: boolean; by: string } | undefined;
    if (!decision) return { status: 'wait', reason: 'awaiting_manager_approval', until: 'manual' };
    return { status: 'ok', output: decision, patch: { approved: decision.approved } };
  }

  @Node('approved')
  async approved(ctx: FlowContext): Promise<NodeResult> {
    return { status: 'ok', output: { paid: (ctx.input as { amount: number }).amount } };
  }

  @Node('rejected')
  async rejected(): Promise<NodeResult> {
    return { status: 'ok', output: { paid: 0 } };
  }
}

export const waitResumeFlow = buildFlowDefinition(ExpenseApproval);

export async function runWaitResumeExample(engine: FlowEngine, decision: { approved: boolean; by: string }) {
  await engine.registerDefinition(waitResumeFlow);
  const { runId } = await engine.startRun({ flowId: 'expense-approval', version: '1.0.0', input: { amount: 120 } });
  const parked = await engine.runToCompletion(runId); // stops at WAITING
  await engine.resumeRun(runId, decision);
  const done = await engine.runToCompletion(runId);
  return { parked, done };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const engine = new FlowEngine();
  const { parked, done } = await runWaitResumeExample(engine, { approved: true, by: 'manager@example.com' });
  console.log(parked.status, parked.waitReason, '→', done.status, done.outputsJson);
  await engine.close();
}
