/**
 * End to end in a real browser: headless Chromium (Debian's `chromium` package, driven by
 * playwright-core — no browser download) opens the dashboard, finds a waiting run, resumes it
 * with a JSON payload, watches it complete, starts a run from the flows page, resumes one of two
 * parallel waiting branches from its own button (the other keeps waiting; the join shows 1 of 2),
 * filters the timeline by branch, shows a map's progress with its failed item, shows what a run
 * waits for (an event: name, key, timeout) and completes it by sending the event from the page,
 * links a parent to its running children and back, and saves screenshots to test-output/
 * (dashboard.png, dashboard-parallel.png, dashboard-map.png, dashboard-event.png,
 * dashboard-event-done.png, dashboard-runs-event.png, dashboard-parent.png, dashboard-child.png,
 * dashboard-child-wait.png, dashboard-on-failure.png), and links a failed run to its failure
 * handler run and back.
 *
 * Without /usr/bin/chromium the test is skipped with a message, unless FLOW_REQUIRE_BROWSER=1
 * (CI), where a missing browser is a failure. Install: apt-get install -y chromium
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { HAVE_BROWSER, OUTPUT_DIR, openPage } from './browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { flow } from '../../src/definitions/builder.js';
import type { NodeResult } from '../../src/definitions/types.js';
import { demoFlows } from '../../src/runtime/demo-flows.js';
import { startRuntime, waitForStatus } from './helpers.js';
import { orderSaga, shipParcel } from '../../examples/order-saga.js';
const SCREENSHOT = `${OUTPUT_DIR}dashboard.png`;

/** One node that starts one child run (no map) and waits for it. */
const soloParent = flow('solo-parent', '1.0.0')
  .entry('spawn')
  .node('spawn', (): NodeResult => ({ status: 'child', flowId: 'demo-child', version: '1.0.0', input: { parcel: 'solo', delayMs: 2500 } }))
  .node('done', (ctx) => ({ status: 'ok', output: ctx.outputs.spawn }))
  .edge('spawn', 'done')
  .build();

/** A flow whose runs fail, and the flow its onFailure starts. */
const refund = flow('refund', '1.0.0')
  .entry('refund')
  .node('refund', (ctx) => ({ status: 'ok', output: ctx.input }))
  .build();
const doomedOrder = flow('doomed-order', '1.0.0', { onFailure: { flowId: 'refund', version: '1.0.0' } })
  .entry('ship')
  .node('ship', (): NodeResult => ({ status: 'error', error: { code: 'NO_CARRIER', message: 'no carrier', retryable: false } }))
  .build();

describe.skipIf(!HAVE_BROWSER)('dashboard in headless Chromium', { timeout: 120_000 }, () => {
  let rt: FlowRuntime;
  let browser: Browser;
  let page: Page;
  let pageErrors: string[] = [];
  let waitingRunId: string;

  beforeAll(async () => {
    rt = await startRuntime({ worker: true, flows: [...demoFlows, soloParent, shipParcel, orderSaga, refund, doomedOrder] });
    // Some history for the list: a completed run, a failed one, and the run a person must approve.
    await rt.engine.startRun({ flowId: 'demo-greeting', version: '1.0.0', input: { name: 'Ada' } });
    const failed = await rt.engine.startRun({ flowId: 'demo-retry', version: '1.0.0', input: { fail: true } });
    waitingRunId = (await rt.engine.startRun({ flowId: 'demo-approval', version: '1.0.0', input: { amount: 1250 } })).runId;
    await waitForStatus(rt, failed.runId, 'FAILED');
    await waitForStatus(rt, waitingRunId, 'WAITING');

    let errors: string[];
    ({ browser, page, pageErrors: errors } = await openPage({ width: 1280, height: 900 }));
    pageErrors = errors;
  });

  afterAll(async () => {
    await browser?.close();
    await rt?.close();
  });

  it('finds a waiting run, resumes it with a payload and sees it complete', async () => {
    await page.goto(`${rt.url}/`);
    await page.locator('[data-testid="runs-table"] tbody tr').first().waitFor();
    expect(await page.locator('[data-testid="runs-table"] tbody tr').count()).toBe(3);

    // Filter the list down to waiting runs: only the approval remains.
    await page.selectOption('#filter-status', 'WAITING');
    const waitingRow = page.locator(`tr[data-run-id="${waitingRunId}"]`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="runs-table"] tbody tr').length === 1);
    await expect.poll(() => waitingRow.getAttribute('data-status')).toBe('WAITING');
    await waitingRow.locator('a.run-link').click();

    // The run page: graph with the waiting node, the resume form.
    await page.locator('.run-header [data-status="WAITING"]').waitFor();
    await expect.poll(() => page.locator('g.node[data-node="approval"]').getAttribute('class')).toContain('waiting');
    expect(await page.locator('g.node[data-node="request"]').getAttribute('class')).toContain('visited');

    // The payload editor refuses invalid JSON …
    const editor = page.locator('#resume-payload');
    const resume = page.getByRole('button', { name: 'Resume run' });
    await editor.fill('{"approved": tru');
    await page.locator('.hint.invalid').waitFor();
    expect(await resume.isDisabled()).toBe(true);
    // … and sends a valid payload.
    await editor.fill('{\n  "approved": true,\n  "by": "e2e@example.com"\n}');
    expect(await resume.isDisabled()).toBe(false);
    await resume.click();

    await page.locator('.run-header [data-status="COMPLETED"]').waitFor({ timeout: 30_000 });
    const run = await rt.engine.getRun(waitingRunId);
    expect(run).toMatchObject({
      status: 'COMPLETED',
      stateJson: expect.objectContaining({ approved: true }),
      outputsJson: expect.objectContaining({ fulfil: 'Paid 1250' }),
    });

    // The graph shows the path taken; the timeline shows the resume and the end.
    await expect.poll(() => page.locator('g.node[data-node="fulfil"]').getAttribute('class')).toContain('visited');
    expect(await page.locator('g.edge[data-edge="approval→fulfil"]').getAttribute('class')).toContain('taken');
    expect(await page.locator('g.edge[data-edge="approval→reject"]').getAttribute('class')).not.toContain('taken');
    expect(await page.locator('g.node[data-node="reject"]').getAttribute('class')).not.toContain('visited');
    const timeline = await page.locator('[data-testid="timeline"]').innerText();
    for (const type of ['RUN_WAITING', 'RUN_RESUMED', 'RUN_COMPLETED']) expect(timeline).toContain(type);
    expect(timeline).toContain('e2e@example.com');
    await expect.poll(() => page.locator('[data-testid="state"] pre').innerText()).toContain('"approved": true');
    expect(await page.locator('[data-testid="outputs"] pre').innerText()).toContain('"fulfil": "Paid 1250"');

    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
  });

  it('marks the failed node of a failed run', async () => {
    await page.goto(`${rt.url}/#/runs?status=FAILED`);
    await page.locator('tr[data-status="FAILED"] a.run-link').first().click();
    await page.locator('.run-header [data-status="FAILED"]').waitFor();
    await expect.poll(() => page.locator('g.node[data-node="validate"]').getAttribute('class')).toContain('failed');
    expect(await page.locator('.run-header .error-note').innerText()).toContain('INVALID_ORDER');
    // The retried first node shows both attempts in the timeline.
    expect(await page.locator('[data-testid="timeline"]').innerText()).toContain('NODE_RETRY_SCHEDULED');
  });

  it('starts a run of a listed flow from the flows page', async () => {
    await page.goto(`${rt.url}/#/flows`);
    const card = page.locator('[data-flow="demo-greeting@1.0.0"]');
    await card.locator('textarea').fill('{"name": "Grace"}');
    await card.getByRole('button', { name: 'Start run' }).click();
    await page.locator('.run-header [data-status="COMPLETED"]').waitFor({ timeout: 30_000 });
    expect(await page.locator('.run-header .flow-key').innerText()).toBe('demo-greeting@1.0.0');
    await expect.poll(() => page.locator('[data-testid="state"] pre').innerText()).toContain('HELLO, GRACE!');
  });

  it('asks for the API token when the server has one, and then shows the runs', async () => {
    const secured = await startRuntime({ apiToken: 'dash-token-0123456789abcdef' });
    try {
      await secured.engine.startRun({ flowId: 'demo-greeting', version: '1.0.0', input: null });
      const fresh = await browser.newPage();
      // A 401 from the API is expected here, before the token is entered.
      fresh.on('pageerror', (err) => pageErrors.push(err.message));
      await fresh.goto(`${secured.url}/`);
      await fresh.locator('#api-token').fill('dash-token-0123456789abcdef');
      await fresh.getByRole('button', { name: 'Save token' }).click();
      await fresh.locator('[data-testid="runs-table"] tbody tr').first().waitFor();
      expect(await fresh.locator('[data-testid="runs-table"] tbody tr').count()).toBe(1);
      await fresh.close();
    } finally {
      await secured.close();
    }
  });

  it('lists both branches of a parallel wait, resumes one from its button and leaves the other waiting', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'demo-parallel', version: '1.0.0', input: { contract: 'NDA' } });
    await waitForStatus(rt, runId, 'WAITING');
    await page.goto(`${rt.url}/#/runs/${encodeURIComponent(runId)}`);
    await page.locator('.run-header [data-status="WAITING"]').waitFor();

    // Both waiting branches are listed, and both nodes are highlighted on the graph.
    const rows = page.locator('[data-testid="branches"] tbody tr');
    await rows.nth(1).waitFor();
    expect(await rows.count()).toBe(2);
    expect(await rows.evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-node'), tr.getAttribute('data-status')]))).toEqual([
      ['legal', 'WAITING'],
      ['finance', 'WAITING'],
    ]);
    const financeBranch = (await page.locator('[data-testid="branches"] tr[data-node="finance"]').getAttribute('data-branch'))!;
    await expect.poll(() => page.locator('g.node[data-node="legal"]').getAttribute('class')).toContain('waiting');
    expect(await page.locator('g.node[data-node="finance"]').getAttribute('class')).toContain('waiting');
    expect(await page.locator('g.node[data-node="legal"] .node-badge').getAttribute('data-badge')).toBe('waiting');
    expect(await page.locator('g.edge[data-edge="prepare→legal"]').getAttribute('class')).toContain('taken');
    expect(await page.locator('g.edge[data-edge="prepare→finance"]').getAttribute('class')).toContain('taken');
    // With two branches waiting, the form has no single "Resume run": each branch has its button.
    expect(await page.getByRole('button', { name: 'Resume run' }).count()).toBe(0);
    expect(await page.locator('.resume-several').innerText()).toContain('legal, finance');

    // Resume legal only, from its row, with the payload of the form.
    await page.locator('#resume-payload').fill('{"approved": true, "by": "legal@example.com"}');
    await page.getByRole('button', { name: 'Resume legal' }).click();

    // legal moves on to the join (JOINING, 1 of 2 arrived); finance still waits.
    await expect
      .poll(() => rows.evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-node'), tr.getAttribute('data-status')])))
      .toEqual([
        ['decide', 'JOINING'],
        ['finance', 'WAITING'],
      ]);
    const run = await rt.engine.getRun(runId);
    expect(run!.status).toBe('WAITING');
    expect(run!.branches.map((b) => [b.nodeId, b.status])).toEqual([
      ['decide', 'JOINING'],
      ['finance', 'WAITING'],
    ]);
    expect(run!.stateJson).toMatchObject({ legal: true });
    expect(run!.stateJson).not.toHaveProperty('finance');
    await expect.poll(() => page.locator('g.node[data-node="decide"]').getAttribute('class')).toContain('joining');
    expect(await page.locator('g.node[data-node="decide"] .node-badge').getAttribute('data-badge')).toBe('joining 1 of 2');
    expect(await page.locator('g.node[data-node="finance"]').getAttribute('class')).toContain('waiting');
    expect(await page.locator('g.node[data-node="legal"]').getAttribute('class')).not.toContain('waiting');
    expect(await page.locator('g.edge[data-edge="legal→decide"]').getAttribute('class')).toContain('taken');
    // One branch waits now: the form resumes it again with "Resume run", and the finance row keeps its button.
    await page.getByRole('button', { name: 'Resume run' }).waitFor();
    expect(await page.getByRole('button', { name: 'Resume finance' }).count()).toBe(1);

    // The timeline names each event's branch and can be narrowed to one.
    const timeline = page.locator('[data-testid="timeline"]');
    expect(await timeline.innerText()).toContain('JOIN_ARRIVED');
    await page.selectOption('#timeline-branch', financeBranch);
    await expect
      .poll(() => timeline.locator('tbody tr').evaluateAll((trs) => [...new Set(trs.map((tr) => tr.getAttribute('data-branch')))]))
      .toEqual([financeBranch]);
    expect(await timeline.innerText()).toContain('BRANCH_STARTED');
    expect(await timeline.innerText()).not.toContain('JOIN_ARRIVED');

    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: `${OUTPUT_DIR}dashboard-parallel.png`, fullPage: true });
    await page.selectOption('#timeline-branch', '');
  });

  it('shows a caught failure as the catch edge taken, and a compensated run with its undone nodes', async () => {
    const declined = await rt.engine.startRun({ flowId: 'order-saga', version: '1.0.0', input: { orderId: 'e2e-1', card: 'declined', address: 'x' } });
    const failed = await rt.engine.startRun({ flowId: 'order-saga', version: '1.0.0', input: { orderId: 'e2e-2', card: 'visa', address: 'nowhere' } });
    await waitForStatus(rt, declined.runId, 'COMPLETED');
    await waitForStatus(rt, failed.runId, 'FAILED');

    await page.goto(`${rt.url}/#/runs/${encodeURIComponent(declined.runId)}`);
    await page.locator('.run-header [data-status="COMPLETED"]').waitFor();
    // The graph's path is drawn from the timeline, read after the run itself: wait until it is in.
    await page.locator('[data-testid="timeline"]', { hasText: 'NODE_CAUGHT' }).waitFor();
    const catchEdge = page.locator('g.edge.catch[data-edge="charge\u21afdeclined"]');
    expect(await catchEdge.getAttribute('class')).toContain('taken');
    expect(await page.locator('g.node[data-node="charge"]').getAttribute('class')).toContain('caught');
    expect(await page.locator('[data-testid="timeline"]').innerText()).toContain('NODE_CAUGHT');

    await page.goto(`${rt.url}/#/runs/${encodeURIComponent(failed.runId)}`);
    await page.locator('.run-header [data-compensated="true"]').waitFor();
    await page.locator('[data-testid="timeline"]', { hasText: 'NODE_COMPENSATED' }).waitFor();
    for (const node of ['charge', 'reserve']) expect(await page.locator(`g.node[data-node="${node}"]`).getAttribute('class')).toContain('compensated');
    const timeline = await page.locator('[data-testid="timeline"]').innerText();
    for (const type of ['RUN_COMPENSATING', 'COMPENSATION_STARTED', 'NODE_COMPENSATED']) expect(timeline).toContain(type);
    await page.screenshot({ path: `${OUTPUT_DIR}dashboard-compensated.png`, fullPage: true });

    await page.goto(`${rt.url}/#/runs?status=FAILED`);
    await page.locator(`tr[data-run-id="${failed.runId}"] .badge.compensated`).waitFor();
  });

  it("shows a map's progress on its node, with the item that failed", async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'demo-map', version: '1.0.0', input: { count: 6, delayMs: 5, fail: [4] } });
    await waitForStatus(rt, runId, 'FAILED');
    await page.goto(`${rt.url}/#/runs/${encodeURIComponent(runId)}`);
    await page.locator('.run-header [data-status="FAILED"]').waitFor();
    const badge = page.locator('g.node[data-node="resize"] .node-badge');
    await badge.waitFor();
    expect(await badge.getAttribute('data-badge')).toMatch(/^\d of 6 items · 1 failed/);
    expect(await page.locator('g.node[data-node="resize"]').getAttribute('class')).toContain('failed');
    const row = page.locator('[data-testid="branches"] tr[data-node="resize"]');
    expect(await row.getAttribute('data-status')).toBe('FAILED');
    expect(await row.locator('.map-item[data-item="4"]').innerText()).toContain('CORRUPT_IMAGE');
    // Item events show their index in the timeline.
    const itemCells = await page.locator('[data-testid="timeline"] tbody tr').evaluateAll((trs) => trs.map((tr) => tr.children[6]?.textContent ?? ''));
    expect(itemCells).toContain('4');
    await page.screenshot({ path: `${OUTPUT_DIR}dashboard-map.png`, fullPage: true });
  });

  it('shows the event a run waits for, and sending it from the page completes the run', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'demo-event', version: '1.0.0', input: { orderId: 'order-e2e' } });
    await waitForStatus(rt, runId, 'WAITING');
    await page.goto(`${rt.url}/#/runs/${encodeURIComponent(runId)}`);
    await page.locator('.run-header [data-status="WAITING"]').waitFor();

    // What it waits for: the event's name, key and when the wait times out.
    const wait = page.locator('.run-header [data-testid="event-wait"]');
    await wait.waitFor();
    expect(await wait.getAttribute('data-event')).toBe('payment.received');
    expect(await wait.getAttribute('data-key')).toBe('order-e2e');
    expect(await wait.innerText()).toMatch(/waits for event payment\.received · key order-e2e · timeout at \d/);
    expect(await page.locator('[data-testid="branches"] tr[data-node="payment"] [data-testid="event-wait"]').count()).toBe(1);
    // The graph marks the node as waiting for that event.
    await expect.poll(() => page.locator('g.node[data-node="payment"]').getAttribute('class')).toContain('event-wait');
    expect(await page.locator('g.node[data-node="payment"] .node-badge').getAttribute('data-badge')).toBe('event payment.received');

    // The form is filled in with the event the run waits for.
    const card = page.locator('[data-testid="send-event-card"]');
    expect(await card.locator('#run-event-name').inputValue()).toBe('payment.received');
    expect(await card.locator('#run-event-key').inputValue()).toBe('order-e2e');
    await card.locator('#run-event-payload').fill('{"amount": 99');
    await card.locator('.hint.invalid').waitFor();
    const send = card.getByRole('button', { name: 'Send event' });
    expect(await send.isDisabled()).toBe(true);
    await card.locator('#run-event-payload').fill('{"amount": 99}');
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: `${OUTPUT_DIR}dashboard-event.png`, fullPage: true });
    await send.click();

    const result = page.locator('.run-header [data-testid="event-result"]');
    await result.waitFor();
    expect(await result.getAttribute('data-delivered')).toBe('1');
    // The worker applies it: the run goes on to ship and completes.
    await page.locator('.run-header [data-status="COMPLETED"]').waitFor({ timeout: 30_000 });
    const run = await rt.engine.getRun(runId);
    expect(run!.outputsJson).toMatchObject({ payment: { amount: 99 }, ship: 'Order order-e2e shipped' });
    await expect.poll(() => page.locator('[data-testid="timeline"]').innerText()).toContain('EVENT_RECEIVED');
    expect(await page.locator('g.node[data-node="ship"]').getAttribute('class')).toContain('visited');
    expect(await page.locator('[data-testid="send-event-card"]').count()).toBe(0);
    await page.screenshot({ path: `${OUTPUT_DIR}dashboard-event-done.png`, fullPage: true });
  });

  it('sends an event from the runs page to whichever runs wait for it', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'demo-event', version: '1.0.0', input: { orderId: 'order-list' } });
    await waitForStatus(rt, runId, 'WAITING');
    await page.goto(`${rt.url}/#/runs`);
    const form = page.locator('.send-event-card');
    await form.locator('summary').click();
    await form.locator('#event-name').fill('payment.received');
    await form.locator('#event-key').fill('order-list');
    await form.locator('#event-payload').fill('');
    await form.getByRole('button', { name: 'Send event' }).click();
    const result = form.locator('[data-testid="event-result"]');
    await result.waitFor();
    expect(await result.getAttribute('data-delivered')).toBe('1');
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: `${OUTPUT_DIR}dashboard-runs-event.png`, fullPage: true });
    const run = await waitForStatus(rt, runId, 'COMPLETED');
    expect(run.outputsJson).toMatchObject({ payment: { amount: null } });
  });

  it('links a parent run to its children (with their status) and each child back to its parent', async () => {
    const { runId } = await rt.engine.startRun({
      flowId: 'demo-parent',
      version: '1.0.0',
      input: { parcels: ['parcel-A', 'parcel-B', 'parcel-C'], delayMs: 2500 },
    });
    await page.goto(`${rt.url}/#/runs/${encodeURIComponent(runId)}`);
    // Two children run at once (concurrency 2): the parent lists them and its map's items wait for them.
    const rows = page.locator('[data-testid="children"] tbody tr');
    await rows.nth(1).waitFor({ timeout: 30_000 });
    await expect.poll(() => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-status')))).toEqual(['RUNNING', 'RUNNING']);
    expect(await page.locator('[data-testid="children"]').innerText()).toContain('demo-child@1.0.0');
    const items = page.locator('[data-testid="branches"] tr[data-node="ship"] .child-item');
    await expect.poll(() => items.count()).toBe(2);
    expect(await items.first().locator('[data-status]').getAttribute('data-status')).toBe('RUNNING');
    await expect.poll(() => page.locator('g.node[data-node="ship"]').getAttribute('class')).toContain('child-wait');
    expect(await page.locator('g.node[data-node="ship"] .node-badge').getAttribute('data-badge')).toMatch(/of 3 items · 2 children$/);
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: `${OUTPUT_DIR}dashboard-parent.png`, fullPage: true });

    // A child's page links back to its parent.
    const childId = (await rows.first().getAttribute('data-run-id'))!;
    await rows.first().locator('a.child-link').click();
    await page.locator('[data-testid="parent"] a.parent-link').waitFor();
    expect(await page.locator('.run-header .run-id').innerText()).toBe(childId);
    expect(await page.locator('.run-header .flow-key').innerText()).toBe('demo-child@1.0.0');
    expect(await page.locator('[data-testid="parent"]').innerText()).toContain('at ship');
    await page.screenshot({ path: `${OUTPUT_DIR}dashboard-child.png`, fullPage: true });
    await page.locator('[data-testid="parent"] a.parent-link').click();
    await page.locator('[data-testid="children"]').waitFor();
    expect(await page.locator('.run-header .run-id').innerText()).toBe(runId);

    // All three children complete, and so does the parent.
    await page.locator('.run-header [data-status="COMPLETED"]').waitFor({ timeout: 60_000 });
    await expect.poll(() => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-status')))).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED']);
    const timeline = await page.locator('[data-testid="timeline"]').innerText();
    for (const type of ['CHILD_STARTED', 'CHILD_FINISHED']) expect(timeline).toContain(type);
    expect(await page.locator('[data-testid="timeline"] a.child-link').count()).toBe(6);
    // The run list marks the children and links them to their parent.
    await page.goto(`${rt.url}/#/runs?parent=${encodeURIComponent(runId)}`);
    await page.locator('[data-testid="parent-filter"]').waitFor();
    await expect.poll(() => page.locator('[data-testid="runs-table"] tbody tr').count()).toBe(3);
    expect(await page.locator('[data-testid="runs-table"] a.parent-link').count()).toBe(3);
  });

  it('marks a node waiting for its child run, with the child’s link and status', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'solo-parent', version: '1.0.0', input: null });
    await page.goto(`${rt.url}/#/runs/${encodeURIComponent(runId)}`);
    const badge = page.locator('g.node[data-node="spawn"] .node-badge');
    await expect.poll(() => badge.getAttribute('data-badge'), { timeout: 15_000 }).toBe('child running');
    expect(await page.locator('g.node[data-node="spawn"]').getAttribute('class')).toContain('child-wait');
    const wait = page.locator('[data-testid="branches"] tr[data-node="spawn"] [data-testid="child-wait"]');
    expect(await wait.locator('[data-status]').getAttribute('data-status')).toBe('RUNNING');
    expect(await wait.innerText()).toContain('demo-child@1.0.0');
    // Nothing to resume: the child answers the wait.
    expect(await page.getByRole('button', { name: 'Resume run' }).count()).toBe(0);
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: `${OUTPUT_DIR}dashboard-child-wait.png`, fullPage: true });
    await page.locator('.run-header [data-status="COMPLETED"]').waitFor({ timeout: 30_000 });
  });

  it('links a failed run to its failure handler run and back', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'doomed-order', version: '1.0.0', input: null });
    const failed = await waitForStatus(rt, runId, 'FAILED');
    await waitForStatus(rt, failed.failureHandlerRunId!, 'COMPLETED');
    await page.goto(`${rt.url}/#/runs/${encodeURIComponent(runId)}`);
    const link = page.locator('[data-testid="failure-handler"] a.failure-link');
    await link.waitFor();
    expect(await link.getAttribute('title')).toBe(failed.failureHandlerRunId);
    expect(await page.locator('[data-testid="timeline"]').innerText()).toContain('FAILURE_HANDLER_STARTED');
    expect(await page.locator('[data-testid="timeline"] a.child-link').innerText()).toContain('failure handler run');
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: `${OUTPUT_DIR}dashboard-on-failure.png`, fullPage: true });
    await link.click();
    await page.locator('[data-testid="failure-of"] a.failure-link').waitFor();
    expect(await page.locator('.run-header .run-id').innerText()).toBe(failed.failureHandlerRunId);
    expect(await page.locator('.run-header .flow-key').innerText()).toBe('refund@1.0.0');
    await page.locator('[data-testid="failure-of"] a.failure-link').click();
    await page.locator('[data-testid="failure-handler"]').waitFor();
    expect(await page.locator('.run-header .run-id').innerText()).toBe(runId);
  });

  it('raised no script errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
