/**
 * Versions in operation on the dashboard, in headless Chromium (as dashboard.e2e.test.ts; skipped
 * without /usr/bin/chromium unless FLOW_REQUIRE_BROWSER=1): the flows page's stranded banner and
 * its link to a migration plan, which shows what would move and migrates on request; a failed
 * run's Retry; Fork from here on a node of the run's graph, which opens the fork. Saves
 * test-output/dashboard-migration-plan.png.
 */
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowEngine, flow, type FlowDefinition } from '../../src/index.js';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { createMemoryStorage } from '../../src/storage/memory.js';
import { HAVE_BROWSER, OUTPUT_DIR, openPage } from './browser.js';
import { startRuntime, waitForStatus } from './helpers.js';

const FLOW = 'dash-deploy';
let broken = true;

function deployFlow(version: string): FlowDefinition {
  return flow(FLOW, version)
    .entry('a')
    .node('a', () => ({ status: 'ok', output: 'a' }))
    .node('b', () =>
      broken && version === '2' ? { status: 'error', error: { code: 'DOWN', message: 'down', retryable: false } } : { status: 'ok', output: 'b' },
    )
    .edge('a', 'b')
    .build();
}

describe.skipIf(!HAVE_BROWSER)('dashboard: versions in headless Chromium', { timeout: 120_000 }, () => {
  let rt: FlowRuntime;
  let browser: Browser;
  let page: Page;
  let pageErrors: string[] = [];
  const stranded: string[] = [];

  beforeAll(async () => {
    const storage = createMemoryStorage();
    // Runs of version 1, due and never driven: no process serves version 1 any more.
    const old = new FlowEngine({ storage });
    await old.registerDefinition(deployFlow('1'));
    for (let i = 0; i < 2; i++) stranded.push((await old.startRun({ flowId: FLOW, version: '1', input: { i } })).runId);
    rt = await startRuntime({ storage, flows: [deployFlow('2')] });
    let errors: string[];
    ({ browser, page, pageErrors: errors } = await openPage({ width: 1280, height: 900 }));
    pageErrors = errors;
  });

  afterAll(async () => {
    await browser?.close();
    await rt?.close();
  });

  it('shows the stranded runs, plans their migration and migrates them', async () => {
    await page.goto(`${rt.url}/#/flows`);
    const banner = page.locator('[data-testid="stranded-banner"]');
    await banner.waitFor();
    expect(await banner.innerText()).toMatch(/2 due runs of dash-deploy@1/);
    await banner.locator('a').click();
    await page.locator('[data-testid="migration-summary"]').waitFor();
    expect(page.url()).toContain(`#/flows/${FLOW}/migrate?from=1&to=2`);
    expect(await page.locator('[data-testid="migration-summary"]').innerText()).toMatch(/Would migrate 2 runs of dash-deploy@1 to 2; 0 blocked/);
    expect(await page.locator('[data-testid="migration-runs"] tr[data-result="moved"]').count()).toBe(2);
    // The two versions' graphs, side by side.
    expect(await page.locator('[data-testid="graphs-compared"] svg.flow-graph').count()).toBe(2);
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: `${OUTPUT_DIR}dashboard-migration-plan.png`, fullPage: true });
    // The plan wrote nothing.
    expect((await rt.engine.getRun(stranded[0]!))!.flowVersion).toBe('1');

    await page.locator('[data-testid="migrate-now"]').click();
    await expect.poll(() => page.locator('[data-testid="migration-summary"]').innerText()).toMatch(/^Migrated 2 runs/);
    for (const runId of stranded) expect((await rt.engine.getRun(runId))!.flowVersion).toBe('2');
    await page.goto(`${rt.url}/#/flows`);
    await page.locator('[data-testid="unfinished-runs"]').first().waitFor();
    expect(await page.locator('[data-testid="stranded-banner"]').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });

  it('retries a failed run, and forks a run from a node of its graph', async () => {
    const runId = stranded[0]!;
    expect(await rt.engine.runToCompletion(runId)).toMatchObject({ status: 'FAILED' });
    broken = false;
    await page.goto(`${rt.url}/#/runs/${runId}`);
    await page.locator('[data-testid="retry"]').click();
    await waitForStatus(rt, runId, 'RUNNING');
    expect(await rt.engine.runToCompletion(runId)).toMatchObject({ status: 'COMPLETED' });
    await expect.poll(() => page.locator('.run-header .badge').first().innerText()).toMatch(/COMPLETED/i);
    expect(await page.locator('[data-testid="retry"]').count()).toBe(0);

    await page.locator('svg.flow-graph g.node[data-node="b"]').click();
    await page.locator('[data-testid="fork-from-here"]').click();
    await expect.poll(() => page.locator('[data-testid="forked-from"]').count()).toBe(1);
    const forkId = decodeURIComponent(page.url().split('#/runs/')[1]!);
    expect(forkId).not.toBe(runId);
    expect(await rt.engine.getRun(forkId)).toMatchObject({ forkedFrom: { runId, nodeId: 'b' } });
    expect(await page.locator('[data-testid="forked-from"] dd').innerText()).toContain('at b');
    expect(pageErrors).toEqual([]);
  });
});
