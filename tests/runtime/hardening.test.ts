/**
 * The runtime attacked as a hostile web page, a crafted client and a careless operator would
 * (issue 12 §1): reserved state keys, cross-site and DNS-rebinding requests in no-token mode,
 * /health leaking and lying, crafted cursors, Fastify's own errors, slow bodies, inexact numbers,
 * `__proto__` keys, weak tokens, and a second cancel. Each answer has the one error shape.
 */
import { request as httpRequest } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FlowEngine } from '../../src/flow-engine.js';
import { RESERVED_STATE_KEYS } from '../../src/engine/reserved-keys.js';
import { StorageError } from '../../src/errors.js';
import { buildApiServer, runFlowRuntime, type FlowRuntime } from '../../src/runtime/index.js';
import { demoFlows } from '../../src/runtime/demo-flows.js';
import { firstInexactNumber, parseExactJson } from '../../src/runtime/exact-json.js';
import { createMemoryStorage } from '../../src/storage/memory.js';
import { createPostgresStorage } from '../../src/storage/postgres.js';
import type { FlowStorage } from '../../src/storage/types.js';
import { HAVE_PG, TEST_DATABASE_URL, createTestSchema } from '../helpers/pg.js';
import { http, startRuntime, waitFor, waitForStatus, type HttpResult } from './helpers.js';

const TOKEN = 'a-token-of-sufficient-length-42';
let rt: FlowRuntime;
const call = (method: string, path: string, init?: Parameters<typeof http>[3]) => http(rt.url, method, path, init);
const port = (runtime: FlowRuntime) => Number(new URL(runtime.url).port);

function expectError(res: { status: number; body: any; text: string }, status: number, code: string, message?: RegExp) {
  expect(res.status, res.text).toBe(status);
  expect(res.body).toEqual({ error: { code, message: expect.any(String) } });
  if (message) expect(res.body.error.message).toMatch(message);
}

/** A request with headers fetch() will not let us set (Host), through node:http. */
function rawRequest(runtime: FlowRuntime, method: string, path: string, headers: Record<string, string>, body?: string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: port(runtime), method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch {
          parsed = null;
        }
        resolve({ status: res.statusCode!, body: parsed, headers: new Headers(res.headers as Record<string, string>), text });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Writes raw bytes on a new connection and resolves with everything the server sent until it closed. */
function rawExchange(runtime: FlowRuntime, bytes: string, timeoutMs = 10_000): Promise<{ text: string; ms: number; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let text = '';
    let done = false;
    const socket = connect(port(runtime), '127.0.0.1', () => socket.write(bytes));
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, ms: Date.now() - t0, closedByServer });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (d) => (text += d));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
  });
}

function bodyOf(httpText: string): any {
  return JSON.parse(httpText.slice(httpText.indexOf('\r\n\r\n') + 4));
}

async function parkedApprovalRun(runtime: FlowRuntime = rt): Promise<string> {
  const { runId } = await runtime.engine.startRun({ flowId: 'demo-approval', version: '1.0.0', input: { amount: 3 } });
  await runtime.engine.runToCompletion(runId);
  expect((await runtime.engine.getRun(runId))!.status).toBe('WAITING');
  return runId;
}

beforeAll(async () => {
  rt = await startRuntime();
});
afterAll(async () => {
  await rt.close();
});

describe('reserved state keys', () => {
  it('refuses initialState with _resumePayload over HTTP: the approval cannot be skipped', async () => {
    const before = (await rt.engine.listRuns({ limit: 1000 })).runs.length;
    const res = await call('POST', '/v1/runs/start', {
      json: { flowId: 'demo-approval', version: '1.0.0', input: { amount: 5 }, initialState: { _resumePayload: { approved: true } } },
    });
    expectError(res, 400, 'INVALID_ARGUMENT', /"_resumePayload" is reserved/);
    expect((await rt.engine.listRuns({ limit: 1000 })).runs.length).toBe(before);
  });

  it('refuses it in engine.startRun with a typed error naming the key', async () => {
    expect(RESERVED_STATE_KEYS).toContain('_resumePayload');
    const engine = new FlowEngine({ storage: createMemoryStorage() });
    try {
      for (const def of demoFlows) await engine.registerDefinition(def);
      for (const key of RESERVED_STATE_KEYS) {
        await expect(engine.startRun({ flowId: 'demo-approval', version: '1.0.0', input: null, initialState: { ok: 1, [key]: null } })).rejects.toMatchObject({
          name: 'InvalidArgumentError',
          code: 'INVALID_ARGUMENT',
          message: expect.stringContaining(JSON.stringify(key)),
        });
      }
      expect((await engine.listRuns()).runs).toEqual([]);
      // Other keys, and the reserved name deeper down, are ordinary state; the approval still waits.
      const { runId } = await engine.startRun({ flowId: 'demo-approval', version: '1.0.0', input: null, initialState: { note: { _resumePayload: 1 } } });
      expect((await engine.runToCompletion(runId)).status).toBe('WAITING');
      const resumed = await engine.resumeRun(runId, { approved: true });
      expect(resumed.status).not.toBe('WAITING');
      const types = (await engine.getTimeline(runId)).map((e) => e.type);
      expect(types).toEqual(expect.arrayContaining(['RUN_WAITING', 'RUN_RESUMED']));
    } finally {
      await engine.close();
    }
  });
});

describe('no token: other web pages and other host names', () => {
  it('refuses a cross-site no-cors POST (no body, foreign Origin) and writes nothing', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'demo-greeting', version: '1.0.0', input: null });
    const parked = await parkedApprovalRun();
    const events = (await rt.engine.getTimeline(parked)).length;
    // What fetch(url, { method: 'POST', mode: 'no-cors' }) from another origin sends.
    expectError(await call('POST', `/v1/runs/${runId}/cancel`, { headers: { origin: 'http://evil.example' } }), 403, 'FORBIDDEN_ORIGIN');
    expectError(await call('POST', `/v1/runs/${parked}/resume`, { headers: { origin: 'http://evil.example' } }), 403, 'FORBIDDEN_ORIGIN');
    // Even with a JSON body (a preflighted request whose preflight the page ignored), or a file: page.
    expectError(await call('POST', `/v1/runs/${runId}/cancel`, { json: {}, headers: { origin: 'null' } }), 403, 'FORBIDDEN_ORIGIN');
    expectError(await call('GET', '/v1/runs', { headers: { origin: `http://localhost.evil.example:${port(rt)}` } }), 403, 'FORBIDDEN_ORIGIN');
    expect((await rt.engine.getRun(runId))!.status).toBe('RUNNING');
    expect((await rt.engine.getRun(parked))!.status).toBe('WAITING');
    expect((await rt.engine.getTimeline(parked)).length).toBe(events);
  });

  it('refuses bodyless and non-JSON POSTs even without an Origin (415), and writes nothing', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'demo-greeting', version: '1.0.0', input: null });
    const parked = await parkedApprovalRun();
    const events = (await rt.engine.getTimeline(parked)).length;
    expectError(await call('POST', `/v1/runs/${runId}/cancel`), 415, 'UNSUPPORTED_MEDIA_TYPE', /no body was sent/);
    expectError(await call('POST', `/v1/runs/${runId}/tick`), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await call('POST', `/v1/runs/${parked}/resume`), 415, 'UNSUPPORTED_MEDIA_TYPE');
    // The content types an HTML form or a simple cross-site request can use.
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      expectError(await call('POST', `/v1/runs/${parked}/resume`, { raw: '{"approved":true}', contentType }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
    expectError(await call('POST', `/v1/runs/${parked}/resume`, { raw: '' }), 400, 'MALFORMED_JSON', /empty/);
    expect((await rt.engine.getRun(runId))!.status).toBe('RUNNING');
    expect((await rt.engine.getRun(parked))!.status).toBe('WAITING');
    expect((await rt.engine.getTimeline(parked)).length).toBe(events);
  });

  it('accepts its own origin, and JSON bodies (tick takes {})', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'demo-greeting', version: '1.0.0', input: null });
    const ticked = await call('POST', `/v1/runs/${runId}/tick`, { json: {}, headers: { origin: rt.url } });
    expect(ticked.status, ticked.text).toBe(200);
    expectError(await call('POST', `/v1/runs/${runId}/tick`, { json: { force: true } }), 400, 'INVALID_REQUEST', /unknown property "force"/);
    const cancelled = await call('POST', `/v1/runs/${runId}/cancel`, { json: {}, headers: { origin: rt.url } });
    expect(cancelled.status, cancelled.text).toBe(200);
  });

  it('answers only loopback Host names (DNS rebinding), on every route', async () => {
    for (const path of ['/v1/runs', '/v1/flows', '/health', '/', '/openapi.json']) {
      const res = await rawRequest(rt, 'GET', path, { host: `rebind.evil.example:${port(rt)}` });
      expectError(res, 403, 'FORBIDDEN_HOST');
    }
    expectError(await rawRequest(rt, 'GET', '/v1/runs', { host: `192.168.1.20:${port(rt)}` }), 403, 'FORBIDDEN_HOST');
    expectError(await rawRequest(rt, 'GET', '/v1/runs', { host: `127.0.0.1.evil.example` }), 403, 'FORBIDDEN_HOST');
    for (const host of [`127.0.0.1:${port(rt)}`, `localhost:${port(rt)}`, `LOCALHOST`, `[::1]:${port(rt)}`, `app.localhost:${port(rt)}`]) {
      expect((await rawRequest(rt, 'GET', '/v1/flows', { host })).status, host).toBe(200);
    }
  });

  it('with a token, any Host is answered (the token protects it), but other origins are still refused', async () => {
    const secured = await startRuntime({ apiToken: TOKEN });
    try {
      const res = await rawRequest(secured, 'GET', '/v1/flows', { host: 'flows.example.com', authorization: `Bearer ${TOKEN}` });
      expect(res.status, res.text).toBe(200);
      expectError(await rawRequest(secured, 'GET', '/v1/flows', { host: 'flows.example.com' }), 401, 'UNAUTHORIZED');
      expectError(await http(secured.url, 'GET', '/v1/flows', { token: TOKEN, headers: { origin: 'http://evil.example' } }), 403, 'FORBIDDEN_ORIGIN');
    } finally {
      await secured.close();
    }
  });

  it('with allowInsecureBind (an authenticating proxy in front), any Host is answered', async () => {
    const proxied = await startRuntime({ allowInsecureBind: true });
    try {
      expect((await rawRequest(proxied, 'GET', '/v1/flows', { host: 'flows.internal.example' })).status).toBe(200);
    } finally {
      await proxied.close();
    }
  });
});

/** A memory store that can be switched "down": every call then fails as a lost database would. */
function failingStorage(): { storage: FlowStorage; setDown(down: boolean): void } {
  const inner = createMemoryStorage();
  let down = false;
  const secret = 'getRun failed on postgres://alice@db.internal.example:5432/payroll (ECONNREFUSED)';
  const storage = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || ['close', 'onWake', 'init'].includes(prop as string)) return typeof value === 'function' ? value.bind(target) : value;
      return (...args: unknown[]) => {
        if (down) return Promise.reject(new StorageError('STORAGE_ERROR', `${String(prop)}: ${secret}`, { retryable: true }));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { storage, setDown: (d) => void (down = d) };
}

describe('/health', () => {
  it('reports the store down (503) with every error message masked', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const { storage, setDown } = failingStorage();
    const sick = await startRuntime({ storage, worker: { pollIntervalMs: 20 } });
    try {
      const healthy = await http(sick.url, 'GET', '/health');
      expect(healthy.status).toBe(200);
      expect(healthy.body).toMatchObject({ status: 'ok', storage: { kind: 'memory', status: 'up' } });
      setDown(true);
      // The worker's polls fail too: its lastError is what leaked the connection target before.
      await waitFor(async () => sick.worker!.status().lastError, 'the worker to record an error');
      const res = await http(sick.url, 'GET', '/health');
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({
        status: 'unavailable',
        storage: { kind: 'memory', status: 'down', error: { code: 'STORAGE_ERROR', message: 'Internal error (STORAGE_ERROR)' } },
        worker: { lastError: { code: 'STORAGE_ERROR', message: 'Internal error (STORAGE_ERROR)', at: expect.any(String) } },
      });
      for (const secret of ['alice', 'db.internal', 'payroll', 'postgres://', 'ECONNREFUSED']) expect(res.text).not.toContain(secret);
      setDown(false);
      await waitFor(async () => (await http(sick.url, 'GET', '/health')).status === 200, 'the store to be reported up again');
    } finally {
      await sick.close();
      errors.mockRestore();
    }
  });

  it.skipIf(!HAVE_PG)('reports a real Postgres that went away as down, without naming user, host or database', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    // A TCP proxy in front of Postgres: closing it is the database going away.
    const sockets = new Set<Socket>();
    const target = new URL(TEST_DATABASE_URL);
    const proxy = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => s.destroy());
        s.on('close', () => sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyUrl = new URL(TEST_DATABASE_URL);
    proxyUrl.hostname = '127.0.0.1';
    proxyUrl.port = String((proxy.address() as { port: number }).port);
    const schema = await createTestSchema('flow_health');
    const pgRt = await startRuntime({
      storage: createPostgresStorage({ connectionString: proxyUrl.href, schema: schema.schema }),
      worker: { pollIntervalMs: 50 },
    });
    try {
      expect((await http(pgRt.url, 'GET', '/health')).body).toMatchObject({ status: 'ok', storage: { kind: 'postgres', status: 'up' } });
      await new Promise<void>((resolve) => proxy.close(() => resolve()) && sockets.forEach((s) => s.destroy()));
      const res = await waitFor(async () => {
        const r = await http(pgRt.url, 'GET', '/health');
        return r.status === 503 && r.body.worker.lastError ? r : null;
      }, '/health to report the store down');
      expect(res.body).toMatchObject({
        status: 'unavailable',
        storage: { kind: 'postgres', status: 'down', error: { message: expect.stringMatching(/^Internal error \(/) } },
      });
      const user = decodeURIComponent(target.username) || 'postgres';
      for (const secret of [`${user}@`, `127.0.0.1:${proxyUrl.port}`, target.pathname, 'ECONNREFUSED', 'postgres://']) expect(res.text).not.toContain(secret);
    } finally {
      await pgRt.close().catch(() => {});
      await schema.drop();
      errors.mockRestore();
    }
  });
});

describe('crafted list cursors', () => {
  const cursors = ['1e300:x', '-9e15:x', 'NaN:x', 'Infinity:x', '5:x\u0000y'].map((text) => [text, Buffer.from(text, 'utf8').toString('base64url')]);

  it('answer 400 INVALID_ARGUMENT on the memory store', async () => {
    for (const [, cursor] of cursors) expectError(await call('GET', `/v1/runs?cursor=${cursor}`), 400, 'INVALID_ARGUMENT', /cursor/);
  });

  it.skipIf(!HAVE_PG)('answer 400 INVALID_ARGUMENT on Postgres, with nothing logged as a failure', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const schema = await createTestSchema('flow_cursor');
    const pgRt = await startRuntime({ storage: createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: schema.schema }) });
    try {
      for (const [text, cursor] of cursors) {
        const res = await http(pgRt.url, 'GET', `/v1/runs?cursor=${cursor}`);
        expect(res.status, `${JSON.stringify(text)}: ${res.text}`).toBe(400);
        expect(res.body.error.code).toBe('INVALID_ARGUMENT');
      }
      // A cursor the server produced still pages.
      for (let i = 0; i < 3; i++) await pgRt.engine.startRun({ flowId: 'demo-greeting', version: '1.0.0', input: null });
      const first = await http(pgRt.url, 'GET', '/v1/runs?limit=2');
      const second = await http(pgRt.url, 'GET', `/v1/runs?limit=2&cursor=${first.body.nextCursor}`);
      expect(second.status).toBe(200);
      expect(second.body.runs).toHaveLength(1);
      expect(errors).not.toHaveBeenCalled();
    } finally {
      await pgRt.close();
      await schema.drop();
      errors.mockRestore();
    }
  });
});

describe("Fastify's own errors", () => {
  it('have the documented shape: bad percent-encoding, long ids, long paths, unknown methods', async () => {
    expectError(await call('GET', '/v1/runs/%FF'), 400, 'BAD_URL', /not a valid URL/);
    expectError(await call('POST', '/v1/runs/%FF/tick', { json: {} }), 400, 'BAD_URL');
    expectError(await call('GET', `/v1/runs/${'a'.repeat(101)}`), 404, 'RUN_NOT_FOUND');
    expectError(await call('GET', `/v1/runs/${'a'.repeat(201)}/timeline`), 400, 'INVALID_REQUEST', /200 characters/);
    expectError(await call('GET', `/v1/runs/${'a'.repeat(1000)}`), 414, 'URI_TOO_LONG');
    expectError(await call('OPTIONS', '/v1/runs'), 404, 'NOT_FOUND');
    expectError(await call('PUT', '/v1/runs/start', { json: {} }), 404, 'NOT_FOUND');
  });

  it('come after the token check when the server has one', async () => {
    const secured = await startRuntime({ apiToken: TOKEN });
    try {
      expectError(await http(secured.url, 'GET', '/v1/runs/%FF'), 401, 'UNAUTHORIZED');
      expectError(await http(secured.url, 'GET', `/v1/runs/${'a'.repeat(101)}`), 401, 'UNAUTHORIZED');
      expectError(await http(secured.url, 'GET', `/v1/runs/${'a'.repeat(1000)}`), 401, 'UNAUTHORIZED');
      expectError(await http(secured.url, 'GET', '/v1/runs/%FF', { token: TOKEN }), 400, 'BAD_URL');
    } finally {
      await secured.close();
    }
  });

  it('include requests the HTTP parser rejects', async () => {
    const malformed = await rawExchange(rt, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n');
    expect(malformed.text).toMatch(/^HTTP\/1\.1 400 /);
    expect(bodyOf(malformed.text)).toEqual({ error: { code: 'BAD_REQUEST', message: expect.any(String) } });
    const huge = await rawExchange(rt, `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`);
    expect(huge.text).toMatch(/^HTTP\/1\.1 431 /);
    expect(bodyOf(huge.text)).toEqual({ error: { code: 'HEADERS_TOO_LARGE', message: expect.any(String) } });
  });
});

describe('slow requests', () => {
  it('a body that never finishes gets 408 and the connection closes', async () => {
    const slow = await startRuntime({ requestTimeoutMs: 500 });
    try {
      const res = await rawExchange(
        slow,
        'POST /v1/runs/start HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"flowId"',
        10_000,
      );
      expect(res.closedByServer, `still open after ${res.ms} ms`).toBe(true);
      expect(res.text).toMatch(/^HTTP\/1\.1 408 /);
      expect(bodyOf(res.text)).toEqual({ error: { code: 'REQUEST_TIMEOUT', message: expect.any(String) } });
      expect(res.ms).toBeLessThan(5_000);
      // Headers that never finish too.
      const headers = await rawExchange(slow, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n', 10_000);
      expect(headers.closedByServer).toBe(true);
    } finally {
      await slow.close();
    }
  });

  it('the default request timeout is 30 s, not "never"', () => {
    expect(rt.server.server.requestTimeout).toBe(30_000);
    expect(rt.server.server.headersTimeout).toBeLessThanOrEqual(30_000);
  });
});

describe('numbers JSON cannot hold exactly', () => {
  it('refuses integers beyond 2^53 and out-of-range numbers with INVALID_NUMBER, writing nothing', async () => {
    const before = (await rt.engine.listRuns({ limit: 1000 })).runs.length;
    const start = (input: string) => call('POST', '/v1/runs/start', { raw: `{"flowId":"demo-greeting","version":"1.0.0","input":${input}}` });
    expectError(await start('{"id":12345678901234567890}'), 400, 'INVALID_NUMBER', /12345678901234567890 .*rounded/);
    expectError(await start('[9007199254740993]'), 400, 'INVALID_NUMBER');
    expectError(await start('{"n":-9007199254740992}'), 400, 'INVALID_NUMBER');
    expectError(await start('{"n":1e400}'), 400, 'INVALID_NUMBER', /too large/);
    expectError(await start('{"n":-1E+999}'), 400, 'INVALID_NUMBER');
    expectError(await start('{"n":1e-400}'), 400, 'INVALID_NUMBER', /too small/);
    expect((await rt.engine.listRuns({ limit: 1000 })).runs.length).toBe(before);
    const parked = await parkedApprovalRun();
    expectError(await call('POST', `/v1/runs/${parked}/resume`, { raw: '{"approved":true,"ref":98765432109876543210}' }), 400, 'INVALID_NUMBER');
    expect((await rt.engine.getRun(parked))!.status).toBe('WAITING');
  });

  it('keeps what a float holds: safe integers, floats, exponents, and digits inside strings', async () => {
    const text = '{"max":9007199254740991,"min":-9007199254740991,"f":0.1,"big":1.5e300,"tiny":5e-324,"zero":0e10,"s":"12345678901234567890 \\" 1e400"}';
    const res = await call('POST', '/v1/runs/start', { raw: `{"flowId":"demo-greeting","version":"1.0.0","input":${text}}` });
    expect(res.status, res.text).toBe(201);
    const run = (await call('GET', `/v1/runs/${res.body.runId}`)).body.run;
    expect(run.inputJson).toEqual(JSON.parse(text));
  });

  it('parseExactJson: finds the first inexact literal, outside strings only', () => {
    expect(firstInexactNumber('{"a":"1e400","b":[1,2.5,-3e2]}')).toBeNull();
    expect(firstInexactNumber('{"a\\"":"x\\\\","b":1e999}')).toMatchObject({ literal: '1e999' });
    expect(() => parseExactJson('{"n":18446744073709551615}', '--input')).toThrow(/--input: integer 18446744073709551615/);
    expect(() => parseExactJson('{"n":', 'Body')).toThrow(expect.objectContaining({ code: 'MALFORMED_JSON' }));
  });
});

describe('__proto__ and constructor keys', () => {
  it('are kept as ordinary keys in input, state and payloads (as the README says)', async () => {
    const input = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"x":1}';
    const res = await call('POST', '/v1/runs/start', {
      raw: `{"flowId":"demo-approval","version":"1.0.0","input":${input},"initialState":{"__proto__":{"s":1}}}`,
    });
    expect(res.status, res.text).toBe(201);
    const got = await call('GET', `/v1/runs/${res.body.runId}`);
    expect(got.text).toContain('"__proto__":{"polluted":true}');
    expect(Object.hasOwn(got.body.run.inputJson, '__proto__')).toBe(true);
    expect(got.body.run.inputJson).toEqual(JSON.parse(input));
    expect(Object.hasOwn(got.body.run.stateJson, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await rt.engine.runToCompletion(res.body.runId);
    const resumed = await call('POST', `/v1/runs/${res.body.runId}/resume`, { raw: '{"__proto__":{"approved":true},"approved":false}' });
    expect(resumed.status, resumed.text).toBe(200);
    const timeline = await call('GET', `/v1/runs/${res.body.runId}/timeline`);
    expect(timeline.text).toContain('"payload":{"__proto__":{"approved":true},"approved":false}');
  });

  it('at the top level of a request body, is an unknown property (a true message)', async () => {
    expectError(
      await call('POST', '/v1/runs/start', { raw: '{"flowId":"demo-greeting","version":"1.0.0","__proto__":{}}' }),
      400,
      'INVALID_REQUEST',
      /unknown property "__proto__"/,
    );
  });
});

describe('API tokens', () => {
  it('are checked at start: length, whitespace, control characters — before anything opens', async () => {
    const cases: Array<[string, RegExp]> = [
      ['x', /is 1 characters long; it must have at least 16/],
      ['short-token', /at least 16/],
      [`${TOKEN} `, /whitespace at its end/],
      [` ${TOKEN}`, /whitespace at its start/],
      [`${TOKEN}\n`, /whitespace at its end/],
      ['abcdefgh ijklmnopq', /whitespace at position 9/],
      [`${TOKEN}\u0007x`, /control or non-ASCII/],
      [`${TOKEN}é`, /control or non-ASCII/],
    ];
    for (const [token, message] of cases) {
      const storage = createMemoryStorage();
      await expect(runFlowRuntime({ flows: demoFlows, port: 0, storage, apiToken: token, worker: false }), JSON.stringify(token)).rejects.toMatchObject({
        code: 'INVALID_API_TOKEN',
        message,
      });
      expect(await storage.listDefinitions()).toEqual([]);
      await expect(buildApiServer({ engine: new FlowEngine({ storage }), apiToken: token })).rejects.toMatchObject({ code: 'INVALID_API_TOKEN' });
    }
    // The message never repeats the token.
    await expect(runFlowRuntime({ flows: demoFlows, port: 0, storage: createMemoryStorage(), apiToken: 'hunter2', worker: false })).rejects.toSatisfy(
      (err: Error) => !err.message.includes('hunter2'),
    );
  });

  it('from FLOW_API_TOKEN are checked the same way', async () => {
    const previous = process.env.FLOW_API_TOKEN;
    process.env.FLOW_API_TOKEN = `${TOKEN}\n`;
    try {
      await expect(runFlowRuntime({ flows: demoFlows, port: 0, storage: createMemoryStorage(), worker: false })).rejects.toMatchObject({
        code: 'INVALID_API_TOKEN',
      });
    } finally {
      if (previous === undefined) delete process.env.FLOW_API_TOKEN;
      else process.env.FLOW_API_TOKEN = previous;
    }
  });
});

describe('cancel', () => {
  it('of a run cancelled already is a 409, and keeps the first reason', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'demo-greeting', version: '1.0.0', input: null });
    const first = await call('POST', `/v1/runs/${runId}/cancel`, { json: { reason: 'duplicate order' } });
    expect(first.status).toBe(200);
    expectError(await call('POST', `/v1/runs/${runId}/cancel`, { json: { reason: 'customer asked' } }), 409, 'INVALID_RUN_STATE', /CANCELLED/);
    expectError(await call('POST', `/v1/runs/${runId}/cancel`, { json: {} }), 409, 'INVALID_RUN_STATE');
    const run = await rt.engine.getRun(runId);
    expect(run!.error).toMatchObject({ code: 'CANCELLED', message: 'duplicate order' });
    expect((await rt.engine.getTimeline(runId)).filter((e) => e.type === 'RUN_CANCELLED')).toHaveLength(1);
  });
});

describe('resume of one branch', () => {
  it('passes ?nodeId= to engine.resumeRun, the body still being the whole payload', async () => {
    const parked = await parkedApprovalRun();
    const spy = vi.spyOn(rt.engine, 'resumeRun');
    try {
      const res = await call('POST', `/v1/runs/${parked}/resume?nodeId=approval`, { json: { approved: true } });
      expect(res.status, res.text).toBe(200);
      expect(spy).toHaveBeenCalledWith(parked, { approved: true }, { nodeId: 'approval' });
      expect(res.body.run.stateJson).toMatchObject({ approved: true });
      await waitForStatus(rt, parked, 'RUNNING');
      expectError(await call('POST', `/v1/runs/${parked}/resume?nodeId=`, { json: null }), 400, 'INVALID_REQUEST', /nodeId/);
      expectError(await call('POST', `/v1/runs/${parked}/resume?node=approval`, { json: null }), 400, 'INVALID_REQUEST', /unknown property "node"/);
    } finally {
      spy.mockRestore();
    }
  });

  it('resumes each branch of a run waiting at two nodes; without nodeId it is a 409 AMBIGUOUS_RESUME', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'demo-parallel', version: '1.0.0', input: { contract: 'c-1' } });
    await rt.engine.runToCompletion(runId);
    expect((await rt.engine.getRun(runId))!.status).toBe('WAITING');
    expectError(await call('POST', `/v1/runs/${runId}/resume`, { json: { approved: true } }), 409, 'AMBIGUOUS_RESUME', /legal.*finance|finance.*legal/);
    const legal = await call('POST', `/v1/runs/${runId}/resume?nodeId=legal`, { json: { approved: true } });
    expect(legal.status, legal.text).toBe(200);
    expectError(await call('POST', `/v1/runs/${runId}/resume?nodeId=legal`, { json: { approved: true } }), 409, 'INVALID_RUN_STATE');
    const finance = await call('POST', `/v1/runs/${runId}/resume?nodeId=finance`, { json: { approved: true } });
    expect(finance.status, finance.text).toBe(200);
    const done = await rt.engine.runToCompletion(runId);
    expect(done).toMatchObject({ status: 'COMPLETED', outputsJson: expect.objectContaining({ decide: 'signed' }) });
  });

  it('is documented in the OpenAPI document', async () => {
    const doc = (await call('GET', '/openapi.json')).body;
    const resume = doc.paths['/v1/runs/{runId}/resume'].post;
    expect(resume.parameters).toContainEqual(expect.objectContaining({ name: 'nodeId', in: 'query', required: false }));
    expect(resume.responses['409'].description).toMatch(/AMBIGUOUS_RESUME/);
    expect(doc.paths['/v1/runs/{runId}/cancel'].post.responses['409'].description).toMatch(/CANCELLED/);
    expect(doc.paths['/health'].get.responses['503']).toBeDefined();
  });
});
