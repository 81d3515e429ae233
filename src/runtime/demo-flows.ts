/**
 * Small flows that show what the dashboard draws: a straight line, a branch, a human approval
 * (WAIT + resume), a retry, two parallel approvals (split/join, each branch resumed on its own),
 * a map over items (forEach with bounded concurrency and a flaky item), a parent that starts a
 * child run per item (child flows), and an order that waits for a payment event (events). `npm start` uses the repository's examples/ when they are present
 * (see `loadExampleFlows` in flow-modules.ts) and these otherwise; the runtime tests use these directly.
 */
import { flow } from '../definitions/builder.js';
import type { FlowContext, FlowDefinition, NodeResult } from '../definitions/types.js';

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
    if (payload === undefined || payload === null)
      return { status: 'wait', reason: 'Waiting for a manager: resume with {"approved": true} or {"approved": false}' };
    return { status: 'ok', patch: { approved: payload.approved === true }, output: { decidedAt: new Date().toISOString() } };
  })
  // Both paths are planned ends: the run is COMPLETED either way, its outcome says which.
  .node('fulfil', (ctx) => ({ status: 'ok', output: `Paid ${ctx.state.amount}`, outcome: 'paid' }))
  .node('reject', () => ({ status: 'ok', output: 'Rejected', outcome: 'rejected' }))
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

/** A branch that parks until it is resumed (with `?nodeId=` naming it) with `{ "approved": true | false }`. */
const signOff =
  (who: string) =>
  (ctx: FlowContext): NodeResult => {
    const payload = ctx.state._resumePayload as { approved?: unknown; by?: unknown } | undefined | null;
    if (payload === undefined || payload === null)
      return { status: 'wait', reason: `Waiting for ${who}: resume this branch with {"approved": true} or {"approved": false}` };
    return { status: 'ok', patch: { [who]: payload.approved === true }, output: { approved: payload.approved === true, by: payload.by ?? null } };
  };

/**
 * Two approvals in parallel: `prepare` splits into `legal` and `finance`, each of which waits for
 * its own sign-off (resume with `?nodeId=legal` or `?nodeId=finance`); `decide` joins both.
 */
export const parallelApprovalFlow: FlowDefinition = flow('demo-parallel', '1.0.0')
  .entry('prepare')
  .node('prepare', (ctx) => ({ status: 'ok', patch: { contract: (ctx.input as { contract?: unknown } | null)?.contract ?? 'untitled' } }), { split: 'all' })
  .node('legal', signOff('legal'))
  .node('finance', signOff('finance'))
  .node('decide', (ctx) => ({ status: 'ok', output: ctx.state.legal === true && ctx.state.finance === true ? 'signed' : 'declined' }), { join: 'all' })
  .edge('prepare', 'legal')
  .edge('prepare', 'finance')
  .edge('legal', 'decide')
  .edge('finance', 'decide')
  .build();

/**
 * A map over items: `resize` runs once per item, at most 3 at once, each taking `input.delayMs`
 * (default 300 ms) so its progress can be watched; item 3 fails its first attempt and is retried;
 * the items listed in `input.fail` fail for good (and fail the run).
 */
export const mapFlow: FlowDefinition = flow('demo-map', '1.0.0')
  .entry('list')
  .node('list', (ctx) => {
    const count = Number((ctx.input as { count?: unknown } | null)?.count ?? 8);
    return { status: 'ok', output: Array.from({ length: Math.max(0, Math.min(count, 1000)) }, (_, i) => `photo-${i + 1}.jpg`) };
  })
  .node(
    'resize',
    async (ctx) => {
      const input = (ctx.input ?? {}) as { delayMs?: unknown; fail?: unknown };
      await new Promise((resolve) => setTimeout(resolve, typeof input.delayMs === 'number' ? input.delayMs : 300));
      if (Array.isArray(input.fail) && input.fail.includes(ctx.itemIndex)) {
        return { status: 'error', error: { code: 'CORRUPT_IMAGE', message: `${String(ctx.item)} cannot be decoded`, retryable: false } };
      }
      if (ctx.itemIndex === 3 && ctx.meta.attempt === 1)
        return { status: 'error', error: { code: 'STORAGE_TIMEOUT', message: 'The image store timed out', retryable: true } };
      return { status: 'ok', output: `thumb/${String(ctx.item)}` };
    },
    { forEach: (ctx) => ctx.outputs.list as unknown[], concurrency: 3, retry: { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 500 } },
  )
  .node('publish', (ctx) => ({ status: 'ok', patch: { published: (ctx.outputs.resize as unknown[]).length } }))
  .edge('list', 'resize')
  .edge('resize', 'publish')
  .build();

/**
 * The child of `demo-parent`: packs one parcel. `input.delayMs` (default 300 ms) makes it last
 * long enough to be watched; `input.fail: true` fails it (and so its parent's node, CHILD_FAILED).
 */
export const childFlow: FlowDefinition = flow('demo-child', '1.0.0')
  .entry('pack')
  .node('pack', async (ctx) => {
    const input = (ctx.input ?? {}) as { parcel?: unknown; delayMs?: unknown; fail?: unknown };
    await new Promise((resolve) => setTimeout(resolve, typeof input.delayMs === 'number' ? Math.min(Math.max(input.delayMs, 0), 60_000) : 300));
    if (input.fail === true)
      return { status: 'error', error: { code: 'PACKING_FAILED', message: `Parcel ${String(input.parcel)} could not be packed`, retryable: false } };
    return { status: 'ok', output: { parcel: input.parcel ?? null, packed: true } };
  })
  .node('label', (ctx) => ({ status: 'ok', output: `label for ${String((ctx.outputs.pack as { parcel?: unknown }).parcel)}` }))
  .edge('pack', 'label')
  .build();

/**
 * Child flows: `ship` starts one `demo-child` run per parcel (a forEach of child runs, 2 at once)
 * and finishes with their outputs; `notify` then runs once. Input `{ parcels?: string[], delayMs?, fail? }`
 * (default two parcels); `fail: true` makes every child fail.
 */
export const parentFlow: FlowDefinition = flow('demo-parent', '1.0.0')
  .entry('plan')
  .node('plan', (ctx) => {
    const parcels = (ctx.input as { parcels?: unknown } | null)?.parcels;
    return { status: 'ok', output: Array.isArray(parcels) ? parcels.slice(0, 100) : ['parcel-A', 'parcel-B'] };
  })
  .node(
    'ship',
    (ctx): NodeResult => {
      const input = (ctx.input ?? {}) as { delayMs?: unknown; fail?: unknown };
      return { status: 'child', flowId: 'demo-child', version: '1.0.0', input: { parcel: ctx.item, delayMs: input.delayMs, fail: input.fail === true } };
    },
    { forEach: (ctx) => ctx.outputs.plan as unknown[], concurrency: 2 },
  )
  .node('notify', (ctx) => ({ status: 'ok', patch: { shipped: (ctx.outputs.ship as unknown[]).length } }))
  .edge('plan', 'ship')
  .edge('ship', 'notify')
  .build();

/** How long `demo-event` waits for its payment before it cancels the order. */
export const DEMO_EVENT_TIMEOUT_MS = 5 * 60_000;

/**
 * Events: the order waits for `payment.received` keyed by its `input.orderId` (send it with
 * `POST /v1/events {"name":"payment.received","key":"<orderId>","payload":{"amount":…}}`, the
 * CLI's `send-event` or the dashboard). After five minutes without it, the node runs again with
 * `ctx.meta.waitTimedOut` and the order is cancelled.
 */
export const eventFlow: FlowDefinition = flow('demo-event', '1.0.0')
  .entry('order')
  .node('order', (ctx) => {
    const orderId = (ctx.input as { orderId?: unknown } | null)?.orderId;
    return { status: 'ok', patch: { orderId: typeof orderId === 'string' && orderId ? orderId : 'order-1' } };
  })
  .node('payment', (ctx): NodeResult => {
    if (ctx.meta.waitTimedOut) return { status: 'ok', patch: { paid: false }, output: { timedOut: true } };
    const payment = ctx.state._resumePayload as { amount?: unknown } | undefined | null;
    if (payment === undefined) {
      return {
        status: 'wait',
        reason: `Waiting for payment.received of order ${String(ctx.state.orderId)}`,
        event: { name: 'payment.received', key: String(ctx.state.orderId), timeoutMs: DEMO_EVENT_TIMEOUT_MS },
      };
    }
    return { status: 'ok', patch: { paid: true }, output: { amount: payment?.amount ?? null } };
  })
  .node('ship', (ctx) => ({ status: 'ok', output: `Order ${String(ctx.state.orderId)} shipped` }))
  .node('cancel', (ctx) => ({ status: 'ok', output: `Order ${String(ctx.state.orderId)} cancelled: no payment in time` }))
  .edge('order', 'payment')
  .edge('payment', 'ship', (ctx) => ctx.state.paid === true)
  .edge('payment', 'cancel', (ctx) => ctx.state.paid !== true)
  .build();

export const demoFlows: FlowDefinition[] = [greetingFlow, approvalFlow, retryFlow, parallelApprovalFlow, mapFlow, childFlow, parentFlow, eventFlow];
