/**
 * /v1/schedules over a real server: PUT creates (201) and replaces (200), GET one and the list
 * with next fire times, pause / resume / trigger, DELETE; bad input answered with the engine's
 * code and nothing written; runs listed by schedule; the routes in the OpenAPI document. And a
 * worker behind the server firing a one-second schedule.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { ISO_DATE, http, startRuntime } from './helpers.js';

let rt: FlowRuntime;
const call = (method: string, path: string, init?: Parameters<typeof http>[3]) => http(rt.url, method, path, init);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  rt = await startRuntime();
});
afterAll(async () => {
  await rt.close();
});

describe('schedules over HTTP', () => {
  it('PUT creates and replaces; GET shows the schedule and its next fire times; the list has it', async () => {
    const created = await call('PUT', '/v1/schedules/nightly', {
      json: { flowId: 'demo-greeting', cron: '0 2 * * *', timezone: 'Europe/Berlin', input: { name: 'night' } },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body.schedule).toMatchObject({
      scheduleId: 'nightly',
      flowId: 'demo-greeting',
      version: null,
      cron: '0 2 * * *',
      timezone: 'Europe/Berlin',
      input: { name: 'night' },
      overlap: 'skip',
      catchup: 'latest',
      paused: false,
      nextFireAt: ISO_DATE,
      createdAt: ISO_DATE,
    });
    const upcoming: string[] = created.body.schedule.upcoming;
    expect(upcoming).toHaveLength(5);
    expect(upcoming[0]).toBe(created.body.schedule.nextFireAt);
    // 02:00 in Berlin: 01:00 or 00:00 UTC, a day apart.
    for (const at of upcoming) expect(at).toMatch(/T0[01]:00:00\.000Z$/);

    const replaced = await call('PUT', '/v1/schedules/nightly', { json: { flowId: 'demo-greeting', every: '1h', overlap: 'bufferOne' } });
    expect(replaced.status).toBe(200);
    expect(replaced.body.schedule).toMatchObject({ cron: null, every: 3_600_000, overlap: 'bufferOne' });
    expect((await call('GET', '/v1/schedules/nightly')).body.schedule).toMatchObject({ every: 3_600_000 });
    const list = await call('GET', '/v1/schedules?flowId=demo-greeting');
    expect(list.body.schedules.map((s: { scheduleId: string }) => s.scheduleId)).toEqual(['nightly']);
    expect((await call('GET', '/v1/schedules?flowId=demo-approval')).body.schedules).toEqual([]);
  });

  it('pause, resume, trigger and delete', async () => {
    await call('PUT', '/v1/schedules/hourly', { json: { flowId: 'demo-greeting', every: '1h', input: { name: 'tick' } } });
    const paused = await call('POST', '/v1/schedules/hourly/pause', { json: {} });
    expect(paused.status).toBe(200);
    expect(paused.body.schedule).toMatchObject({ paused: true, nextFireAt: null, upcoming: [] });
    const resumed = await call('POST', '/v1/schedules/hourly/resume', { json: {} });
    expect(resumed.body.schedule).toMatchObject({ paused: false, nextFireAt: ISO_DATE });

    const triggered = await call('POST', '/v1/schedules/hourly/trigger', { json: {} });
    expect(triggered.status).toBe(201);
    const runs = await call('GET', '/v1/runs?scheduleId=hourly');
    expect(runs.body.runs).toEqual([
      expect.objectContaining({ runId: triggered.body.runId, scheduleId: 'hourly', scheduledAt: expect.stringMatching(ISO_DATE) }),
    ]);
    expect((await call('GET', `/v1/runs/${triggered.body.runId}`)).body.run).toMatchObject({ scheduleId: 'hourly', inputJson: { name: 'tick' } });

    expect((await call('DELETE', '/v1/schedules/hourly')).body).toEqual({ deleted: 'hourly' });
    for (const [method, path, json] of [
      ['GET', '/v1/schedules/hourly', undefined],
      ['DELETE', '/v1/schedules/hourly', undefined],
      ['POST', '/v1/schedules/hourly/pause', {}],
      ['POST', '/v1/schedules/hourly/trigger', {}],
    ] as const) {
      const res = await call(method, path, json === undefined ? {} : { json });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code).toBe('SCHEDULE_NOT_FOUND');
    }
  });

  it('refuses bad input with the engine’s code and writes nothing', async () => {
    const cases: Array<[unknown, number, string]> = [
      [{ flowId: 'demo-greeting', cron: '99 * * * *' }, 400, 'INVALID_ARGUMENT'],
      [{ flowId: 'demo-greeting', cron: '* * * * *', timezone: 'Nowhere/City' }, 400, 'INVALID_ARGUMENT'],
      [{ flowId: 'demo-greeting', cron: '* * * * *', every: '1m' }, 400, 'INVALID_ARGUMENT'],
      [{ flowId: 'demo-greeting' }, 400, 'INVALID_ARGUMENT'],
      [{ flowId: 'demo-greeting', every: 10 }, 400, 'INVALID_REQUEST'],
      [{ flowId: 'demo-greeting', every: '10ms' }, 400, 'INVALID_ARGUMENT'],
      [{ flowId: 'demo-greeting', every: '1m', overlap: 'queue' }, 400, 'INVALID_REQUEST'],
      [{ flowId: 'demo-greeting', every: '1m', extra: 1 }, 400, 'INVALID_REQUEST'],
      [{ flowId: 'no-such-flow', every: '1m' }, 404, 'FLOW_NOT_FOUND'],
    ];
    for (const [json, status, code] of cases) {
      const res = await call('PUT', '/v1/schedules/bad', { json });
      expect(res.status, JSON.stringify(json)).toBe(status);
      expect(res.body.error.code, JSON.stringify(json)).toBe(code);
    }
    expect((await call('PUT', '/v1/schedules/bad', { raw: 'every=1m', contentType: 'application/x-www-form-urlencoded' })).status).toBe(415);
    expect((await call('GET', '/v1/schedules/bad')).status).toBe(404);
  });

  it('is documented in the OpenAPI document', async () => {
    const doc = (await call('GET', '/openapi.json')).body;
    expect(Object.keys(doc.paths['/v1/schedules/{scheduleId}']).sort()).toEqual(['delete', 'get', 'put']);
    expect(doc.paths['/v1/schedules/{scheduleId}'].put.requestBody.content['application/json'].schema.properties.overlap.enum).toEqual([
      'skip',
      'bufferOne',
      'bufferAll',
      'allow',
      'cancelPrevious',
    ]);
    expect(doc.components.schemas.Schedule.properties.nextFireAt).toBeDefined();
    expect(doc.paths['/v1/runs'].get.parameters.map((p: { name: string }) => p.name)).toContain('scheduleId');
  });
});

describe('with a worker', () => {
  let withWorker: FlowRuntime;
  beforeAll(async () => {
    withWorker = await startRuntime({ worker: true });
  });
  afterAll(async () => {
    await withWorker.close();
  });

  it('fires a one-second schedule: runs listed by schedule, completed', async () => {
    const put = await http(withWorker.url, 'PUT', '/v1/schedules/every-second', { json: { flowId: 'demo-greeting', every: '1s', overlap: 'allow' } });
    expect(put.status).toBe(201);
    let runs: Array<{ status: string; scheduledAt: string }> = [];
    for (let i = 0; i < 60 && runs.filter((r) => r.status === 'COMPLETED').length < 2; i++) {
      await sleep(100);
      runs = (await http(withWorker.url, 'GET', '/v1/runs?scheduleId=every-second')).body.runs;
    }
    await http(withWorker.url, 'POST', '/v1/schedules/every-second/pause', { json: {} });
    expect(runs.filter((r) => r.status === 'COMPLETED').length).toBeGreaterThanOrEqual(2);
    expect(new Set(runs.map((r) => r.scheduledAt)).size).toBe(runs.length);
  });
});
