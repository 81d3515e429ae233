/**
 * Events: each order waits for `payment.received` keyed by its order id (for up to a day); a payment
 * service calls `sendEvent`. An event that arrives before the run reaches its wait is not lost, and
 * a wait that times out runs its node again with `ctx.meta.waitTimedOut`.
 * Run: npx tsx --conditions=hazel-source examples/events.ts
 */
import { FlowEngine, flow } from '@hazeljs/flow';
import type { NodeResult } from '@hazeljs/flow';

const DAY_MS = 24 * 60 * 60 * 1000;

export function buildEventsFlow() {
  return flow('await-payment', '1.0.0')
    .entry('reserve')
    .node('reserve', (ctx) => ({ status: 'ok', output: { reserved: (ctx.input as { orderId: string }).orderId } }))
    .node('await-payment', (ctx): NodeResult => {
      if (ctx.meta.waitTimedOut) return { status: 'ok', output: { paid: false, reason: 'no payment in time' } };
      const payment = ctx.state._resumePayload as { amount: number } | undefined;
      if (payment) return { status: 'ok', output: { paid: true, amount: payment.amount } };
      const { orderId, timeoutMs = DAY_MS } = ctx.input as { orderId: string; timeoutMs?: number };
      return { status: 'wait', reason: 'payment', event: { name: 'payment.received', key: orderId, timeoutMs } };
    })
    .edge('reserve', 'await-payment')
    .build();
}

export const eventsFlow = buildEventsFlow();

export async function runEventsExample(engine: FlowEngine) {
  await engine.registerDefinition(buildEventsFlow());
  const start = async (input: { orderId: string; timeoutMs?: number }) => (await engine.startRun({ flowId: 'await-payment', version: '1.0.0', input })).runId;
  const paidLater = await start({ orderId: 'o-1' });
  const paidEarly = await start({ orderId: 'o-2' });
  const neverPaid = await start({ orderId: 'o-3', timeoutMs: 30 });
  // o-2's payment arrives before its run has even begun; it waits in the store.
  await engine.sendEvent({ name: 'payment.received', key: 'o-2', payload: { amount: 20 } });
  // o-1 parks at its wait (runToCompletion would sleep through the day-long timeout: don't wait for it).
  const parked = await engine.runToCompletion(paidLater, { maxWaitMs: 1000 });
  const sent = await engine.sendEvent({ name: 'payment.received', key: 'o-1', payload: { amount: 10 } });
  return {
    parked,
    sent,
    paidLater: await engine.runToCompletion(paidLater),
    paidEarly: await engine.runToCompletion(paidEarly),
    neverPaid: await engine.runToCompletion(neverPaid), // sleeps through its 30 ms timeout
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const engine = new FlowEngine();
  const r = await runEventsExample(engine);
  const parkedAt = r.parked.branches[0];
  console.log(r.parked.status, parkedAt?.status === 'WAITING' && parkedAt.waitFor === 'event' ? parkedAt.event : null, '→', r.sent.delivered, 'delivered');
  for (const run of [r.paidLater, r.paidEarly, r.neverPaid]) console.log(run.status, run.outputsJson['await-payment']);
  await engine.close();
}
