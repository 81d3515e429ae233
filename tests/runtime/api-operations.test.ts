/**
 * Operating the runtime over HTTP and the CLI: GET /metrics (Prometheus text, behind the token),
 * GET /v1/workers (the workers and the runs no live worker serves) and `hazel-flow workers`, the
 * run's traceparent (from the body, or the request's header) and its trace link (`traceUrl`), and
 * the runtime's structured logger.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flow } from '../../src/definitions/builder.js';
import type { FlowRuntime } from '../../src/runtime/runtime.js';
import { runFlowRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStorage } from '../../src/storage/memory.js';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text.js';
import { runCli } from './cli-helpers.js';
import { http, startRuntime } from './helpers.js';

const TOKEN = 'ops-token-0123456789abcdef';
const GIVEN = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const ping = flow('ops-ping', '1')
  .entry('a')
  .node('a', () => ({ status: 'ok', output: 'pong' }))
  .build();

describe('operations over HTTP and the CLI', () => {
  let rt: FlowRuntime;
  beforeAll(async () => {
    rt = await startRuntime({
      flows: [ping],
      apiToken: TOKEN,
      worker: { heartbeatIntervalMs: 1000 },
      traceUrl: 'https://traces.example.com/trace/{traceId}?span={spanId}',
    });
  });
  afterAll(() => rt?.close());

  it('GET /metrics: Prometheus text behind the token, with the work done', async () => {
    expect((await http(rt.url, 'GET', '/metrics')).status).toBe(401);
    const started = await http(rt.url, 'POST', '/v1/runs/start', { token: TOKEN, json: { flowId: 'ops-ping', version: '1', input: null } });
    await rt.engine.runToCompletion(started.body.runId);
    const res = await http(rt.url, 'GET', '/metrics', { token: TOKEN });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parsePrometheusText(res.text);
    expect(sampleValue(samples, 'hazel_flow_steps_total', { flow: 'ops-ping', node: 'a', outcome: 'ok' })).toBe(1);
    expect(sampleValue(samples, 'hazel_flow_runs', { flow: 'ops-ping', version: '1', status: 'COMPLETED' })).toBe(1);
  });

  it('GET /v1/workers and `hazel-flow workers`: the runtime’s worker, live, with what it serves', async () => {
    expect((await http(rt.url, 'GET', '/v1/workers')).status).toBe(401);
    const res = await http(rt.url, 'GET', '/v1/workers', { token: TOKEN });
    expect(res.status).toBe(200);
    expect(res.body.unserved).toEqual([]);
    expect(res.body.workers).toEqual([
      expect.objectContaining({ workerId: rt.worker!.id, status: 'live', pid: process.pid, flowKeys: ['ops-ping@1'], heartbeatMs: 1000, concurrency: 8 }),
    ]);
    const cli = await runCli(['workers'], { FLOW_URL: rt.url, FLOW_API_TOKEN: TOKEN });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/WORKER\s+STATUS\s+HOST/);
    expect(cli.stdout).toContain(rt.worker!.id);
    expect(cli.stdout).toMatch(/live .* ops-ping@1/);
    const json = await runCli(['workers', '--json'], { FLOW_URL: rt.url, FLOW_API_TOKEN: TOKEN });
    expect(JSON.parse(json.stdout).workers[0].workerId).toBe(rt.worker!.id);
    expect((await runCli(['workers', 'extra'], { FLOW_URL: rt.url, FLOW_API_TOKEN: TOKEN })).code).toBe(2);
  }, 60_000);

  it('a run’s traceparent: given in the body, or taken from the request’s header; its trace link', async () => {
    const given = await http(rt.url, 'POST', '/v1/runs/start', { token: TOKEN, json: { flowId: 'ops-ping', version: '1', input: null, traceparent: GIVEN } });
    const run = (await http(rt.url, 'GET', `/v1/runs/${given.body.runId}`, { token: TOKEN })).body.run;
    expect(run.traceparent).toBe(GIVEN);
    expect(run.traceUrl).toBe('https://traces.example.com/trace/4bf92f3577b34da6a3ce929d0e0e4736?span=00f067aa0ba902b7');
    const shown = await runCli(['runs', 'show', given.body.runId], { FLOW_URL: rt.url, FLOW_API_TOKEN: TOKEN });
    expect(shown.stdout).toMatch(new RegExp(`trace\\s+${GIVEN}`));
    expect(shown.stdout).toMatch(/trace link\s+https:\/\/traces\.example\.com\/trace\/4bf92f3577b34da6a3ce929d0e0e4736/);
    const header = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const fromHeader = await http(rt.url, 'POST', '/v1/runs/start', {
      token: TOKEN,
      json: { flowId: 'ops-ping', version: '1', input: null },
      headers: { traceparent: header },
    });
    expect((await rt.engine.getRun(fromHeader.body.runId))!.traceparent).toBe(header);
    const bad = await http(rt.url, 'POST', '/v1/runs/start', { token: TOKEN, json: { flowId: 'ops-ping', version: '1', input: null, traceparent: 'nope' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_ARGUMENT');
  });

  it('refuses a trace URL template without {traceId}, before opening anything', async () => {
    await expect(startRuntime({ flows: [ping], traceUrl: 'https://traces.example.com/' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('one logger for the runtime and its worker: lines about a run carry runId, flow, version and node', async () => {
    const lines: Array<{ level: string; message: string; meta?: Record<string, unknown> }> = [];
    const at = (level: string) => (message: string, meta?: Record<string, unknown>) => void lines.push({ level, message, meta });
    const failing = flow('ops-failing', '1')
      .entry('boom')
      .node('boom', () => ({ status: 'error', error: { code: 'NOPE', message: 'no', retryable: false } }))
      .build();
    const logged = await runFlowRuntime({
      flows: [failing],
      port: 0,
      host: '127.0.0.1',
      apiToken: '',
      storage: createMemoryStorage(),
      logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
    });
    try {
      const { runId } = await logged.engine.startRun({ flowId: 'ops-failing', version: '1', input: null });
      await logged.engine.runToCompletion(runId);
      expect(lines).toContainEqual({ level: 'info', message: 'started', meta: expect.objectContaining({ flowKeys: ['ops-failing@1'] }) });
      expect(lines).toContainEqual({
        level: 'warn',
        message: 'run failed',
        meta: expect.objectContaining({ runId, flow: 'ops-failing', version: '1', node: 'boom', code: 'NOPE' }),
      });
      // A request about a run that fails unexpectedly is logged with the run's id.
      const storage = logged.engine.storage as { getRun(id: string): Promise<unknown> };
      storage.getRun = () => Promise.reject(new Error('disk on fire'));
      expect((await http(logged.url, 'GET', `/v1/runs/${runId}`)).status).toBe(500);
      expect(lines).toContainEqual({
        level: 'error',
        message: 'request failed',
        meta: expect.objectContaining({ method: 'GET', runId, error: expect.objectContaining({ message: 'disk on fire' }) }),
      });
    } finally {
      await logged.close();
    }
  });
});
