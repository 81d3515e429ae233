/**
 * The API on SQL stores: ids and filters from URLs reach the database as bound parameters,
 * never as SQL; events and child runs over HTTP; and with no storage nor DATABASE_URL the runtime
 * uses embedded PGlite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { createPGliteStorage } from '../../src/storage/pglite.js';
import { createPostgresStorage } from '../../src/storage/postgres.js';
import type { FlowStorage } from '../../src/storage/types.js';
import { HAVE_PG, TEST_DATABASE_URL, createTestSchema, type TestSchema } from '../helpers/pg.js';
import { http, startRuntime } from './helpers.js';

const HOSTILE_IDS = ["x' OR '1'='1", "'; DROP TABLE flow_runs; --", '1; DELETE FROM flow_events', '%27%20OR%201=1--', '$1', 'run\\u0000id'];

async function checkHostileInput(rt: FlowRuntime) {
  const { runId } = await rt.engine.startRun({ flowId: 'demo-greeting', version: '1.0.0', input: { n: 1 } });
  for (const id of HOSTILE_IDS) {
    const path = encodeURIComponent(id);
    for (const [method, suffix] of [
      ['GET', ''],
      ['GET', '/timeline'],
      ['POST', '/tick'],
      ['POST', '/resume'],
      ['POST', '/cancel'],
    ] as const) {
      const res = await http(rt.url, method, `/v1/runs/${path}${suffix}`, method === 'POST' ? { json: {} } : {});
      expect([404, 400], `${method} ${id}${suffix}: ${res.text}`).toContain(res.status);
    }
    for (const key of ['flowId', 'tenantId', 'flowVersion', 'parentRunId']) {
      const res = await http(rt.url, 'GET', `/v1/runs?${key}=${encodeURIComponent(id)}`);
      expect(res.status, res.text).toBe(200);
      expect(res.body.runs).toEqual([]);
    }
  }
  // An event key is a value too (a name with such characters is refused before any query).
  for (const id of HOSTILE_IDS) {
    const sent = await http(rt.url, 'POST', '/v1/events', { json: { name: 'hostile.check', key: id, payload: { id } } });
    expect(sent.status, sent.text).toBe(202);
    expect(sent.body.delivered).toBe(0);
    expect((await http(rt.url, 'POST', '/v1/events', { json: { name: id, key: 'k' } })).status).toBe(400);
  }
  // The tables are intact and the run untouched.
  const res = await http(rt.url, 'GET', `/v1/runs/${runId}`);
  expect(res.status).toBe(200);
  expect(res.body.run).toMatchObject({ status: 'RUNNING', inputJson: { n: 1 } });
  expect((await http(rt.url, 'GET', `/v1/runs/${runId}/timeline`)).body.events.length).toBeGreaterThan(0);
}

/** An event over HTTP reaches the run waiting for it; a parent lists its children and each child its parent. */
async function checkEventsAndChildren(rt: FlowRuntime) {
  const { runId } = await rt.engine.startRun({ flowId: 'demo-event', version: '1.0.0', input: { orderId: 'order-sql' } });
  expect((await rt.engine.tick(runId)).status).toBe('RUNNING');
  expect((await rt.engine.tick(runId)).status).toBe('WAITING');
  const waiting = (await http(rt.url, 'GET', `/v1/runs/${runId}`)).body.run;
  expect(waiting.branches[0]).toMatchObject({ status: 'WAITING', event: { name: 'payment.received', key: 'order-sql' }, child: null });
  const sent = await http(rt.url, 'POST', '/v1/events', { json: { name: 'payment.received', key: 'order-sql', payload: { amount: 5 } } });
  expect(sent.status, sent.text).toBe(202);
  expect(sent.body.delivered).toBe(1);
  expect((await http(rt.url, 'GET', `/v1/runs/${runId}`)).body.run).toMatchObject({ status: 'WAITING', hasInbox: true });
  const done = await rt.engine.runToCompletion(runId);
  expect(done.outputsJson).toMatchObject({ payment: { amount: 5 }, ship: 'Order order-sql shipped' });

  const parent = await rt.engine.startRun({ flowId: 'demo-parent', version: '1.0.0', input: { parcels: ['a', 'b'], delayMs: 1 } });
  expect((await rt.engine.runToCompletion(parent.runId)).status).toBe('COMPLETED');
  const run = (await http(rt.url, 'GET', `/v1/runs/${parent.runId}`)).body.run;
  expect(run.children).toHaveLength(2);
  for (const c of run.children) expect(c).toMatchObject({ flowId: 'demo-child', status: 'COMPLETED', parentNodeId: 'ship' });
  const listed = (await http(rt.url, 'GET', `/v1/runs?parentRunId=${parent.runId}`)).body.runs;
  expect(listed.map((r: { runId: string }) => r.runId).sort()).toEqual(run.children.map((c: { runId: string }) => c.runId).sort());
  const child = (await http(rt.url, 'GET', `/v1/runs/${run.children[0].runId}`)).body.run;
  expect(child).toMatchObject({ parentRunId: parent.runId, parentNodeId: 'ship', children: [] });
}

describe('PGlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flow-api-pglite-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // PGlite boots a WebAssembly Postgres and migrates it: seconds, more on a busy machine.
  it('treats hostile ids and filters as plain values', { timeout: 90_000 }, async () => {
    const rt = await startRuntime({ storage: createPGliteStorage() });
    try {
      await checkHostileInput(rt);
      await checkEventsAndChildren(rt);
    } finally {
      await rt.close();
    }
  });

  it('is the default store, under dataDir, and keeps runs across restarts', { timeout: 120_000 }, async () => {
    const previous = process.env.DATABASE_URL;
    delete process.env.DATABASE_URL;
    try {
      const first = await startRuntime({ storage: undefined, dataDir: dir });
      const health = await http(first.url, 'GET', '/health');
      expect(health.body.storage).toEqual({ kind: 'pglite', durable: true, status: 'up' });
      const started = await http(first.url, 'POST', '/v1/runs/start', { json: { flowId: 'demo-greeting', version: '1.0.0' } });
      await first.close();
      const second = await startRuntime({ storage: undefined, dataDir: dir });
      try {
        expect((await http(second.url, 'GET', `/v1/runs/${started.body.runId}`)).status).toBe(200);
      } finally {
        await second.close();
      }
    } finally {
      if (previous !== undefined) process.env.DATABASE_URL = previous;
    }
  });
});

describe.skipIf(!HAVE_PG)('Postgres', () => {
  let schema: TestSchema;
  let storage: FlowStorage;
  afterAll(async () => {
    await schema?.drop();
  });

  it('treats hostile ids and filters as plain values', async () => {
    schema = await createTestSchema('flow_api');
    storage = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: schema.schema });
    const rt = await startRuntime({ storage });
    try {
      await checkHostileInput(rt);
      expect(await schema.query(`SELECT count(*)::int AS n FROM "${schema.schema}".flow_runs`)).toEqual([{ n: 1 }]);
      await checkEventsAndChildren(rt);
    } finally {
      await rt.close();
    }
  });
});
