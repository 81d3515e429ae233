/**
 * Versions in operation through the runtime: `GET /v1/flows` counts each version's unfinished and
 * stranded runs (a version the server does not register, left behind by a deploy);
 * `POST /v1/flows/:flowId/migrate` (dry run, then for real) moves them; `POST /v1/runs/:id/retry`
 * and `/fork`; bad input is a 400/404/409 with the engine's code and writes nothing; the same
 * through `hazel-flow migrate|retry|fork` (exit 0, 1 with the server's code, 2 for bad usage).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowEngine, flow, type FlowDefinition } from '../../src/index.js';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { createMemoryStorage } from '../../src/storage/memory.js';
import { runCli } from './cli-helpers.js';
import { http, startRuntime } from './helpers.js';

const FLOW = 'deploy-demo';
let broken = true;

/** a → approve (waits) → ship, and in version 2 a `notify` node after ship. */
function deployDemo(version: string): FlowDefinition {
  let f = flow(FLOW, version)
    .entry('a')
    .node('a', () => ({ status: 'ok', output: 'a' }))
    .node('approve', (ctx) =>
      ctx.state._resumePayload === undefined ? { status: 'wait', reason: 'approval' } : { status: 'ok', output: ctx.state._resumePayload },
    )
    .node('ship', () =>
      broken && version === '2' ? { status: 'error', error: { code: 'DOWN', message: 'carrier down', retryable: false } } : { status: 'ok', output: 'shipped' },
    )
    .edge('a', 'approve')
    .edge('approve', 'ship');
  if (version === '2') f = f.node('notify', () => ({ status: 'ok', output: 'notified' })).edge('ship', 'notify');
  return f.build();
}

let rt: FlowRuntime;
let old: FlowEngine;
const call = (method: string, path: string, init?: Parameters<typeof http>[3]) => http(rt.url, method, path, init);
const cli = (...args: string[]) => runCli(args, { FLOW_URL: rt.url });
const waiting: string[] = [];
let due = '';

beforeAll(async () => {
  const storage = createMemoryStorage();
  // The old deploy: version 1, with runs parked at the approval and one never driven.
  old = new FlowEngine({ storage });
  await old.registerDefinition(deployDemo('1'));
  for (let i = 0; i < 2; i++) {
    const { runId } = await old.startRun({ flowId: FLOW, version: '1', input: { i } });
    await old.runToCompletion(runId);
    waiting.push(runId);
  }
  due = (await old.startRun({ flowId: FLOW, version: '1', input: { i: 2 } })).runId;
  // The new deploy serves version 2 only.
  rt = await startRuntime({ storage, flows: [deployDemo('2')] });
});
afterAll(async () => {
  await rt.close();
});

describe('versions over HTTP and the CLI', { timeout: 120_000 }, () => {
  it('lists each version with its unfinished and stranded runs', async () => {
    const flows = (await call('GET', '/v1/flows')).body.flows as Array<{
      flowId: string;
      version: string;
      registered: boolean;
      unfinishedRuns: number;
      strandedRuns: number;
    }>;
    expect(
      flows
        .filter((f) => f.flowId === FLOW)
        .map(({ version, registered, unfinishedRuns, strandedRuns }) => ({ version, registered, unfinishedRuns, strandedRuns })),
    ).toEqual([
      { version: '1', registered: false, unfinishedRuns: 3, strandedRuns: 1 },
      { version: '2', registered: true, unfinishedRuns: 0, strandedRuns: 0 },
    ]);
  });

  it('refuses bad migrations with the engine’s code, writing nothing', async () => {
    for (const [body, status, code] of [
      [{ fromVersion: '2', toVersion: '2' }, 400, 'INVALID_ARGUMENT'],
      [{ fromVersion: '1', toVersion: '2', nodeMap: { nope: 'ship' } }, 400, 'INVALID_ARGUMENT'],
      [{ fromVersion: '1', toVersion: '9' }, 404, 'FLOW_NOT_FOUND'],
      [{ fromVersion: '1', toVersion: '2', runIds: ['no-such-run'] }, 404, 'RUN_NOT_FOUND'],
      [{ fromVersion: '1', toVersion: '2', extra: true }, 400, 'INVALID_REQUEST'],
    ] as const) {
      const res = await call('POST', `/v1/flows/${FLOW}/migrate`, { json: body });
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.error.code).toBe(code);
    }
    const usage = await cli('migrate', FLOW, '--from', '1');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--to/);
    expect((await rt.engine.getRun(waiting[0]!))!.flowVersion).toBe('1');
  });

  it('migrates: a dry run through the CLI, then for real over HTTP; the moved runs go on under version 2', async () => {
    const dry = await cli('migrate', FLOW, '--from', '1', '--to', '2', '--dry-run');
    // The versions by position say the same.
    const positional = await cli('migrate', `${FLOW}@1`, '2', '--dry-run', '--json');
    expect(positional.code, positional.stderr).toBe(0);
    expect(JSON.parse(positional.stdout).migrated).toHaveLength(3);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^Would migrate 3 runs of deploy-demo from 1 to 2; 0 blocked$/m);
    expect((await rt.engine.getRun(due))!.flowVersion).toBe('1');

    const res = await call('POST', `/v1/flows/${FLOW}/migrate`, { json: { fromVersion: '1', toVersion: '2' } });
    expect(res.status).toBe(200);
    expect([...res.body.migrated].sort()).toEqual([...waiting, due].sort());
    expect(res.body.blocked).toEqual([]);
    const flows = (await call('GET', '/v1/flows')).body.flows as Array<{ flowId: string; version: string; unfinishedRuns: number; strandedRuns: number }>;
    expect(flows.find((f) => f.flowId === FLOW && f.version === '1')).toMatchObject({ unfinishedRuns: 0, strandedRuns: 0 });
    const timeline = (await call('GET', `/v1/runs/${waiting[0]}/timeline`)).body.events as Array<{ type: string; payloadJson: unknown }>;
    expect(timeline.find((e) => e.type === 'RUN_MIGRATED')?.payloadJson).toEqual({ fromVersion: '1', toVersion: '2', nodeMap: {} });
  });

  it('retries a failed run once the failure is fixed, and forks a run from a node', async () => {
    // Version 2's ship fails: both waiting runs end FAILED once approved.
    for (const runId of waiting) {
      await rt.engine.resumeRun(runId, 'ok');
      expect(await rt.engine.runToCompletion(runId)).toMatchObject({ status: 'FAILED', error: { code: 'DOWN' } });
    }
    broken = false;
    const [first, second] = waiting as [string, string];
    const retried = await call('POST', `/v1/runs/${first}/retry`, { json: {} });
    expect(retried.status, retried.text).toBe(200);
    expect(retried.body.run).toMatchObject({ runId: first, status: 'RUNNING', error: null, currentNodeId: 'ship' });
    const again = await call('POST', `/v1/runs/${first}/retry`, { json: {} });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('INVALID_RUN_STATE');
    expect(await rt.engine.runToCompletion(first)).toMatchObject({ status: 'COMPLETED', outputsJson: { ship: 'shipped', notify: 'notified' } });

    const viaCli = await cli('retry', second, '--state-patch', '{"note":"carrier back"}');
    expect(viaCli.code, viaCli.stderr).toBe(0);
    expect(viaCli.stdout).toMatch(new RegExp(`^Retried run ${second}: now RUNNING at ship$`, 'm'));
    expect(await rt.engine.runToCompletion(second)).toMatchObject({ status: 'COMPLETED', stateJson: { note: 'carrier back' } });
    const refused = await cli('retry', second);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/INVALID_RUN_STATE/);

    const fork = await call('POST', `/v1/runs/${first}/fork`, { json: { fromNodeId: 'ship' } });
    expect(fork.status, fork.text).toBe(201);
    const forked = (await call('GET', `/v1/runs/${fork.body.runId}`)).body.run;
    expect(forked).toMatchObject({ forkedFrom: { runId: first, nodeId: 'ship' }, status: 'RUNNING', outputsJson: { a: 'a', approve: 'ok' } });
    const forkCli = await cli('fork', first, '--from-node', 'notify', '--json');
    expect(forkCli.code, forkCli.stderr).toBe(0);
    expect(JSON.parse(forkCli.stdout)).toEqual({ runId: expect.any(String) });
    const badNode = await call('POST', `/v1/runs/${first}/fork`, { json: { fromNodeId: 'nope' } });
    expect([badNode.status, badNode.body.error.code]).toEqual([400, 'INVALID_ARGUMENT']);
    expect((await cli('fork', first)).code).toBe(2);
  });
});
