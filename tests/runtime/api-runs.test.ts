/**
 * The REST API's routes over a real listening server: start, tick, resume, cancel, get,
 * timeline, list (filters and paging), flows, health, OpenAPI and the dashboard's files.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { flow } from '../../src/definitions/builder.js';
import { demoFlows } from '../../src/runtime/demo-flows.js';
import { ISO_DATE, http, startRuntime, waitForStatus } from './helpers.js';

let rt: FlowRuntime;
const call = (method: string, path: string, init?: Parameters<typeof http>[3]) => http(rt.url, method, path, init);
const start = async (flowId: string, input: unknown = {}, extra: Record<string, unknown> = {}) => {
  const res = await call('POST', '/v1/runs/start', { json: { flowId, version: '1.0.0', input, ...extra } });
  expect(res.status, res.text).toBe(201);
  return res.body.runId as string;
};

/** Fails its first attempt and retries 30 s later. */
const slowRetryFlow = flow('slow-retry', '1.0.0')
  .entry('flaky')
  .node('flaky', (ctx) => (ctx.meta.attempt === 1 ? { status: 'error', error: { code: 'BUSY', message: 'try later', retryable: true } } : { status: 'ok' }), {
    retry: { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 30_000 },
  })
  .build();

beforeAll(async () => {
  rt = await startRuntime({ flows: [...demoFlows, slowRetryFlow] });
});
afterAll(async () => {
  await rt.close();
});

describe('runs', () => {
  it('starts a run (201), and returns the same run for a repeated idempotency key (200)', async () => {
    const first = await call('POST', '/v1/runs/start', {
      json: { flowId: 'demo-greeting', version: '1.0.0', input: { name: 'Ada' }, idempotencyKey: 'greet-ada' },
    });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ runId: expect.any(String), status: 'RUNNING', created: true });
    const again = await call('POST', '/v1/runs/start', {
      json: { flowId: 'demo-greeting', version: '1.0.0', input: { name: 'Ada' }, idempotencyKey: 'greet-ada' },
    });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ runId: first.body.runId, status: 'RUNNING', created: false });
  });

  it('gets a run with the seed field names and ISO dates', async () => {
    const runId = await start('demo-greeting', { name: 'Bo' }, { tenantId: 'acme', initialState: { seeded: true } });
    const res = await call('GET', `/v1/runs/${runId}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const run = res.body.run;
    expect(run).toMatchObject({ runId, flowId: 'demo-greeting', flowVersion: '1.0.0', tenantId: 'acme', status: 'RUNNING', currentNodeId: 'compose' });
    expect(run.inputJson).toEqual({ name: 'Bo' });
    expect(run.stateJson).toEqual({ seeded: true });
    expect(run.outputsJson).toEqual({});
    expect(run.createdAt).toMatch(ISO_DATE);
    expect(run.updatedAt).toMatch(ISO_DATE);
    expect(run).not.toHaveProperty('dueInMs');
  });

  it('ticks one node at a time until the run completes', async () => {
    const runId = await start('demo-greeting', { name: 'Cy' });
    const nodes: string[] = [];
    let status = 'RUNNING';
    while (status === 'RUNNING') {
      const res = await call('POST', `/v1/runs/${runId}/tick`, { json: {} });
      expect(res.status).toBe(200);
      status = res.body.run.status;
      nodes.push(res.body.run.currentNodeId);
    }
    expect(nodes).toEqual(['shout', 'deliver', null]);
    expect(status).toBe('COMPLETED');
    const run = (await call('GET', `/v1/runs/${runId}`)).body.run;
    expect(run.stateJson).toEqual({ delivered: 'HELLO, CY!' });
  });

  it('returns a run in retry backoff unchanged instead of holding the request', async () => {
    const runId = await start('slow-retry');
    const failed = await call('POST', `/v1/runs/${runId}/tick`, { json: {} });
    expect(failed.body.run).toMatchObject({ status: 'RUNNING', currentNodeId: 'flaky', attempt: 1, nextAttemptAt: expect.stringMatching(ISO_DATE) });
    const startedAt = Date.now();
    const early = await call('POST', `/v1/runs/${runId}/tick`, { json: {} });
    // engine.tick() would have slept the 30 s backoff.
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(early.body.run).toEqual(failed.body.run);
  });

  it('resumes a waiting run with the request body as payload', async () => {
    const runId = await start('demo-approval', { amount: 7 });
    await call('POST', `/v1/runs/${runId}/tick`, { json: {} });
    const parked = await call('POST', `/v1/runs/${runId}/tick`, { json: {} });
    expect(parked.body.run).toMatchObject({ status: 'WAITING', currentNodeId: 'approval', waitReason: expect.stringContaining('manager') });

    const resumed = await call('POST', `/v1/runs/${runId}/resume`, { json: { approved: true } });
    expect(resumed.status).toBe(200);
    expect(resumed.body.run).toMatchObject({ status: 'RUNNING', currentNodeId: 'fulfil' });
    expect(resumed.body.run.stateJson).toMatchObject({ approved: true });
    const done = await call('POST', `/v1/runs/${runId}/tick`, { json: {} });
    expect(done.body.run).toMatchObject({ status: 'COMPLETED', outputsJson: expect.objectContaining({ fulfil: 'Paid 7' }) });
  });

  it('resumes with a null payload', async () => {
    const runId = await start('demo-approval', { amount: 1 });
    await call('POST', `/v1/runs/${runId}/tick`, { json: {} });
    await call('POST', `/v1/runs/${runId}/tick`, { json: {} });
    const res = await call('POST', `/v1/runs/${runId}/resume`, { json: null });
    expect(res.status).toBe(200);
    // A null payload is no decision: the node waits again.
    expect(res.body.run.status).toBe('WAITING');
  });

  it('cancels a run with or without a reason', async () => {
    const a = await start('demo-greeting');
    const res = await call('POST', `/v1/runs/${a}/cancel`, { json: { reason: 'duplicate' } });
    expect(res.status).toBe(200);
    expect(res.body.run).toMatchObject({ status: 'CANCELLED', error: { code: 'CANCELLED', message: 'duplicate' } });
    // A cancelled run has no live branch, in the resource and in the list.
    expect(res.body.run).toMatchObject({ branches: [], nextAttemptAt: null, waitReason: null });
    const listed = await call('GET', `/v1/runs?status=CANCELLED&flowId=demo-greeting`);
    expect(listed.body.runs.find((r: { runId: string }) => r.runId === a)).toMatchObject({ branches: [] });
    const b = await start('demo-greeting');
    const bare = await call('POST', `/v1/runs/${b}/cancel`, { json: {} });
    expect(bare.status).toBe(200);
    expect(bare.body.run.status).toBe('CANCELLED');
  });

  it('returns the timeline in order with ISO times, attempts and durations', async () => {
    const runId = await start('demo-greeting');
    await rt.engine.runToCompletion(runId);
    const res = await call('GET', `/v1/runs/${runId}/timeline`);
    expect(res.status).toBe(200);
    expect(res.body.runId).toBe(runId);
    const events = res.body.events as Array<{ seq: number; at: string; type: string; attempt: number | null; durationMs: number | null }>;
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events[0].type).toBe('RUN_STARTED');
    expect(events.at(-1)!.type).toBe('RUN_COMPLETED');
    for (const e of events) expect(e.at).toMatch(ISO_DATE);
    const finished = events.filter((e) => e.type === 'NODE_FINISHED');
    expect(finished).toHaveLength(3);
    for (const e of finished) expect(e).toMatchObject({ attempt: 1, durationMs: expect.any(Number) });
  });

  it('lists runs newest first with status, flow and tenant filters and cursor paging', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await start('demo-retry', {}, { tenantId: 'paging' }));
    const page1 = await call('GET', '/v1/runs?tenantId=paging&limit=3');
    expect(page1.status).toBe(200);
    expect(page1.body.runs.map((r: { runId: string }) => r.runId)).toEqual(ids.slice(-3).reverse());
    expect(page1.body.runs[0]).not.toHaveProperty('stateJson');
    expect(page1.body.nextCursor).toEqual(expect.any(String));
    const page2 = await call('GET', `/v1/runs?tenantId=paging&limit=3&cursor=${encodeURIComponent(page1.body.nextCursor)}`);
    expect(page2.body.runs.map((r: { runId: string }) => r.runId)).toEqual(ids.slice(0, 2).reverse());
    expect(page2.body.nextCursor).toBeNull();

    await call('POST', `/v1/runs/${ids[0]}/cancel`, { json: {} });
    const cancelled = await call('GET', '/v1/runs?status=CANCELLED&flowId=demo-retry&tenantId=paging');
    expect(cancelled.body.runs.map((r: { runId: string }) => r.runId)).toEqual([ids[0]]);
    const both = await call('GET', '/v1/runs?status=CANCELLED,RUNNING&flowId=demo-retry&tenantId=paging');
    expect(both.body.runs).toHaveLength(5);
    const otherFlow = await call('GET', '/v1/runs?flowId=demo-greeting&tenantId=paging');
    expect(otherFlow.body.runs).toEqual([]);
  });
});

describe('flows, health, OpenAPI, dashboard', () => {
  it('lists flows with their graphs', async () => {
    const res = await call('GET', '/v1/flows');
    expect(res.status).toBe(200);
    const approval = res.body.flows.find((f: { flowId: string }) => f.flowId === 'demo-approval');
    expect(approval).toMatchObject({ version: '1.0.0', registered: true, fingerprint: expect.any(String), createdAt: expect.stringMatching(ISO_DATE) });
    expect(approval.definitionJson.entry).toBe('request');
    expect(approval.definitionJson.nodes.map((n: { id: string }) => n.id)).toEqual(['approval', 'fulfil', 'reject', 'request']);
    expect(approval.definitionJson.edges).toContainEqual(expect.objectContaining({ from: 'approval', to: 'fulfil', conditional: true }));
  });

  it('reports health: storage kind, durability and worker status', async () => {
    const res = await call('GET', '/health');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', storage: { kind: 'memory', durable: false }, worker: { status: 'disabled' }, flows: demoFlows.length + 1 });
    const withWorker = await startRuntime({ worker: true });
    try {
      const health = await waitForHealthWorker(withWorker.url);
      expect(health.worker).toMatchObject({ status: 'running', concurrency: expect.any(Number), counters: expect.any(Object) });
      // The worker advances runs by itself.
      const { body } = await http(withWorker.url, 'POST', '/v1/runs/start', { json: { flowId: 'demo-greeting', version: '1.0.0' } });
      await waitForStatus(withWorker, body.runId, 'COMPLETED');
    } finally {
      await withWorker.close();
    }
  });

  it('serves an OpenAPI 3.1 document describing every route', async () => {
    const res = await call('GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    expect(Object.keys(res.body.paths).sort()).toEqual(
      [
        '/health',
        '/metrics',
        '/v1/events',
        '/v1/flows',
        '/v1/flows/{flowId}/migrate',
        '/v1/runs',
        '/v1/runs/start',
        '/v1/runs/{runId}',
        '/v1/runs/{runId}/cancel',
        '/v1/runs/{runId}/fork',
        '/v1/runs/{runId}/resume',
        '/v1/runs/{runId}/retry',
        '/v1/runs/{runId}/tick',
        '/v1/runs/{runId}/timeline',
        '/v1/schedules',
        '/v1/schedules/{scheduleId}',
        '/v1/schedules/{scheduleId}/pause',
        '/v1/schedules/{scheduleId}/resume',
        '/v1/schedules/{scheduleId}/trigger',
        '/v1/workers',
      ].sort(),
    );
    expect(res.body.paths['/v1/runs/start'].post.requestBody.content['application/json'].schema.required).toEqual(['flowId', 'version']);
  });

  it('serves the dashboard and its vendored libraries without a CDN', async () => {
    const index = await call('GET', '/');
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/text\/html/);
    expect(index.text).toContain('"@dagrejs/dagre": "/vendor/dagre.js"');
    expect(index.text).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/);
    // Only the server's own scripts may run: the inline import map is allowed by its hash.
    expect(index.headers.get('content-security-policy')).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/]+=*'/);
    for (const path of ['/assets/app.js', '/assets/styles.css', '/vendor/preact.js', '/vendor/preact-hooks.js', '/vendor/htm.js', '/vendor/dagre.js']) {
      const res = await call('GET', path);
      expect(res.status, path).toBe(200);
      expect(res.text.length, path).toBeGreaterThan(100);
    }
    expect((await call('GET', '/assets/../package.json')).status).toBe(404);
  });
});

async function waitForHealthWorker(url: string) {
  for (let i = 0; i < 100; i++) {
    const res = await http(url, 'GET', '/health');
    if (res.body.worker.status === 'running') return res.body;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('worker never reported running');
}
