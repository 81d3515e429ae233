/**
 * GET /v1/runs/:runId/timeline is one page: the first 1000 events without parameters (a long
 * run's timeline is never one answer), `after` + `limit` for the others; every event once across
 * pages, the ones appended between pages included; bad cursors and limits are 400s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { flow } from '../../src/definitions/builder.js';
import { http, startRuntime } from './helpers.js';

let rt: FlowRuntime;
const call = (path: string) => http(rt.url, 'GET', path);

/** A map of `input.items` items: about two events an item. */
const bigMap = flow('big-map', '1')
  .entry('each')
  .node('each', (ctx) => ({ status: 'ok', output: ctx.itemIndex }), {
    forEach: (ctx) => Array.from({ length: (ctx.input as { items: number }).items }, (_, i) => i),
    concurrency: 100,
  })
  .build();

/** Waits for a resume, twice. */
const twoWaits = flow('two-waits', '1')
  .entry('a')
  .node('a', (ctx) => (ctx.state._resumePayload ? { status: 'ok' } : { status: 'wait', reason: 'first' }))
  .node('b', (ctx) => (ctx.state._resumePayload === 'second' ? { status: 'ok' } : { status: 'wait', reason: 'second' }))
  .edge('a', 'b')
  .build();

type Event = { seq: number; type: string };
type Page = { runId: string; events: Event[]; nextCursor: number | null };

beforeAll(async () => {
  rt = await startRuntime({ flows: [bigMap, twoWaits] });
});
afterAll(async () => {
  await rt.close();
});

describe('timeline pages over HTTP', () => {
  it('answers one page of at most 1000 events without parameters, and pages through the rest with after', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'big-map', version: '1', input: { items: 1500 } });
    const run = await rt.engine.runToCompletion(runId);
    expect(run.lastSeq).toBeGreaterThan(3000);
    const first = await call(`/v1/runs/${runId}/timeline`);
    expect(first.status).toBe(200);
    const body = first.body as Page;
    expect(body.runId).toBe(runId);
    expect(body.events).toHaveLength(1000);
    expect(body.nextCursor).toBe(1000);

    const seen: number[] = [];
    let after = 0;
    let pages = 0;
    for (;;) {
      const page = (await call(`/v1/runs/${runId}/timeline?limit=700&after=${after}`)).body as Page;
      pages++;
      seen.push(...page.events.map((e) => e.seq));
      if (page.nextCursor === null) break;
      after = page.nextCursor;
    }
    expect(seen).toEqual(Array.from({ length: run.lastSeq }, (_, i) => i + 1));
    expect(pages).toBe(Math.ceil(run.lastSeq / 700));
  });

  it('gives the events appended between two pages on the next page, each once', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'two-waits', version: '1', input: null });
    await rt.engine.runToCompletion(runId);
    const first = (await call(`/v1/runs/${runId}/timeline?limit=2`)).body as Page;
    const rest = [];
    let page = (await call(`/v1/runs/${runId}/timeline?after=${first.nextCursor}`)).body as Page;
    rest.push(...page.events);
    expect(page.nextCursor).toBeNull();
    // The run goes on: its next events come after the last seq read.
    await rt.engine.resumeRun(runId, 'first');
    await rt.engine.runToCompletion(runId);
    page = (await call(`/v1/runs/${runId}/timeline?after=${rest.at(-1)!.seq}`)).body as Page;
    rest.push(...page.events);
    await rt.engine.resumeRun(runId, 'second');
    await rt.engine.runToCompletion(runId);
    page = (await call(`/v1/runs/${runId}/timeline?after=${rest.at(-1)!.seq}&limit=1000`)).body as Page;
    rest.push(...page.events);
    const all = [...first.events, ...rest];
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    expect(all.filter((e) => e.type === 'RUN_RESUMED')).toHaveLength(2);
    expect(all.at(-1)!.type).toBe('RUN_COMPLETED');
    expect(all).toEqual((await rt.engine.getTimeline(runId)).map((e) => expect.objectContaining({ seq: e.seq, type: e.type })));
  });

  it('refuses a cursor or a limit it could not have given: 400, and 404 for an unknown run', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'two-waits', version: '1', input: null });
    await rt.engine.runToCompletion(runId);
    const { lastSeq } = (await rt.engine.getRun(runId))!;
    const expectError = async (query: string, code: string) => {
      const res = await call(`/v1/runs/${runId}/timeline?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error.code, query).toBe(code);
    };
    await expectError('after=abc', 'INVALID_REQUEST');
    await expectError('after=-1', 'INVALID_REQUEST');
    await expectError('after=1.5', 'INVALID_REQUEST');
    await expectError('limit=0', 'INVALID_ARGUMENT');
    await expectError('limit=1001', 'INVALID_ARGUMENT');
    await expectError('cursor=2', 'INVALID_REQUEST');
    await expectError(`after=${lastSeq + 1}`, 'INVALID_ARGUMENT');
    expect((await call(`/v1/runs/${runId}/timeline?after=${lastSeq}`)).body).toEqual({ runId, events: [], nextCursor: null });
    const unknown = await call('/v1/runs/no-such-run/timeline?after=3');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('RUN_NOT_FOUND');
  });

  it('documents the paging parameters in the OpenAPI document', async () => {
    const doc = (await call('/openapi.json')).body;
    const get = doc.paths['/v1/runs/{runId}/timeline'].get;
    expect(get.parameters.map((p: { name: string }) => p.name)).toEqual(['runId', 'after', 'limit']);
    expect(Object.keys(get.responses['200'].content['application/json'].schema.properties)).toEqual(['runId', 'events', 'nextCursor']);
  });
});
