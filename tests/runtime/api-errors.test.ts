/**
 * Bad input over a real server: each gets its status and `{ error: { code, message } }`, and
 * nothing is written (the store holds the same runs before and after).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { http, startRuntime } from './helpers.js';

let rt: FlowRuntime;
let small: FlowRuntime;
const call = (method: string, path: string, init?: Parameters<typeof http>[3]) => http(rt.url, method, path, init);

function expectError(res: { status: number; body: any; text: string }, status: number, code: string, message?: RegExp) {
  expect(res.status, res.text).toBe(status);
  expect(res.body).toEqual({ error: { code, message: expect.any(String) } });
  if (message) expect(res.body.error.message).toMatch(message);
}

async function runCount(runtime: FlowRuntime): Promise<number> {
  return (await runtime.engine.listRuns({ limit: 1000 })).runs.length;
}

async function parkedApprovalRun(): Promise<string> {
  const { runId } = await rt.engine.startRun({ flowId: 'demo-approval', version: '1.0.0', input: { amount: 3 } });
  await rt.engine.runToCompletion(runId);
  return runId;
}

beforeAll(async () => {
  rt = await startRuntime();
  small = await startRuntime({ bodyLimit: 1024 });
});
afterAll(async () => {
  await Promise.all([rt.close(), small.close()]);
});

describe('400: malformed JSON and wrong types', () => {
  it('rejects malformed and empty JSON bodies', async () => {
    expectError(await call('POST', '/v1/runs/start', { raw: '{"flowId": "demo-greeting",' }), 400, 'MALFORMED_JSON');
    expectError(await call('POST', '/v1/runs/start', { raw: '' }), 400, 'MALFORMED_JSON');
    const runId = await parkedApprovalRun();
    expectError(await call('POST', `/v1/runs/${runId}/resume`, { raw: '{approved: true}' }), 400, 'MALFORMED_JSON');
    expect((await rt.engine.getRun(runId))!.status).toBe('WAITING');
  });

  it('rejects wrong types, missing and unknown fields with the field named', async () => {
    expectError(await call('POST', '/v1/runs/start', { json: { flowId: 42, version: '1.0.0' } }), 400, 'INVALID_REQUEST', /body\.flowId must be string/);
    expectError(await call('POST', '/v1/runs/start', { json: { flowId: 'demo-greeting' } }), 400, 'INVALID_REQUEST', /must have property "version"/);
    expectError(
      await call('POST', '/v1/runs/start', { json: { flowId: 'demo-greeting', version: '1.0.0', inptu: {} } }),
      400,
      'INVALID_REQUEST',
      /unknown property "inptu"/,
    );
    expectError(await call('POST', '/v1/runs/start', { json: { flowId: 'demo-greeting', version: '1.0.0', initialState: [1] } }), 400, 'INVALID_REQUEST');
    expectError(await call('POST', '/v1/runs/start', { json: ['demo-greeting'] }), 400, 'INVALID_REQUEST');
    expectError(await call('POST', '/v1/runs/start', { json: { flowId: '', version: '1.0.0' } }), 400, 'INVALID_REQUEST');
    const { runId } = await rt.engine.startRun({ flowId: 'demo-greeting', version: '1.0.0', input: null });
    expectError(await call('POST', `/v1/runs/${runId}/cancel`, { json: { reason: 5 } }), 400, 'INVALID_REQUEST');
    expect((await rt.engine.getRun(runId))!.status).toBe('RUNNING');
  });

  it('rejects bad list filters', async () => {
    expectError(await call('GET', '/v1/runs?status=DONE'), 400, 'INVALID_REQUEST', /status/);
    expectError(await call('GET', '/v1/runs?limit=abc'), 400, 'INVALID_REQUEST', /limit/);
    expectError(await call('GET', '/v1/runs?limit=0'), 400, 'INVALID_ARGUMENT', /limit/);
    expectError(await call('GET', '/v1/runs?limit=5000'), 400, 'INVALID_ARGUMENT', /limit/);
    expectError(await call('GET', '/v1/runs?cursor=not-a-cursor'), 400, 'INVALID_ARGUMENT', /cursor/);
    expectError(await call('GET', '/v1/runs?color=red'), 400, 'INVALID_REQUEST', /unknown property "color"/);
  });
});

describe('404: unknown flows, runs and routes', () => {
  it('answers RUN_NOT_FOUND on every run route', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    expectError(await call('GET', `/v1/runs/${id}`), 404, 'RUN_NOT_FOUND', new RegExp(id));
    expectError(await call('GET', `/v1/runs/${id}/timeline`), 404, 'RUN_NOT_FOUND');
    expectError(await call('POST', `/v1/runs/${id}/tick`, { json: {} }), 404, 'RUN_NOT_FOUND');
    expectError(await call('POST', `/v1/runs/${id}/resume`, { json: { approved: true } }), 404, 'RUN_NOT_FOUND');
    expectError(await call('POST', `/v1/runs/${id}/cancel`, { json: {} }), 404, 'RUN_NOT_FOUND');
  });

  it('answers FLOW_NOT_FOUND for an unknown flow or version, and NOT_FOUND for an unknown route', async () => {
    expectError(await call('POST', '/v1/runs/start', { json: { flowId: 'nope', version: '1.0.0' } }), 404, 'FLOW_NOT_FOUND', /nope@1\.0\.0/);
    expectError(await call('POST', '/v1/runs/start', { json: { flowId: 'demo-greeting', version: '9.9.9' } }), 404, 'FLOW_NOT_FOUND');
    expectError(await call('GET', '/v1/nothing'), 404, 'NOT_FOUND');
    expectError(await call('DELETE', '/v1/runs'), 404, 'NOT_FOUND');
  });
});

describe('409: wrong state', () => {
  it('refuses to resume a run that is not waiting, and to cancel a finished one', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'demo-greeting', version: '1.0.0', input: null });
    expectError(await call('POST', `/v1/runs/${runId}/resume`, { json: {} }), 409, 'INVALID_RUN_STATE', /RUNNING, expected WAITING/);
    await rt.engine.runToCompletion(runId);
    expectError(await call('POST', `/v1/runs/${runId}/resume`, { json: {} }), 409, 'INVALID_RUN_STATE', /COMPLETED/);
    expectError(await call('POST', `/v1/runs/${runId}/cancel`, { json: {} }), 409, 'INVALID_RUN_STATE', /COMPLETED/);
  });

  it('answers LOCK_BUSY to a tick while another holder advances the run; a resume goes to the inbox instead', async () => {
    const parked = await parkedApprovalRun();
    const { runId: running } = await rt.engine.startRun({ flowId: 'demo-greeting', version: '1.0.0', input: null });
    const leases = [await rt.engine.storage.lockRun(parked), await rt.engine.storage.lockRun(running)];
    try {
      // A resume never fails because a holder has the run: it waits in the inbox for the holder.
      const resumed = await call('POST', `/v1/runs/${parked}/resume`, { json: { approved: true } });
      expect(resumed.status, resumed.text).toBe(200);
      expect(resumed.body.run).toMatchObject({ status: 'WAITING', hasInbox: true });
      // A second resume of the same wait loses.
      expectError(await call('POST', `/v1/runs/${parked}/resume`, { json: { approved: false } }), 409, 'INVALID_RUN_STATE');
      expectError(await call('POST', `/v1/runs/${running}/tick`, { json: {} }), 409, 'LOCK_BUSY');
    } finally {
      for (const lease of leases) await lease!.release();
    }
    expect((await rt.engine.getRun(running))!.currentNodeId).toBe('compose');
    const done = await rt.engine.runToCompletion(parked);
    expect(done).toMatchObject({ status: 'COMPLETED', stateJson: expect.objectContaining({ approved: true }) });
  });

  it('answers IDEMPOTENCY_KEY_CONFLICT when a key started another flow', async () => {
    await call('POST', '/v1/runs/start', { json: { flowId: 'demo-greeting', version: '1.0.0', idempotencyKey: 'k-conflict' } });
    expectError(
      await call('POST', '/v1/runs/start', { json: { flowId: 'demo-retry', version: '1.0.0', idempotencyKey: 'k-conflict' } }),
      409,
      'IDEMPOTENCY_KEY_CONFLICT',
    );
  });
});

describe('413, 415 and 422', () => {
  it('rejects a body over the limit with 413 and writes nothing', async () => {
    const before = await runCount(small);
    const big = { flowId: 'demo-greeting', version: '1.0.0', input: { text: 'x'.repeat(2000) } };
    expectError(await http(small.url, 'POST', '/v1/runs/start', { json: big }), 413, 'PAYLOAD_TOO_LARGE');
    expect(await runCount(small)).toBe(before);
    // The default limit is about 1 MiB.
    const huge = { flowId: 'demo-greeting', version: '1.0.0', input: 'y'.repeat(1_200_000) };
    expectError(await call('POST', '/v1/runs/start', { json: huge }), 413, 'PAYLOAD_TOO_LARGE');
  });

  it('accepts JSON only (415 for other content types)', async () => {
    expectError(await call('POST', '/v1/runs/start', { raw: 'flowId=demo-greeting', contentType: 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(
      await call('POST', '/v1/runs/start', { raw: 'flowId=demo-greeting', contentType: 'application/x-www-form-urlencoded' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
  });

  it('answers 422 SERIALIZATION_ERROR for values the store cannot hold, and writes nothing', async () => {
    const before = await runCount(rt);
    expectError(
      await call('POST', '/v1/runs/start', { raw: '{"flowId":"demo-greeting","version":"1.0.0","input":{"note":"a\\u0000b"}}' }),
      422,
      'SERIALIZATION_ERROR',
      /U\+0000/,
    );
    expect(await runCount(rt)).toBe(before);
    const runId = await parkedApprovalRun();
    const events = (await rt.engine.getTimeline(runId)).length;
    expectError(await call('POST', `/v1/runs/${runId}/resume`, { raw: '{"approved":"\\u0000"}' }), 422, 'SERIALIZATION_ERROR');
    expect((await rt.engine.getRun(runId))!.status).toBe('WAITING');
    expect((await rt.engine.getTimeline(runId)).length).toBe(events);
  });
});

describe('nothing is written by rejected requests', () => {
  it('keeps the store unchanged across a batch of bad requests', async () => {
    const before = await runCount(rt);
    await call('POST', '/v1/runs/start', { raw: '{' });
    await call('POST', '/v1/runs/start', { json: { flowId: 'nope', version: '1' } });
    await call('POST', '/v1/runs/start', { json: { flowId: 'demo-greeting', version: '1.0.0', extra: true } });
    await call('POST', '/v1/runs/start', { json: { flowId: 'demo-greeting', version: 1 } });
    await call('POST', '/v1/runs/start', { raw: 'x', contentType: 'text/plain' });
    expect(await runCount(rt)).toBe(before);
  });
});
