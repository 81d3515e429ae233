/**
 * Flow control in the dashboard, in headless Chromium (as dashboard.e2e.test.ts; skipped without
 * /usr/bin/chromium unless FLOW_REQUIRE_BROWSER=1): a run page says why a run that has not begun
 * is not moving (a later start, a debounce, a full concurrency key), the runs list says it in its
 * note column, and the flows page shows a flow's limits.
 */
import type { Browser, Page } from 'playwright-core';
import { HAVE_BROWSER, openPage } from './browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flow } from '../../src/definitions/builder.js';
import { demoFlows } from '../../src/runtime/demo-flows.js';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { startRuntime } from './helpers.js';

const limited = flow<{ customer: string }>('fc-dash', '1', {
  concurrency: { limit: 1, key: (input) => input.customer },
  rateLimit: { limit: 5, periodMs: 1000 },
})
  .entry('go')
  .node('go', () => ({ status: 'ok' }))
  .build();
const debounced = flow<{ order: string }>('fc-dash-debounce', '1', { debounce: { delayMs: 600_000, key: (input) => input.order } })
  .entry('go')
  .node('go', () => ({ status: 'ok' }))
  .build();

describe.skipIf(!HAVE_BROWSER)('dashboard flow control in headless Chromium', { timeout: 120_000 }, () => {
  let rt: FlowRuntime;
  let browser: Browser;
  let page: Page;
  let pageErrors: string[] = [];

  beforeAll(async () => {
    // No worker: the held runs stay as they are while the page is looked at.
    rt = await startRuntime({ flows: [...demoFlows, limited, debounced] });
    let errors: string[];
    ({ browser, page, pageErrors: errors } = await openPage({ width: 1280, height: 800 }));
    pageErrors = errors;
  });
  afterAll(async () => {
    await browser?.close();
    await rt?.close();
  });

  const reason = async (runId: string) => {
    await page.goto(`${rt.url}/#/runs/${runId}`);
    const note = page.locator('[data-testid="held-reason"]');
    await note.waitFor();
    return note.innerText();
  };

  it('says why a run has not begun, and shows a flow’s limits', async () => {
    const later = await rt.engine.startRun({ flow: limited, input: { customer: 'c1' }, delayMs: 600_000 });
    expect(await reason(later.runId)).toMatch(/^Held back: Starts at /);
    const joined = await rt.engine.startRun({ flow: debounced, input: { order: 'o1' } });
    expect(await reason(joined.runId)).toMatch(/^Held back: Debounced until .* \(key "o1"\)$/);

    // A run of a full key: its key's one slot is held (a lease, as a worker's), and it has been due for a while.
    const holder = await rt.engine.startRun({ flow: limited, input: { customer: 'c2' } });
    const lease = (await rt.engine.storage.lockRun(holder.runId, { onlyIfDue: true }))!;
    const waiting = await rt.engine.startRun({ flow: limited, input: { customer: 'c2' } });
    await new Promise((r) => setTimeout(r, 1100));
    expect(await reason(waiting.runId)).toBe('Held back: Due, waiting for a slot: at its concurrency limit (1 executing for key "c2")');
    await page.goto(`${rt.url}/#/runs?flow=fc-dash%401`);
    await expect.poll(() => page.locator(`tr[data-run-id="${waiting.runId}"] td.note`).innerText()).toMatch(/^Due, waiting for a slot/);
    await lease.release();

    await page.goto(`${rt.url}/#/flows`);
    const limits = page.locator('[data-flow="fc-dash@1"] [data-testid="flow-limits"]');
    await limits.waitFor();
    expect(await limits.innerText()).toBe('concurrency 1 executing per key · rate 5 per 1000 ms');
    expect(pageErrors).toEqual([]);
  });
});
