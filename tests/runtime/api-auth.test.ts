/**
 * The token gate and the bind guard: with a token every route but /health (and the dashboard's
 * static files) needs `Authorization: Bearer <token>`; no token means no network bind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFlowRuntime, type FlowRuntime } from '../../src/runtime/index.js';
import { assertSafeBind, bearerTokenChecker, isLoopbackHost } from '../../src/runtime/http/auth.js';
import { demoFlows } from '../../src/runtime/demo-flows.js';
import { createMemoryStorage } from '../../src/storage/memory.js';
import { http, startRuntime } from './helpers.js';

const TOKEN = 's3cret-token-with-some-length';
let rt: FlowRuntime;

beforeAll(async () => {
  rt = await startRuntime({ apiToken: TOKEN });
});
afterAll(async () => {
  await rt.close();
});

describe('bearer token', () => {
  const protectedRoutes: Array<[string, string]> = [
    ['GET', '/v1/runs'],
    ['GET', '/v1/flows'],
    ['GET', '/v1/runs/some-id'],
    ['GET', '/v1/runs/some-id/timeline'],
    ['POST', '/v1/runs/start'],
    ['POST', '/v1/runs/some-id/tick'],
    ['POST', '/v1/runs/some-id/resume'],
    ['POST', '/v1/runs/some-id/cancel'],
    ['POST', '/v1/runs/some-id/retry'],
    ['POST', '/v1/runs/some-id/fork'],
    ['POST', '/v1/flows/some-flow/migrate'],
    ['POST', '/v1/events'],
    ['GET', '/v1/schedules'],
    ['GET', '/v1/schedules/some-id'],
    ['PUT', '/v1/schedules/some-id'],
    ['DELETE', '/v1/schedules/some-id'],
    ['POST', '/v1/schedules/some-id/pause'],
    ['POST', '/v1/schedules/some-id/resume'],
    ['POST', '/v1/schedules/some-id/trigger'],
    ['GET', '/openapi.json'],
  ];

  it('answers 401 on every API route without a token, before reading the body', async () => {
    for (const [method, path] of protectedRoutes) {
      const res = await http(rt.url, method, path, method === 'POST' || method === 'PUT' ? { json: { flowId: 'demo-greeting', version: '1.0.0' } } : {});
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.body).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.stringMatching(/Missing Authorization/) } });
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
    expect((await rt.engine.listRuns()).runs).toHaveLength(0);
  });

  it('answers 401 for a wrong token, a wrong scheme or a token of another length', async () => {
    for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, TOKEN, 'Bearer ', `Bearer x`]) {
      const res = await http(rt.url, 'GET', '/v1/runs', { headers: { authorization } });
      expect(res.status, authorization).toBe(401);
      expect(res.body.error.code).toBe('UNAUTHORIZED');
    }
  });

  it('lets the right token through', async () => {
    const started = await http(rt.url, 'POST', '/v1/runs/start', { token: TOKEN, json: { flowId: 'demo-greeting', version: '1.0.0' } });
    expect(started.status).toBe(201);
    expect((await http(rt.url, 'GET', '/v1/runs', { token: TOKEN })).status).toBe(200);
    expect((await http(rt.url, 'GET', `/v1/runs/${started.body.runId}`, { headers: { authorization: `bearer   ${TOKEN}` } })).status).toBe(200);
  });

  it('keeps /health and the dashboard files public (they hold no run data)', async () => {
    expect((await http(rt.url, 'GET', '/health')).status).toBe(200);
    expect((await http(rt.url, 'GET', '/')).status).toBe(200);
    expect((await http(rt.url, 'GET', '/assets/app.js')).status).toBe(200);
    expect((await http(rt.url, 'GET', '/vendor/dagre.js')).status).toBe(200);
  });

  it('compares digests of equal length, whatever the given length', () => {
    const check = bearerTokenChecker('abc');
    expect(check('Bearer abc')).toBe(true);
    expect(check('Bearer abcd')).toBe(false);
    expect(check('Bearer ab')).toBe(false);
    expect(check('Bearer ' + 'a'.repeat(10_000))).toBe(false);
    expect(check(undefined)).toBe(false);
    expect(check('abc')).toBe(false);
  });

  it('takes the token from FLOW_API_TOKEN when no apiToken is given', async () => {
    const previous = process.env.FLOW_API_TOKEN;
    process.env.FLOW_API_TOKEN = 'from-env-0123456789abcdef';
    const envRt = await runFlowRuntime({ flows: demoFlows, port: 0, storage: createMemoryStorage(), worker: false });
    try {
      expect((await http(envRt.url, 'GET', '/v1/flows')).status).toBe(401);
      expect((await http(envRt.url, 'GET', '/v1/flows', { token: 'from-env-0123456789abcdef' })).status).toBe(200);
    } finally {
      await envRt.close();
      if (previous === undefined) delete process.env.FLOW_API_TOKEN;
      else process.env.FLOW_API_TOKEN = previous;
    }
  });
});

describe('bind guard', () => {
  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', 'example.com', '128.0.0.1']) expect(isLoopbackHost(host), host).toBe(false);
  });

  it('refuses a non-loopback bind without a token, before opening anything', async () => {
    const storage = createMemoryStorage();
    await expect(runFlowRuntime({ flows: demoFlows, host: '0.0.0.0', port: 0, storage, apiToken: '', worker: false })).rejects.toMatchObject({
      code: 'INSECURE_BIND',
      message: expect.stringMatching(/FLOW_API_TOKEN/),
    });
    expect(await storage.listDefinitions()).toEqual([]);
  });

  it('allows it with a token or with allowInsecureBind', () => {
    expect(() => assertSafeBind('0.0.0.0', 'token', false)).not.toThrow();
    expect(() => assertSafeBind('0.0.0.0', undefined, true)).not.toThrow();
    expect(() => assertSafeBind('127.0.0.1', undefined, false)).not.toThrow();
    expect(() => assertSafeBind('::', undefined, false)).toThrow(/Refusing to listen on ::/);
  });
});
