/** Every example in examples/ runs here, on every store, with its results checked. */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { FlowEngine } from '@hazeljs/flow';
import { runLinearExample } from '../../examples/linear.js';
import { runBranchingExample } from '../../examples/branching.js';
import { runWaitResumeExample } from '../../examples/wait-resume.js';
import { runRetriesExample } from '../../examples/retries-timeouts.js';
import { runParallelExample } from '../../examples/parallel.js';
import { runMapExample } from '../../examples/map.js';
import { runChildFlowsExample } from '../../examples/child-flows.js';
import { runEventsExample } from '../../examples/events.js';
import { ledger, runOrderSagaExample } from '../../examples/order-saga.js';
import { runSchedulesExample } from '../../examples/schedules.js';
import { runOutcomesExample } from '../../examples/outcomes.js';
import { storeCases } from '../helpers/stores.js';

describe.each(storeCases)('examples on $name', (store) => {
  let done: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const d of done) await d();
    done = [];
  });
  async function engine() {
    const { storage, cleanup } = await store.make();
    const e = new FlowEngine({ storage });
    done.push(async () => {
      await e.close();
      await cleanup();
    });
    return e;
  }

  it('schedules: a declared schedule and a cron one in Berlin, previewed across the spring change, triggered once', async () => {
    const { schedules, upcoming, run } = await runSchedulesExample(await engine());
    expect(schedules.map((s) => [s.scheduleId, s.cron, s.every])).toEqual([
      ['report-every-minute', null, 60_000],
      ['report-nightly', '0 2 * * *', null],
    ]);
    // 02:00 CET; on the 29th 02:00 does not exist (clocks jump to 03:00): the first valid time after it; then 02:00 CEST.
    expect(upcoming).toEqual(['2026-03-28T01:00:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:00:00.000Z']);
    expect(run).toMatchObject({ status: 'COMPLETED', scheduleId: 'report-nightly', outputsJson: { publish: 'published nightly report' } });
  });

  it('linear: validates, prices and confirms an order', async () => {
    const run = await runLinearExample(await engine());
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson).toEqual({ price: { total: 28 }, confirm: { confirmed: true, orderId: 'o-1', total: 28 } });
  });

  it('branching: routes by amount through prioritized conditional edges', async () => {
    const e = await engine();
    const small = await runBranchingExample(e, 250);
    const large = await runBranchingExample(e, 50_000);
    expect(small.outputsJson).toMatchObject({ autoApprove: { route: 'auto' }, notify: { notified: ['autoApprove'] } });
    expect(large.outputsJson).toMatchObject({ manualReview: { route: 'manual' }, notify: { notified: ['manualReview'] } });
  });

  it('wait-resume: parks until a decision arrives, then follows it', async () => {
    const e = await engine();
    const yes = await runWaitResumeExample(e, { approved: true, by: 'a' });
    expect(yes.parked.status).toBe('WAITING');
    expect(yes.parked.waitReason).toBe('awaiting_manager_approval');
    expect(yes.done.outputsJson).toMatchObject({ approved: { paid: 120 } });
    const no = await runWaitResumeExample(e, { approved: false, by: 'b' });
    expect(no.done.outputsJson).toMatchObject({ rejected: { paid: 0 } });
  });

  it('retries-timeouts: retries through two outages and charges exactly once across runs', async () => {
    const { run, rerun, api, timeline } = await runRetriesExample(await engine());
    expect(run.status).toBe('COMPLETED');
    expect(api.calls).toBe(3);
    expect(api.charges.size).toBe(1);
    expect(rerun.outputsJson).toEqual(run.outputsJson);
    expect(timeline.filter((e) => e.type === 'NODE_FAILED').map((e) => e.attempt)).toEqual([1, 2]);
  });

  it('parallel: three checks run at once and the join sees all of them', async () => {
    const e = await engine();
    const run = await runParallelExample(e, { orderId: 'o-7', amount: 120, country: 'DE' });
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson.decide).toEqual({ accepted: true, checks: { fraud: 'done', stock: 'done', shipping: 'done' } });
    const timeline = await e.getTimeline(run.runId);
    expect(timeline.filter((ev) => ev.type === 'BRANCH_STARTED').map((ev) => ev.nodeId)).toEqual(['fraud', 'stock', 'shipping']);
    // The three checks were all begun before any of them finished.
    const firstFinish = timeline.findIndex((ev) => ev.type === 'NODE_FINISHED' && ['fraud', 'stock', 'shipping'].includes(ev.nodeId!));
    const starts = timeline.filter((ev, i) => ev.type === 'NODE_STARTED' && i < firstFinish && ['fraud', 'stock', 'shipping'].includes(ev.nodeId!));
    expect(starts).toHaveLength(3);
    // A condition that does not hold starts no branch; the join does not wait for it.
    const noShipping = await runParallelExample(e, { orderId: 'o-8', amount: 50_000, country: 'XX' });
    expect(noShipping.outputsJson.decide).toEqual({ accepted: false, checks: { fraud: 'done', stock: 'done' } });
  });

  it('map: resizes every image, three at a time, retrying a busy one, output in item order', async () => {
    const images = ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg', 'e.jpg'];
    const e = await engine();
    const run = await runMapExample(e, images, ['c.jpg']);
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson.resize).toEqual(images.map((image, i) => ({ image, thumbnail: `thumbs/${i}-${image}` })));
    expect(run.outputsJson.publish).toEqual({ published: 5, first: 'thumbs/0-a.jpg' });
    const retried = (await e.getTimeline(run.runId)).filter((ev) => ev.type === 'NODE_RETRY_SCHEDULED');
    expect(retried.map((ev) => ev.itemIndex)).toEqual([2]);
  });

  it('child-flows: packs each parcel and prints the label in child runs, finishing with their outputs', async () => {
    const { run, children } = await runChildFlowsExample(await engine(), {
      orderId: 'o-9',
      parcels: [
        { sku: 'a', weightKg: 1 },
        { sku: 'b', weightKg: 9 },
      ],
    });
    expect(run.status).toBe('COMPLETED');
    expect(run.outputsJson.done).toEqual({ boxes: ['small', 'large'], label: 'LBL-o-9' });
    expect(children.map((c) => [c.flowId, c.status, c.parentNodeId]).sort()).toEqual([
      ['pack-parcel', 'COMPLETED', 'pack-all'],
      ['pack-parcel', 'COMPLETED', 'pack-all'],
      ['print-label', 'COMPLETED', 'label'],
    ]);
  });

  it('events: a payment event resumes its order, an early one is not lost, and a silent wait times out', async () => {
    const r = await runEventsExample(await engine());
    expect(r.parked.status).toBe('WAITING');
    expect(r.parked.branches[0]).toMatchObject({ nodeId: 'await-payment', event: { name: 'payment.received', key: 'o-1' } });
    expect(r.sent.delivered).toBe(1);
    expect(r.paidLater.outputsJson['await-payment']).toEqual({ paid: true, amount: 10 });
    expect(r.paidEarly.outputsJson['await-payment']).toEqual({ paid: true, amount: 20 });
    expect(r.neverPaid.outputsJson['await-payment']).toEqual({ paid: false, reason: 'no payment in time' });
  });

  it('order-saga: a declined card is caught (outcome declined); a shipment that fails for good refunds the charge and releases the stock', async () => {
    const e = await engine();
    ledger.length = 0;
    const shipped = await runOrderSagaExample(e, { orderId: 'o-1', card: 'visa', address: 'Main St 1' });
    expect(shipped.status).toBe('COMPLETED');
    const declined = await runOrderSagaExample(e, { orderId: 'o-2', card: 'declined', address: 'Main St 2' });
    expect(shipped.outcome).toBe('shipped');
    expect(declined).toMatchObject({ status: 'COMPLETED', outcome: 'declined' });
    expect(declined.outputsJson.declined).toEqual({ told: 'card declined: The bank declined the card' });
    const failed = await runOrderSagaExample(e, { orderId: 'o-3', card: 'visa', address: 'nowhere' });
    expect(failed).toMatchObject({ status: 'FAILED', compensated: true, error: { code: 'CHILD_FAILED' } });
    expect(ledger).toEqual(['charge o-1', 'reserve o-1', 'charge o-3', 'reserve o-3', 'release o-3', 'refund o-3 (CHILD_FAILED)']);
  });

  it('outcomes: a refund refunded or declined, both COMPLETED, listed by outcome', async () => {
    const { refunded, declined, declinedRuns } = await runOutcomesExample(await engine());
    expect(refunded).toMatchObject({ status: 'COMPLETED', outcome: 'refunded', error: null, outputsJson: { refund: { refunded: 40 } } });
    expect(declined).toMatchObject({ status: 'COMPLETED', outcome: 'declined', error: null });
    expect(declinedRuns.map((r) => r.runId)).toEqual([declined.runId]);
  });
});

/** The part of `text` after the first `start`, up to the next `end`. */
const between = (text: string, start: string, end: string) => text.split(start)[1]!.split(end)[0]!;

describe('README examples are the examples run above', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const example = (name: string) => readFileSync(new URL(`../../examples/${name}`, import.meta.url), 'utf8');

  it('Outcomes: the README block is examples/outcomes.ts, verbatim', () => {
    const block = between(between(readme, '\n### Outcomes\n', '\n## '), '```typescript\n', '```');
    const code = between(example('outcomes.ts'), '// ---- README: Outcomes ----\n', '// ---- end ----');
    expect(block).toBe(`import { FlowEngine, flow } from '@hazeljs/flow';\n\n${code}`);
  });

  it('Catch and compensation: the README block is the order saga of examples/order-saga.ts, verbatim', () => {
    const block = between(between(readme, '\n### Catch and compensation\n', '\n### '), '```typescript\n', '```');
    expect(block).toBe(between(example('order-saga.ts'), '// ---- README: Catch and compensation ----\n', '// ---- end ----'));
  });
});
