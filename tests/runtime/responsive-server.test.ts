/**
 * What keeps the server answering on an embedded store (PGlite, whose queries run on the server's
 * event loop): a page of runs is read from the store and serialized 200 rows at a time, yet is the
 * same answer a single read gives; /health answers from a probe answered less than a second ago instead of
 * queueing behind the store's work (other stores probe every time). Timings are measured by
 * bench/health-under-load.ts, not here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowEngine, createMemoryStorage } from '@hazeljs/flow';
import { buildApiServer } from '../../src/runtime/http/server.js';
import { runSummaryDto } from '../../src/runtime/http/dto.js';
import { createTemplatedPGliteStorage } from '../helpers/pglite-template.js';
import type { FlowStorage, RunFilter } from '../../src/storage/types.js';
import { flow } from '../../src/definitions/builder.js';
import type { FastifyInstance } from 'fastify';

const one = flow('one', '1')
  .entry('a')
  .node('a', () => ({ status: 'ok' }))
  .build();

/** Records the `limit` of every listRuns and counts getRun calls that reach the store. */
function watch(storage: FlowStorage) {
  const seen = { listLimits: [] as number[], getRuns: 0 };
  const listRuns = storage.listRuns.bind(storage);
  const getRun = storage.getRun.bind(storage);
  storage.listRuns = ((filter: RunFilter) => {
    seen.listLimits.push(filter.limit ?? 50);
    return listRuns(filter);
  }) as FlowStorage['listRuns'];
  storage.getRun = (runId: string) => {
    seen.getRuns++;
    return getRun(runId);
  };
  return seen;
}

const get = (app: FastifyInstance, url: string) => app.inject({ method: 'GET', url, headers: { host: '127.0.0.1' } });

describe('a server that stays responsive on an embedded store', () => {
  let engine: FlowEngine;
  let app: FastifyInstance;
  let seen: ReturnType<typeof watch>;
  const ids: string[] = [];

  beforeAll(async () => {
    const storage = await createTemplatedPGliteStorage();
    engine = new FlowEngine({ storage });
    await engine.registerDefinition(one);
    for (let i = 0; i < 260; i++) ids.push((await engine.startRun({ flowId: 'one', version: '1', input: { i } })).runId);
    seen = watch(storage);
    app = await buildApiServer({ engine });
  });
  afterAll(async () => {
    await app?.close();
    await engine?.close();
  });

  it('reads a page of 1000 runs 200 rows at a time: the same runs, in the same order, as one read', async () => {
    const whole = await engine.listRuns({ limit: 1000, summary: true });
    seen.listLimits.length = 0;
    const res = await get(app, '/v1/runs?limit=1000');
    expect(res.statusCode).toBe(200);
    const body = res.json() as { runs: Array<{ runId: string }>; nextCursor: string | null };
    expect(body.runs.map((r) => r.runId)).toEqual(whole.runs.map((r) => r.runId));
    expect(body.runs).toHaveLength(260);
    expect(new Set(body.runs.map((r) => r.runId))).toEqual(new Set(ids));
    expect(body.nextCursor).toBeNull();
    expect(seen.listLimits).toEqual([200, 200]);
    // Serialized chunk by chunk, the answer is the JSON of the whole page.
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(body).toEqual(JSON.parse(JSON.stringify({ runs: whole.runs.map(runSummaryDto), nextCursor: null })));
  });

  it('pages on from a chunked page exactly like from a single read', async () => {
    seen.listLimits.length = 0;
    const first = (await get(app, '/v1/runs?limit=220')).json() as { runs: Array<{ runId: string }>; nextCursor: string };
    expect(seen.listLimits).toEqual([200, 20]);
    const single = await engine.listRuns({ limit: 220, summary: true });
    expect(first.nextCursor).toBe(single.nextCursor);
    const second = (await get(app, `/v1/runs?limit=220&cursor=${encodeURIComponent(first.nextCursor)}`)).json() as {
      runs: Array<{ runId: string }>;
      nextCursor: string | null;
    };
    expect([...first.runs, ...second.runs].map((r) => r.runId)).toEqual((await engine.listRuns({ limit: 1000, summary: true })).runs.map((r) => r.runId));
    expect(second.nextCursor).toBeNull();
    // The page's own limit is still checked whole.
    expect((await get(app, '/v1/runs?limit=1001')).json().error.code).toBe('INVALID_ARGUMENT');
  });

  it('answers /health from a probe answered less than a second ago, without asking the store again', async () => {
    expect((await get(app, '/health')).json()).toMatchObject({ status: 'ok', storage: { status: 'up' } });
    const before = seen.getRuns;
    for (let i = 0; i < 5; i++) expect((await get(app, '/health')).json()).toMatchObject({ status: 'ok', storage: { status: 'up' } });
    expect(seen.getRuns).toBe(before);
  });
});

it('probes a store that is not embedded at every /health', async () => {
  const storage = createMemoryStorage();
  const seen = watch(storage);
  const engine = new FlowEngine({ storage });
  const app = await buildApiServer({ engine });
  try {
    for (let i = 0; i < 3; i++) expect((await get(app, '/health')).json()).toMatchObject({ status: 'ok' });
    expect(seen.getRuns).toBe(3);
  } finally {
    await app.close();
    await engine.close();
  }
});
