/**
 * A long run in a real browser (headless Chromium, see browser.ts): a 6,000-item map, about 12,000
 * timeline events. The run page reads its timeline a page at a time, each page once (the first
 * 10,000 events and the last 1,000, the middle on demand), draws 200 rows at a time with a pager,
 * and still shows the whole path in the graph: the map complete, the node after it finished.
 * Saves test-output/dashboard-long-run.png.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_BROWSER, OUTPUT_DIR, openPage } from './browser.js';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { flow } from '../../src/definitions/builder.js';
import { startRuntime } from './helpers.js';

const ITEMS = 6000;
const longMap = flow('long-map', '1')
  .entry('each')
  .node('each', (ctx) => ({ status: 'ok', output: ctx.itemIndex }), { forEach: () => Array.from({ length: ITEMS }, (_, i) => i), concurrency: 200 })
  .node('done', () => ({ status: 'ok', output: { ok: true } }))
  .edge('each', 'done')
  .build();

describe.skipIf(!HAVE_BROWSER)('dashboard: a run with 12,000 timeline events', { timeout: 120_000 }, () => {
  let rt: FlowRuntime;
  let browser: Browser;
  let page: Page;
  let pageErrors: string[] = [];
  let runId: string;
  let lastSeq: number;

  beforeAll(async () => {
    rt = await startRuntime({ flows: [longMap] });
    ({ runId } = await rt.engine.startRun({ flowId: 'long-map', version: '1', input: null }));
    ({ lastSeq } = await rt.engine.runToCompletion(runId));
    ({ browser, page, pageErrors } = await openPage({ width: 1280, height: 900 }));
  });
  afterAll(async () => {
    await browser?.close();
    await rt?.close();
  });

  it('reads the timeline a page at a time, draws 200 rows at once, and shows the whole path', async () => {
    expect(lastSeq).toBeGreaterThan(2 * ITEMS);
    const timelineRequests: URL[] = [];
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (url.pathname.endsWith('/timeline')) timelineRequests.push(url);
    });
    await page.goto(`${rt.url}/#/runs/${encodeURIComponent(runId)}`);
    await page.locator('.run-header [data-status="COMPLETED"]').waitFor();
    const range = page.locator('[data-testid="timeline-range"]');
    // The first 10,000 events and the last 1,000: the middle is left for later.
    await expect.poll(() => range.innerText(), { timeout: 30_000 }).toBe(`events 1–200 of ${lastSeq} · 11000 read`);
    const rows = page.locator('[data-testid="timeline"] tbody tr[data-seq]');
    expect(await rows.count()).toBe(200);

    // Each page read once, none over 1000 events.
    const afters = timelineRequests.map((u) => Number(u.searchParams.get('after')));
    expect(new Set(afters).size).toBe(afters.length);
    for (const u of timelineRequests) expect(Number(u.searchParams.get('limit'))).toBeLessThanOrEqual(1000);
    expect(timelineRequests).toHaveLength(11);

    // The graph: the map complete (from its node's end, not from counting 6,000 item events), the next node finished.
    expect(await page.locator('g.node[data-node="each"] .node-badge').getAttribute('data-badge')).toBe(`${ITEMS} of ${ITEMS} items`);
    expect(await page.locator('g.node[data-node="done"]').getAttribute('class')).toContain('finished');

    // The pager: the next 200, then the last page (the run's last events, after the unread middle).
    await page.getByRole('button', { name: 'Next →' }).click();
    expect(await rows.first().getAttribute('data-seq')).toBe('201');
    await page.getByRole('button', { name: 'Last ⇥' }).click();
    expect(await rows.last().getAttribute('data-seq')).toBe(String(lastSeq));
    expect(await rows.last().innerText()).toContain('RUN_COMPLETED');

    // The unread middle, on demand: the tail's first page (11,000 events read: the 51st of 55)
    // shows it at its top, and reads 1000 more.
    for (let i = 0; i < 4; i++) await page.getByRole('button', { name: '← Previous' }).click();
    expect(await rows.first().getAttribute('data-seq')).toBe(String(lastSeq - 999));
    const gap = page.locator('[data-testid="timeline-gap"]');
    expect(await gap.innerText()).toContain(`events 10001–${lastSeq - 1000} not read yet`);
    await gap.getByRole('button').click();
    await expect.poll(() => range.innerText()).toContain('· 12000 read');
    expect(timelineRequests.at(-1)!.searchParams.get('after')).toBe('10000');
    await page.screenshot({ path: `${OUTPUT_DIR}dashboard-long-run.png`, fullPage: false });
    expect(pageErrors).toEqual([]);
  });
});
