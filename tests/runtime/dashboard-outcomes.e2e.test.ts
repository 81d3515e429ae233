/**
 * The dashboard's business outcomes, in headless Chromium (as dashboard.e2e.test.ts; skipped
 * without /usr/bin/chromium unless FLOW_REQUIRE_BROWSER=1): the runs list has an outcome column
 * and an outcome filter (kept in the URL), an outcome links to the runs that have it, and the run
 * page shows it. Saves test-output/dashboard-outcomes.png.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { startRuntime, waitForStatus } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_BROWSER = existsSync(CHROMIUM);
if (!HAVE_BROWSER && process.env.FLOW_REQUIRE_BROWSER === '1')
  throw new Error(`FLOW_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing: apt-get install -y chromium`);
const OUTPUT_DIR = fileURLToPath(new URL('../../test-output/', import.meta.url));

describe.skipIf(!HAVE_BROWSER)('dashboard outcomes in headless Chromium', { timeout: 120_000 }, () => {
  let rt: FlowRuntime;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const runs = { paid: '', rejected: '', waiting: '' };

  beforeAll(async () => {
    rt = await startRuntime({ worker: true });
    // The demo approval ends COMPLETED on both paths, with the outcome `paid` or `rejected`.
    for (const [name, approved] of [
      ['paid', true],
      ['rejected', false],
      ['waiting', undefined],
    ] as const) {
      const { runId } = await rt.engine.startRun({ flowId: 'demo-approval', version: '1.0.0', input: { amount: 5 } });
      runs[name] = runId;
      await waitForStatus(rt, runId, 'WAITING');
      if (approved === undefined) continue;
      await rt.engine.resumeRun(runId, { approved });
      await waitForStatus(rt, runId, 'COMPLETED');
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await rt?.close();
  });

  const rows = () => page.locator('[data-testid="runs-table"] tbody tr');
  const outcomeOf = (runId: string) => page.locator(`tr[data-run-id="${runId}"] td.outcome`).innerText();

  it('shows an outcome column, filters by outcome, links an outcome to its runs, and shows it on the run page', async () => {
    await page.goto(`${rt.url}/`);
    await expect.poll(() => rows().count()).toBe(3);
    expect((await page.locator('[data-testid="runs-table"] thead th').allInnerTexts()).map((h) => h.toLowerCase())).toContain('outcome');
    expect(await outcomeOf(runs.paid)).toBe('paid');
    expect(await outcomeOf(runs.rejected)).toBe('rejected');
    expect(await outcomeOf(runs.waiting)).toBe('—');

    await page.fill('#filter-outcome', 'rejected');
    await page.press('#filter-outcome', 'Enter');
    await expect.poll(() => rows().count()).toBe(1);
    expect(await rows().first().getAttribute('data-run-id')).toBe(runs.rejected);
    expect(page.url()).toContain('outcome=rejected');
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: `${OUTPUT_DIR}dashboard-outcomes.png`, fullPage: true });

    // Cleared: every run again; an outcome in the list links to the runs that have it.
    await page.fill('#filter-outcome', '');
    await page.press('#filter-outcome', 'Enter');
    await expect.poll(() => rows().count()).toBe(3);
    await page.locator(`tr[data-run-id="${runs.paid}"] a.outcome-link`).click();
    await expect.poll(() => rows().count()).toBe(1);
    expect(await rows().first().getAttribute('data-run-id')).toBe(runs.paid);
    expect(await page.inputValue('#filter-outcome')).toBe('paid');

    await page.goto(`${rt.url}/#/runs/${runs.paid}`);
    await page.locator('.run-header [data-testid="outcome"]').waitFor();
    expect(await page.locator('.run-header [data-testid="outcome"] dd').innerText()).toBe('paid');
    expect(pageErrors).toEqual([]);
  });
});
