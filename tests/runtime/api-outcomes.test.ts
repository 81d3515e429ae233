/**
 * Business outcomes through the runtime: the run resource and the runs list show `outcome`,
 * `GET /v1/runs?outcome=` filters by it (repeated for several, with the other filters), a bad
 * value is a 400, the OpenAPI document describes it, and `hazel-flow runs list --outcome` uses it.
 * The demo approval flow ends COMPLETED either way, with the outcome `paid` or `rejected`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { runCli } from './cli-helpers.js';
import { http, startRuntime, waitForStatus } from './helpers.js';

let rt: FlowRuntime;
const call = (method: string, path: string, init?: Parameters<typeof http>[3]) => http(rt.url, method, path, init);
const runs: Record<'paid' | 'rejected' | 'waiting', string> = { paid: '', rejected: '', waiting: '' };

/** A demo approval run of `tenantId`, resumed with `approved` unless it is left waiting. */
async function approval(tenantId: string, approved?: boolean): Promise<string> {
  const started = await call('POST', '/v1/runs/start', { json: { flowId: 'demo-approval', version: '1.0.0', input: { amount: 10 }, tenantId } });
  const runId = started.body.runId as string;
  await waitForStatus(rt, runId, 'WAITING');
  if (approved === undefined) return runId;
  expect((await call('POST', `/v1/runs/${runId}/resume`, { json: { approved } })).status).toBe(200);
  await waitForStatus(rt, runId, 'COMPLETED');
  return runId;
}

beforeAll(async () => {
  rt = await startRuntime({ worker: true });
  runs.paid = await approval('outcomes', true);
  runs.rejected = await approval('outcomes', false);
  runs.waiting = await approval('outcomes');
});
afterAll(async () => {
  await rt.close();
});

describe('outcomes over HTTP', () => {
  const list = async (query: string) => {
    const res = await call('GET', `/v1/runs?tenantId=outcomes&${query}`);
    expect(res.status, res.text).toBe(200);
    return res.body.runs as Array<{ runId: string; status: string; outcome: string | null }>;
  };

  it('shows the outcome on the run resource and in the list', async () => {
    expect((await call('GET', `/v1/runs/${runs.paid}`)).body.run).toMatchObject({ status: 'COMPLETED', outcome: 'paid', error: null });
    expect((await call('GET', `/v1/runs/${runs.waiting}`)).body.run).toMatchObject({ status: 'WAITING', outcome: null });
    const all = await list('');
    expect(Object.fromEntries(all.map((r) => [r.runId, r.outcome]))).toEqual({ [runs.paid]: 'paid', [runs.rejected]: 'rejected', [runs.waiting]: null });
    const timeline = (await call('GET', `/v1/runs/${runs.rejected}/timeline`)).body.events as Array<{ type: string; nodeId: string; payloadJson: unknown }>;
    expect(timeline.find((e) => e.type === 'NODE_FINISHED' && e.nodeId === 'reject')!.payloadJson).toEqual({ next: null, outcome: 'rejected' });
  });

  it('filters by one outcome, by several (the parameter repeated), and with status', async () => {
    expect((await list('outcome=paid')).map((r) => r.runId)).toEqual([runs.paid]);
    expect((await list('outcome=paid&outcome=rejected')).map((r) => r.runId).sort()).toEqual([runs.paid, runs.rejected].sort());
    expect((await list('outcome=rejected&status=COMPLETED')).map((r) => r.runId)).toEqual([runs.rejected]);
    expect(await list('outcome=rejected&status=WAITING,FAILED')).toEqual([]);
    // A value is taken whole: a comma does not split it.
    expect(await list('outcome=paid,rejected')).toEqual([]);
  });

  it('refuses an outcome filter that no outcome could be (400)', async () => {
    for (const [query, message] of [
      ['outcome=', 'querystring.outcome must NOT have fewer than 1 characters'],
      [`outcome=${'x'.repeat(201)}`, 'querystring.outcome must NOT have more than 200 characters'],
      [`outcome=a${'&outcome=b'.repeat(50)}`, 'querystring.outcome must NOT have more than 50 items'],
      ['outcome=a&outcome=', 'querystring.outcome.1 must NOT have fewer than 1 characters'],
    ]) {
      const res = await call('GET', `/v1/runs?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error).toEqual({ code: 'INVALID_REQUEST', message });
    }
    const nul = await call('GET', '/v1/runs?outcome=a%00b');
    expect(nul.status).toBe(400);
    expect(nul.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('outcome contains U+0000') });
  });

  it('describes the filter and the field in the OpenAPI document', async () => {
    const doc = (await call('GET', '/openapi.json')).body;
    const param = doc.paths['/v1/runs'].get.parameters.find((p: { name: string }) => p.name === 'outcome');
    expect(param).toMatchObject({ in: 'query', required: false, description: expect.stringContaining('Repeat it') });
    expect(doc.components.schemas.RunSummary.properties.outcome).toBeDefined();
    expect(doc.components.schemas.Run.properties.outcome).toBeDefined();
  });
});

// Each invocation starts Node and tsx (about a second, more on a busy machine).
describe('hazel-flow runs list --outcome', { timeout: 120_000 }, () => {
  const cli = (...args: string[]) => runCli(['runs', 'list', '--tenant', 'outcomes', ...args], { FLOW_URL: rt.url });

  it('lists the runs with the outcome (repeatable), shows an OUTCOME column, and refuses an empty one', async () => {
    const table = await cli('--outcome', 'rejected');
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^RUN\s+FLOW\s+STATUS\s+OUTCOME\s+NODE\s+CREATED\s+NOTE$/m);
    expect(table.stdout).toMatch(new RegExp(`^${runs.rejected}\\s+demo-approval@1\\.0\\.0\\s+COMPLETED\\s+rejected\\s`, 'm'));
    expect(table.stdout).not.toContain(runs.paid);

    const json = JSON.parse((await cli('--json', '--outcome', 'paid', '--outcome', 'rejected', '--status', 'completed')).stdout);
    expect(json.runs.map((r: { runId: string }) => r.runId).sort()).toEqual([runs.paid, runs.rejected].sort());
    expect(json.runs.map((r: { outcome: string }) => r.outcome).sort()).toEqual(['paid', 'rejected']);

    const show = await runCli(['runs', 'show', runs.paid], { FLOW_URL: rt.url });
    expect(show.stdout).toMatch(/^outcome\s+paid$/m);

    const empty = await cli('--outcome', '');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('--outcome must be 1 to 200 characters');
  });
});
