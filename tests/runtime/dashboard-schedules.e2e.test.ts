/**
 * The dashboard's schedules page in headless Chromium: each schedule with its next fire times,
 * its last skip and its last runs; pause, resume and trigger from its buttons. Screenshot:
 * test-output/dashboard-schedules.png. Skipped without /usr/bin/chromium (see dashboard.e2e.test.ts).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { startRuntime } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_BROWSER = existsSync(CHROMIUM);
if (!HAVE_BROWSER && process.env.FLOW_REQUIRE_BROWSER === '1') throw new Error(`FLOW_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing`);
const OUTPUT_DIR = fileURLToPath(new URL('../../test-output/', import.meta.url));

describe.skipIf(!HAVE_BROWSER)('dashboard: schedules', { timeout: 120_000 }, () => {
  let rt: FlowRuntime;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    rt = await startRuntime({ worker: true });
    await rt.engine.schedules.set({
      scheduleId: 'nightly-greeting',
      flowId: 'demo-greeting',
      cron: '0 2 * * *',
      timezone: 'Europe/Berlin',
      input: { name: 'night' },
    });
    // A schedule whose runs wait for a person: its second tick is skipped (overlap 'skip').
    await rt.engine.schedules.set({ scheduleId: 'approvals', flowId: 'demo-approval', every: '1s', input: { amount: 5 } });
    for (let i = 0; i < 100 && (await rt.engine.schedules.get('approvals'))?.lastSkip?.reason !== 'overlap'; i++) await new Promise((r) => setTimeout(r, 100));
    await rt.engine.schedules.pause('approvals');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await rt?.close();
  });

  it('shows each schedule with its next fire times, last skip and last runs; pause, resume and trigger work', async () => {
    await page.goto(`${rt.url}/#/schedules`);
    const nightly = page.locator('[data-schedule="nightly-greeting"]');
    await nightly.waitFor();
    expect(await nightly.locator('[data-testid="upcoming"] li').count()).toBe(5);
    expect(await nightly.locator('[data-testid="schedule-state"]').innerText()).toBe('ACTIVE');

    const approvals = page.locator('[data-schedule="approvals"]');
    expect(await approvals.locator('[data-testid="schedule-state"]').innerText()).toBe('PAUSED');
    expect(await approvals.locator('[data-testid="last-skip"]').innerText()).toMatch(/overlap/);
    await approvals.locator('[data-testid="schedule-runs"] [data-status="WAITING"]').first().waitFor();

    await nightly.getByRole('button', { name: 'Trigger now' }).click();
    await nightly.locator('[data-testid="schedule-runs"] [data-status="COMPLETED"]').waitFor({ timeout: 30_000 });
    await nightly.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => nightly.locator('[data-testid="schedule-state"]').innerText()).toBe('PAUSED');
    expect((await rt.engine.schedules.get('nightly-greeting'))!.paused).toBe(true);
    await nightly.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(() => nightly.locator('[data-testid="schedule-state"]').innerText()).toBe('ACTIVE');
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: `${OUTPUT_DIR}dashboard-schedules.png`, fullPage: true });

    // "all →" lists the schedule's runs.
    await nightly.getByRole('link', { name: 'all →' }).click();
    await page.locator('[data-testid="schedule-filter"]').waitFor();
    const runs = (await rt.engine.listRuns({ scheduleId: 'nightly-greeting' })).runs;
    expect(runs).toHaveLength(1);
    await expect.poll(() => page.locator('[data-testid="runs-table"] tbody tr').count()).toBe(1);
    await page.locator(`[data-testid="runs-table"] a[title="${runs[0]!.runId}"]`).waitFor();
  });

  it('raised no script errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
