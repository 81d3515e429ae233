/**
 * The dashboard's workers page and the run page's trace link, in headless Chromium: the
 * runtime's own worker live, a worker gone silent shown so, and the runs due for a flow no live
 * worker serves; a run links to its trace when the server has a trace URL template. Screenshot:
 * test-output/dashboard-workers.png. Skipped without /usr/bin/chromium (see browser.ts).
 */
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { createMemoryStorage } from '../../src/storage/memory.js';
import type { JsonText } from '../../src/storage/types.js';
import { HAVE_BROWSER, OUTPUT_DIR, openPage } from './browser.js';
import { startRuntime } from './helpers.js';

const GIVEN = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe.skipIf(!HAVE_BROWSER)('dashboard: workers and trace links', { timeout: 120_000 }, () => {
  let rt: FlowRuntime;
  let browser: Browser;
  let page: Page;
  let pageErrors: string[];

  beforeAll(async () => {
    const storage = createMemoryStorage();
    rt = await startRuntime({ storage, worker: { heartbeatIntervalMs: 200 }, traceUrl: 'https://traces.example.com/trace/{traceId}' });
    // A worker of another process that served `legacy@1` and died (silent after 1.2 s, dropped after 12 s), leaving a run of it due.
    await storage.saveDefinition({ flowId: 'legacy', version: '1', fingerprint: 'x', graph: '{}' as JsonText });
    await storage.createRun({
      runId: 'legacy-run',
      flowId: 'legacy',
      flowVersion: '1',
      tenantId: null,
      idempotencyKey: null,
      currentNodeId: 'a',
      input: 'null' as JsonText,
      state: '{}' as JsonText,
      branches: JSON.stringify([{ branchId: 'b1', nodeId: 'a', status: 'READY', attempt: 0, recoveries: 0 }]) as JsonText,
      events: [{ type: 'RUN_STARTED', nodeId: 'a' }],
    });
    await storage.recordWorker({
      workerId: 'dead0000-worker',
      host: 'old-box',
      pid: 4242,
      startedAt: new Date(),
      heartbeatMs: 400,
      flowKeys: ['legacy@1'],
      concurrency: 2,
      inFlight: 1,
    });
    ({ browser, page, pageErrors } = await openPage({ width: 1280, height: 800 }));
  });

  afterAll(async () => {
    await browser?.close();
    await rt?.close();
  });

  it('lists the live worker and the silent one, and the runs no live worker serves', async () => {
    await page.goto(`${rt.url}/#/workers`);
    const live = page.locator(`[data-worker="${rt.worker!.id}"]`);
    await live.waitFor();
    expect(await live.locator('[data-testid="worker-status"]').innerText()).toBe('live');
    expect(await live.innerText()).toContain('demo-greeting@1.0.0');
    const dead = page.locator('[data-worker="dead0000-worker"]');
    await expect.poll(() => dead.locator('[data-testid="worker-status"]').innerText(), { timeout: 10_000 }).toBe('silent');
    expect(await dead.innerText()).toContain('old-box');
    const unserved = page.locator('[data-testid="unserved"] [data-flow="legacy@1"]');
    await unserved.waitFor();
    expect(await unserved.innerText()).toMatch(/legacy@1\s+1\s+\d+ s/);
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: `${OUTPUT_DIR}dashboard-workers.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it('links a run to its trace', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'demo-greeting', version: '1.0.0', input: { name: 'trace' }, traceparent: GIVEN });
    await page.goto(`${rt.url}/#/runs/${runId}`);
    const link = page.locator('[data-testid="trace"] a');
    await link.waitFor();
    expect(await link.getAttribute('href')).toBe('https://traces.example.com/trace/4bf92f3577b34da6a3ce929d0e0e4736');
    expect(pageErrors).toEqual([]);
  });
});
