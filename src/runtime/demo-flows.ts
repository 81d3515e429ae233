/**
 * Small flows that show what the dashboard draws: a straight line, a branch, a human approval
 * (WAIT + resume) and a retry. `npm start` uses the repository's examples/ when they are present
 * (see example-flows.ts) and these otherwise; the runtime tests use these directly.
 */
import { flow } from '../definitions/builder.js';
import type { FlowDefinition } from '../definitions/types.js';

/** Three steps in a row. */
export const greetingFlow: FlowDefinition = flow('demo-greeting', '1.0.0')
  .entry('compose')
  .node('compose', (ctx) => {
    const name = (ctx.input as { name?: unknown } | null)?.name;
    return { status: 'ok', output: `Hello, ${typeof name === 'string' ? name : 'world'}!` };
  })
  .node('shout', (ctx) => ({ status: 'ok', output: String(ctx.outputs.compose).toUpperCase() }))
  .node('deliver', (ctx) => ({ status: 'ok', patch: { delivered: ctx.outputs.shout } }))
  .edge('compose', 'shout')
  .edge('shout', 'deliver')
  .build();

/**
 * Human in the loop: the run parks at `approval` until someone resumes it with
 * `{ "approved": true | false }`, then takes one of two branches.
 */
export const approvalFlow: FlowDefinition = flow('demo-approval', '1.0.0')
  .entry('request')
  .node('request', (ctx) => {
    const amount = Number((ctx.input as { amount?: unknown } | null)?.amount ?? 0);
    return { status: 'ok', patch: { amount } };
  })
  .node('approval', (ctx) => {
    const payload = ctx.state._resumePayload as { approved?: unknown } | undefined;
    if (payload === undefined || payload === null) return { status: 'wait', reason: 'Waiting for a manager: resume with {"approved": true} or {"approved": false}' };
    return { status: 'ok', patch: { approved: payload.approved === true }, output: { decidedAt: new Date().toISOString() } };
  })
  .node('fulfil', (ctx) => ({ status: 'ok', output: `Paid ${ctx.state.amount}` }))
  .node('reject', () => ({ status: 'ok', output: 'Rejected' }))
  .edge('request', 'approval')
  .edge('approval', 'fulfil', (ctx) => ctx.state.approved === true)
  .edge('approval', 'reject', (ctx) => ctx.state.approved !== true)
  .build();

/**
 * A flaky call that succeeds on its second attempt (durable retry with backoff), and a node that
 * fails for good when the input asks for it, so a failed node can be seen on the graph.
 */
export const retryFlow: FlowDefinition = flow('demo-retry', '1.0.0')
  .entry('fetch')
  .node(
    'fetch',
    (ctx) => {
      if (ctx.meta.attempt < 2) return { status: 'error', error: { code: 'UPSTREAM_UNAVAILABLE', message: 'Upstream returned 503', retryable: true } };
      return { status: 'ok', output: { items: 3 } };
    },
    { retry: { maxAttempts: 3, backoff: 'exponential', baseDelayMs: 200 } },
  )
  .node('validate', (ctx) => {
    if ((ctx.input as { fail?: unknown } | null)?.fail === true) {
      return { status: 'error', error: { code: 'INVALID_ORDER', message: 'The order failed validation (input.fail was true)', retryable: false } };
    }
    return { status: 'ok', output: 'valid' };
  })
  .node('store', () => ({ status: 'ok', patch: { stored: true } }))
  .edge('fetch', 'validate')
  .edge('validate', 'store')
  .build();

export const demoFlows: FlowDefinition[] = [greetingFlow, approvalFlow, retryFlow];
