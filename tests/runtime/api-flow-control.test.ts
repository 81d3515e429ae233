/**
 * Flow control through the runtime: `POST /v1/runs/start` takes `priority`, `delayMs` and
 * `startAt`; the run resource shows its priority, its flow control keys and its start time; a
 * debounced start answers 200 with the run it joined; bad values are 400 and a key function that
 * fails is a 422 FLOW_CONTROL_KEY, nothing created; `/v1/flows` shows a flow's limits; and
 * `hazel-flow start --priority --delay --start-at` sends them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flow } from '../../src/definitions/builder.js';
import { demoFlows } from '../../src/runtime/demo-flows.js';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { runCli } from './cli-helpers.js';
import { http, startRuntime } from './helpers.js';

let rt: FlowRuntime;
const call = (method: string, path: string, init?: Parameters<typeof http>[3]) => http(rt.url, method, path, init);
const cli = (...args: string[]) => runCli(args, { FLOW_URL: rt.url });

const limited = flow<{ customer: string; order?: string }>('fc-http', '1', {
  concurrency: { limit: 2, key: (input) => input.customer },
  debounce: { delayMs: 60_000, key: (input) => input.order ?? input.customer },
})
  .entry('go')
  .node('go', () => ({ status: 'ok' }))
  .build();

beforeAll(async () => {
  rt = await startRuntime({ flows: [...demoFlows, limited] });
});
afterAll(async () => {
  await rt.close();
});

describe('flow control over HTTP and the CLI', { timeout: 60_000 }, () => {
  it('starts with priority, delayMs and startAt; the run shows them', async () => {
    const delayed = await call('POST', '/v1/runs/start', {
      json: { flowId: 'demo-greeting', version: '1.0.0', input: { name: 'a' }, priority: 7, delayMs: 60_000 },
    });
    expect(delayed.status, delayed.text).toBe(201);
    const run = (await call('GET', `/v1/runs/${delayed.body.runId}`)).body.run;
    expect(run).toMatchObject({ status: 'RUNNING', priority: 7, flowControl: null });
    expect(Date.parse(run.nextAttemptAt) - Date.now()).toBeGreaterThan(55_000);
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const later = await call('POST', '/v1/runs/start', { json: { flowId: 'demo-greeting', version: '1.0.0', input: { name: 'b' }, startAt: at } });
    expect((await call('GET', `/v1/runs/${later.body.runId}`)).body.run.nextAttemptAt).toBe(at);
  });

  it('refuses bad values (400) and a failing key (422), creating nothing; a debounced start answers 200 with its run', async () => {
    const before = (await call('GET', '/v1/runs?flowId=fc-http')).body.runs.length;
    for (const bad of [{ priority: 1.5 }, { delayMs: -1 }, { startAt: 'soon' }, { delayMs: 5, startAt: new Date().toISOString() }]) {
      const res = await call('POST', '/v1/runs/start', { json: { flowId: 'fc-http', version: '1', input: { customer: 'c' }, ...bad } });
      expect(res.status, JSON.stringify(bad)).toBe(400);
    }
    const noKey = await call('POST', '/v1/runs/start', { json: { flowId: 'fc-http', version: '1', input: { customer: 5 } } });
    expect(noKey.status).toBe(422);
    expect(noKey.body.error.code).toBe('FLOW_CONTROL_KEY');
    expect((await call('GET', '/v1/runs?flowId=fc-http')).body.runs.length).toBe(before);

    const first = await call('POST', '/v1/runs/start', { json: { flowId: 'fc-http', version: '1', input: { customer: 'c', order: 'o1' } } });
    expect(first.status).toBe(201);
    const joined = await call('POST', '/v1/runs/start', { json: { flowId: 'fc-http', version: '1', input: { customer: 'c', order: 'o1' } } });
    expect(joined.status).toBe(200);
    expect(joined.body).toMatchObject({ runId: first.body.runId, created: false });
    const run = (await call('GET', `/v1/runs/${first.body.runId}`)).body.run;
    expect(run.flowControl).toEqual({
      concurrency: [{ limit: 2, key: 'c', scope: 'executing' }],
      rateLimit: null,
      debounce: { key: 'o1', delayMs: 60_000, maxWaitMs: null },
    });
  });

  it('lists a flow with its limits', async () => {
    const flows = (await call('GET', '/v1/flows')).body.flows as Array<{ flowId: string; flowControl: unknown }>;
    expect(flows.find((f) => f.flowId === 'fc-http')!.flowControl).toEqual({
      concurrency: [{ limit: 2, scope: 'executing', keyed: true }],
      rateLimit: null,
      debounce: { delayMs: 60_000, maxWaitMs: null },
    });
    expect(flows.find((f) => f.flowId === 'demo-greeting')!.flowControl).toBeNull();
  });

  it('hazel-flow start takes --priority, --delay and --start-at', async () => {
    const started = await cli('start', 'demo-greeting@1.0.0', '--input', '{"name":"cli"}', '--priority', '3', '--delay', '10m', '--json');
    expect(started.code, started.stderr).toBe(0);
    const run = (await call('GET', `/v1/runs/${JSON.parse(started.stdout).runId}`)).body.run;
    expect(run.priority).toBe(3);
    expect(Date.parse(run.nextAttemptAt) - Date.now()).toBeGreaterThan(9 * 60_000);
    const at = '2030-01-01T00:00:00.000Z';
    const startsAt = await cli('start', 'demo-greeting@1.0.0', '--start-at', at, '--json');
    expect((await call('GET', `/v1/runs/${JSON.parse(startsAt.stdout).runId}`)).body.run.nextAttemptAt).toBe(at);
    expect((await cli('start', 'demo-greeting@1.0.0', '--priority', 'high')).code).toBe(2);
    expect((await cli('start', 'demo-greeting@1.0.0', '--delay', '1m', '--start-at', at)).code).toBe(2);
  });
});
