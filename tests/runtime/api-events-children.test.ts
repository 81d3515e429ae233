/**
 * Events and child runs over the REST API: POST /v1/events (delivered counts, the run moving on
 * once its holder applies the event, an event sent before the wait, keys, bad names, keys and
 * payloads refused with nothing written, the Origin and JSON gates), the run resource's parent
 * and children (and the status of the child a branch or a map item waits for), the list filter
 * `parentRunId`, and the OpenAPI document describing all of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { flow } from '../../src/definitions/builder.js';
import type { NodeResult } from '../../src/definitions/types.js';
import { DEMO_EVENT_TIMEOUT_MS, demoFlows } from '../../src/runtime/demo-flows.js';
import { branchDto } from '../../src/runtime/http/dto.js';
import { ISO_DATE, http, startRuntime } from './helpers.js';

let rt: FlowRuntime;
const call = (method: string, path: string, init?: Parameters<typeof http>[3]) => http(rt.url, method, path, init);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const start = async (flowId: string, input: unknown = {}) => {
  const res = await call('POST', '/v1/runs/start', { json: { flowId, version: '1.0.0', input } });
  expect(res.status, res.text).toBe(201);
  return res.body.runId as string;
};
const getRun = async (runId: string) => {
  const res = await call('GET', `/v1/runs/${encodeURIComponent(runId)}`);
  expect(res.status, res.text).toBe(200);
  return res.body.run;
};
/** Ticks over HTTP until the run leaves RUNNING (or `limit` ticks). */
async function tickWhileRunning(runId: string, limit = 20) {
  let run = await getRun(runId);
  for (let i = 0; i < limit && run.status === 'RUNNING'; i++) run = (await call('POST', `/v1/runs/${runId}/tick`, { json: {} })).body.run;
  return run;
}
/** A demo-event run parked at its payment wait. */
async function waitingOrder(orderId: string) {
  const runId = await start('demo-event', { orderId });
  const run = await tickWhileRunning(runId);
  expect(run.status).toBe('WAITING');
  return runId;
}
function expectError(res: { status: number; body: any; text: string }, status: number, code: string, message?: RegExp) {
  expect(res.status, res.text).toBe(status);
  expect(res.body).toEqual({ error: { code, message: expect.any(String) } });
  if (message) expect(res.body.error.message).toMatch(message);
}
const sendEvent = (json: unknown) => call('POST', '/v1/events', { json });

/** One node that starts one child run and finishes with its outputs. */
const soloParent = flow('solo-parent', '1.0.0')
  .entry('spawn')
  .node('spawn', (ctx): NodeResult => ({
    status: 'child',
    flowId: 'demo-child',
    version: '1.0.0',
    input: { parcel: 'solo', delayMs: (ctx.input as { delayMs?: number }).delayMs ?? 1 },
  }))
  .build();

beforeAll(async () => {
  rt = await startRuntime({ flows: [...demoFlows, soloParent] });
});
afterAll(async () => {
  await rt.close();
});

describe('POST /v1/events', () => {
  it('shows the event wait, delivers the event (202) and the run moves on once its holder applies it', async () => {
    const runId = await waitingOrder('order-100');
    const before = Date.now();
    const run = await getRun(runId);
    expect(run.branches).toHaveLength(1);
    const [branch] = run.branches;
    expect(branch).toMatchObject({
      nodeId: 'payment',
      status: 'WAITING',
      waitReason: 'Waiting for payment.received of order order-100',
      event: { name: 'payment.received', key: 'order-100' },
      child: null,
      waitTimedOut: false,
    });
    // The wait's timeout is its due time.
    expect(branch.dueAt).toMatch(ISO_DATE);
    expect(Date.parse(branch.dueAt) - before).toBeGreaterThan(DEMO_EVENT_TIMEOUT_MS - 60_000);
    expect(Date.parse(branch.dueAt) - before).toBeLessThanOrEqual(DEMO_EVENT_TIMEOUT_MS);
    expect(run).toMatchObject({ parentRunId: null, parentNodeId: null, hasInbox: false, children: [], childrenNextCursor: null });
    // The run list shows the compact form with the event too.
    const listed = (await call('GET', '/v1/runs?flowId=demo-event')).body.runs.find((r: { runId: string }) => r.runId === runId);
    expect(listed.branches[0]).toMatchObject({ event: { name: 'payment.received', key: 'order-100' }, child: null });

    // Another key reaches nobody.
    const other = await sendEvent({ name: 'payment.received', key: 'order-999', payload: { amount: 1 } });
    expect(other.status, other.text).toBe(202);
    expect(other.body).toEqual({ eventId: expect.stringMatching(UUID), delivered: 0 });

    const sent = await sendEvent({ name: 'payment.received', key: 'order-100', payload: { amount: 42 } });
    expect(sent.status, sent.text).toBe(202);
    expect(sent.body).toEqual({ eventId: expect.stringMatching(UUID), delivered: 1 });
    // Delivered to the run's inbox; no worker runs here, so the run still waits until it is driven.
    expect(await getRun(runId)).toMatchObject({ status: 'WAITING', hasInbox: true });
    const done = await rt.engine.runToCompletion(runId);
    expect(done.status).toBe('COMPLETED');
    expect(done.outputsJson).toMatchObject({ payment: { amount: 42 }, ship: 'Order order-100 shipped' });
    expect(await getRun(runId)).toMatchObject({ status: 'COMPLETED', hasInbox: false, branches: [] });

    const events = (await call('GET', `/v1/runs/${runId}/timeline`)).body.events as Array<Record<string, any>>;
    const received = events.filter((e) => e.type === 'EVENT_RECEIVED');
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ nodeId: 'payment', payloadJson: { eventId: sent.body.eventId, name: 'payment.received', key: 'order-100' } });

    // Applied once: sending it again reaches nobody.
    expect((await sendEvent({ name: 'payment.received', key: 'order-100', payload: { amount: 42 } })).body.delivered).toBe(0);
  });

  it('broadcasts to every run waiting for the name and key, and a tick over HTTP applies it', async () => {
    const a = await waitingOrder('order-shared');
    const b = await waitingOrder('order-shared');
    // Without a payload the runs see null.
    const sent = await sendEvent({ name: 'payment.received', key: 'order-shared' });
    expect(sent.status, sent.text).toBe(202);
    expect(sent.body.delivered).toBe(2);
    for (const runId of [a, b]) {
      const run = await tickWhileRunning((await call('POST', `/v1/runs/${runId}/tick`, { json: {} })).body.run.runId);
      expect(run.status).toBe('COMPLETED');
      expect(run.outputsJson.payment).toEqual({ amount: null });
    }
  });

  it('keeps an event sent before the run reaches its wait', async () => {
    const runId = await start('demo-event', { orderId: 'order-early' });
    const sent = await sendEvent({ name: 'payment.received', key: 'order-early', payload: { amount: 7 } });
    expect(sent.body.delivered).toBe(0);
    const done = await rt.engine.runToCompletion(runId);
    expect(done.status).toBe('COMPLETED');
    expect(done.outputsJson.payment).toEqual({ amount: 7 });
  });

  it('refuses bad names and keys with 400 INVALID_ARGUMENT and writes nothing', async () => {
    const runId = await waitingOrder('order-bad-input');
    for (const name of ['', 'has space', 'x'.repeat(201), 'émoji', 'a\u0000b']) {
      expectError(await sendEvent({ name, key: 'order-bad-input' }), 400, 'INVALID_ARGUMENT', /name/);
    }
    for (const key of ['', 'k'.repeat(513), 'a\u0000b']) {
      expectError(await sendEvent({ name: 'payment.received', key }), 400, 'INVALID_ARGUMENT', /key/);
    }
    // Wrong types and unknown properties: the schema's 400.
    expectError(await sendEvent({ name: 5 }), 400, 'INVALID_REQUEST', /body\.name must be string/);
    expectError(await sendEvent({ name: 'payment.received', key: 12 }), 400, 'INVALID_REQUEST', /body\.key must be string/);
    expectError(await sendEvent({ key: 'order-bad-input' }), 400, 'INVALID_REQUEST', /must have property "name"/);
    expectError(await sendEvent({ name: 'payment.received', key: 'order-bad-input', paylaod: {} }), 400, 'INVALID_REQUEST', /unknown property "paylaod"/);
    expectError(await sendEvent([]), 400, 'INVALID_REQUEST');
    expect(await getRun(runId)).toMatchObject({ status: 'WAITING', hasInbox: false });
  });

  it('refuses payloads JSON cannot hold (400), unstorable ones (422), and writes nothing', async () => {
    const runId = await waitingOrder('order-bad-payload');
    const raw = (payload: string) => call('POST', '/v1/events', { raw: `{"name":"payment.received","key":"order-bad-payload","payload":${payload}}` });
    expectError(await raw('{"amount": 1e400}'), 400, 'INVALID_NUMBER', /1e400/);
    expectError(await raw('{"amount": 12345678901234567890}'), 400, 'INVALID_NUMBER', /12345678901234567890/);
    expectError(await raw('{"amount": '), 400, 'MALFORMED_JSON');
    expectError(await sendEvent({ name: 'payment.received', key: 'order-bad-payload', payload: { note: 'nul \u0000 here' } }), 422, 'SERIALIZATION_ERROR');
    expect(await getRun(runId)).toMatchObject({ status: 'WAITING', hasInbox: false });
    // Exact numbers pass through as written.
    const ok = await raw('{"amount": 9007199254740991, "cents": 0.1}');
    expect(ok.status, ok.text).toBe(202);
    expect(ok.body.delivered).toBe(1);
    const done = await rt.engine.runToCompletion(runId);
    expect(done.outputsJson.payment).toEqual({ amount: 9007199254740991 });
  });

  it('passes the same gates as every POST: JSON only, no other origin', async () => {
    expectError(
      await call('POST', '/v1/events', { raw: 'name=payment.received', contentType: 'application/x-www-form-urlencoded' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    expectError(await call('POST', '/v1/events', {}), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await call('POST', '/v1/events', { json: { name: 'payment.received' }, headers: { origin: 'http://evil.example' } }), 403, 'FORBIDDEN_ORIGIN');
    const own = await call('POST', '/v1/events', { json: { name: 'payment.received' }, headers: { origin: rt.url } });
    expect(own.status, own.text).toBe(202);
  });
});

describe('parent and child runs in the run resource', () => {
  it('lists a parent’s children, links each child to its parent, and filters the list by parentRunId', async () => {
    const parentId = await start('demo-parent', { parcels: ['p1', 'p2', 'p3'], delayMs: 1 });
    const done = await rt.engine.runToCompletion(parentId);
    expect(done.status).toBe('COMPLETED');
    expect(done.stateJson).toMatchObject({ shipped: 3 });

    const parent = await getRun(parentId);
    expect(parent.parentRunId).toBeNull();
    expect(parent.children).toHaveLength(3);
    expect(parent.childrenNextCursor).toBeNull();
    for (const c of parent.children) {
      expect(c).toEqual({ runId: expect.stringMatching(UUID), flowId: 'demo-child', flowVersion: '1.0.0', status: 'COMPLETED', parentNodeId: 'ship' });
    }

    const child = await getRun(parent.children[0].runId);
    expect(child).toMatchObject({ flowId: 'demo-child', parentRunId: parentId, parentNodeId: 'ship', children: [], status: 'COMPLETED' });
    expect(child.outputsJson).toMatchObject({ pack: { packed: true } });

    const listed = await call('GET', `/v1/runs?parentRunId=${parentId}`);
    expect(listed.status, listed.text).toBe(200);
    expect(listed.body.runs.map((r: { runId: string }) => r.runId).sort()).toEqual(parent.children.map((c: { runId: string }) => c.runId).sort());
    for (const r of listed.body.runs) expect(r).toMatchObject({ parentRunId: parentId, parentNodeId: 'ship', flowId: 'demo-child' });
    expect((await call('GET', `/v1/runs?parentRunId=${parentId}&limit=2`)).body.nextCursor).toEqual(expect.any(String));
    expect((await call('GET', `/v1/runs?parentRunId=${child.runId}`)).body).toEqual({ runs: [], nextCursor: null });
    expectError(await call('GET', '/v1/runs?parentRunId='), 400, 'INVALID_REQUEST');

    const types = (
      (await call('GET', `/v1/runs/${parentId}/timeline`)).body.events as Array<{ type: string; itemIndex: number | null; payloadJson: any }>
    ).filter((e) => e.type === 'CHILD_STARTED' || e.type === 'CHILD_FINISHED');
    expect(types).toHaveLength(6);
    expect(types.find((e) => e.type === 'CHILD_FINISHED')!.payloadJson).toEqual({ childRunId: expect.stringMatching(UUID), status: 'COMPLETED' });
  });

  it('shows the child run a waiting branch waits for, with its status', async () => {
    const parentId = await start('solo-parent', { delayMs: 1 });
    const run = (await call('POST', `/v1/runs/${parentId}/tick`, { json: {} })).body.run;
    expect(run.status).toBe('WAITING');
    expect(run.children).toHaveLength(1);
    const [child] = run.children;
    expect(child).toMatchObject({ flowId: 'demo-child', status: 'RUNNING', parentNodeId: 'spawn' });
    expect(run.branches).toEqual([
      expect.objectContaining({
        nodeId: 'spawn',
        status: 'WAITING',
        event: null,
        child: { runId: child.runId, flowId: 'demo-child', flowVersion: '1.0.0', status: 'RUNNING' },
      }),
    ]);
    // The compact list form names the child only.
    const listed = (await call('GET', '/v1/runs?flowId=solo-parent')).body.runs.find((r: { runId: string }) => r.runId === parentId);
    expect(listed.branches[0].child).toEqual({ runId: child.runId });
    // A branch waiting for its child is answered by the child, not by a resume.
    expectError(await call('POST', `/v1/runs/${parentId}/resume`, { json: null }), 409, 'INVALID_RUN_STATE');

    const done = await rt.engine.runToCompletion(parentId);
    expect(done.status).toBe('COMPLETED');
    expect(done.outputsJson.spawn).toMatchObject({ pack: { parcel: 'solo', packed: true }, label: 'label for solo' });
    expect((await getRun(parentId)).children).toEqual([expect.objectContaining({ runId: child.runId, status: 'COMPLETED' })]);
  });

  it('shows the child run each waiting map item waits for', async () => {
    const parentId = await start('demo-parent', { parcels: ['a', 'b', 'c'], delayMs: 1 });
    let run = await getRun(parentId);
    for (let i = 0; i < 5 && !run.branches[0]?.map?.items?.some((item: { status: string }) => item.status === 'WAITING'); i++) {
      run = (await call('POST', `/v1/runs/${parentId}/tick`, { json: {} })).body.run;
    }
    const map = run.branches[0].map;
    expect(map).toMatchObject({ total: 3, concurrency: 2 });
    const waiting = map.items.filter((item: { status: string }) => item.status === 'WAITING');
    expect(waiting.length).toBeGreaterThan(0);
    for (const item of waiting) {
      expect(item.child).toEqual({ runId: expect.stringMatching(UUID), flowId: 'demo-child', flowVersion: '1.0.0', status: 'RUNNING' });
      expect(run.children.map((c: { runId: string }) => c.runId)).toContain(item.child.runId);
    }
    expect((await rt.engine.runToCompletion(parentId)).status).toBe('COMPLETED');
  });

  it('cancelling a parent over HTTP cancels its children, and the resource shows them', async () => {
    const parentId = await start('solo-parent', { delayMs: 1 });
    await call('POST', `/v1/runs/${parentId}/tick`, { json: {} });
    const res = await call('POST', `/v1/runs/${parentId}/cancel`, { json: { reason: 'customer left' } });
    expect(res.status, res.text).toBe(200);
    expect(res.body.run.status).toBe('CANCELLED');
    expect(res.body.run.children).toEqual([expect.objectContaining({ status: 'CANCELLED' })]);
  });

  it('maps a timed-out event wait to waitTimedOut', () => {
    const dto = branchDto({
      branchId: 'b1',
      nodeId: 'payment',
      status: 'READY',
      attempt: 1,
      recoveries: 0,
      waitTimedOut: true,
    });
    expect(dto).toMatchObject({ waitTimedOut: true, event: null, child: null, map: null });
  });
});

describe('OpenAPI', () => {
  it('documents POST /v1/events, parents, children, event and child waits', async () => {
    const doc = (await call('GET', '/openapi.json')).body;
    const post = doc.paths['/v1/events'].post;
    expect(post.requestBody.content['application/json'].schema).toMatchObject({ required: ['name'], additionalProperties: false });
    expect(Object.keys(post.requestBody.content['application/json'].schema.properties)).toEqual(['name', 'key', 'payload']);
    expect(post.responses['202'].content['application/json'].schema.properties).toHaveProperty('delivered');
    expect(post.responses['400'].description).toContain('INVALID_ARGUMENT');
    const schemas = doc.components.schemas;
    expect(schemas.Run.properties).toHaveProperty('children');
    expect(schemas.Run.properties).toHaveProperty('parentRunId');
    expect(schemas.RunSummary.properties).toHaveProperty('parentNodeId');
    expect(schemas.RunSummary.properties).toHaveProperty('hasInbox');
    expect(schemas.Branch.properties).toHaveProperty('event');
    expect(schemas.Branch.properties).toHaveProperty('child');
    expect(schemas.Branch.properties).toHaveProperty('waitTimedOut');
    expect(schemas.MapItem.properties).toHaveProperty('child');
    expect(schemas.MapItem.properties.status.enum).toContain('WAITING');
    expect(schemas.ChildRun.properties).toHaveProperty('parentNodeId');
    expect(doc.paths['/v1/runs'].get.parameters.map((p: { name: string }) => p.name)).toContain('parentRunId');
    for (const type of ['EVENT_RECEIVED', 'CHILD_STARTED', 'CHILD_FINISHED']) expect(schemas.Event.properties.type.description).toContain(type);
  });
});
