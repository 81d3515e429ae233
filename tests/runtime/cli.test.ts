/**
 * The `hazel-flow` binary's API commands, run as child processes against a real server:
 * readable tables by default, --json for scripts, exit code 1 with the error's code on failure,
 * 2 on bad usage. Includes send-event (events) and runs list --parent (child runs).
 */
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { demoFlows } from '../../src/runtime/demo-flows.js';
import { runCli } from './cli-helpers.js';
import { startRuntime, waitForStatus } from './helpers.js';

let rt: FlowRuntime;
let secured: FlowRuntime;
const CLI_TOKEN = 'cli-token-0123456789abcdef';
const cli = (...args: string[]) => runCli(args, { FLOW_URL: rt.url });

beforeAll(async () => {
  rt = await startRuntime({ worker: true });
  secured = await startRuntime({ apiToken: CLI_TOKEN });
});
afterAll(async () => {
  await Promise.all([rt.close(), secured.close()]);
});

// Each invocation starts Node and tsx (about a second, more on a busy machine).
describe('hazel-flow (API commands)', { timeout: 120_000 }, () => {
  it('prints help with exit 0, and exits 2 on bad usage', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/hazel-flow serve/);
    expect(help.stdout).toMatch(/runs list/);
    expect(help.stdout).toMatch(/hazel-flow send-event <name> \[--key <key>\] \[--payload <json>\]/);
    expect(help.stdout).toMatch(/--parent <runId>/);
    for (const args of [
      ['bogus'],
      ['runs'],
      ['runs', 'frobnicate'],
      ['runs', 'show'],
      ['start', 'no-version'],
      ['start', 'demo-greeting@1.0.0', '--input', '{bad'],
      ['runs', 'list', '--nope'],
    ]) {
      const res = await cli(...args);
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr, args.join(' ')).toMatch(/^hazel-flow: .+\nRun `hazel-flow --help` for usage\.\n$/);
    }
  });

  it('lists flows as a table and as JSON', async () => {
    const table = await cli('flows');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^FLOW\s+ENTRY\s+NODES\s+EDGES\s+EXECUTABLE$/m);
    expect(table.stdout).toMatch(/^demo-approval@1\.0\.0\s+request\s+4\s+3\s+yes$/m);
    const json = JSON.parse((await cli('flows', '--json')).stdout);
    expect(json.flows.map((f: { flowId: string }) => f.flowId).sort()).toEqual(demoFlows.map((f) => f.flowId).sort());
  });

  it('starts, lists, shows, resumes and times a run', async () => {
    const started = await cli('start', 'demo-approval@1.0.0', '--input', '{"amount": 250}', '--tenant', 'cli-test');
    expect(started.code, started.stderr).toBe(0);
    const runId = started.stdout.match(/^Started run (\S+) \(RUNNING\)$/m)![1];
    await waitForStatus(rt, runId, 'WAITING');

    const list = await cli('runs', 'list', '--status', 'waiting', '--tenant', 'cli-test');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^RUN\s+FLOW\s+STATUS\s+OUTCOME\s+NODE\s+CREATED\s+NOTE$/m);
    expect(list.stdout).toContain(runId);
    expect(list.stdout).toMatch(/WAITING\s+approval/);
    const listJson = JSON.parse((await cli('runs', 'list', '--json', '--flow', 'demo-approval@1.0.0', '--tenant', 'cli-test')).stdout);
    expect(listJson).toEqual({ runs: [expect.objectContaining({ runId, status: 'WAITING' })], nextCursor: null });

    const show = await cli('runs', 'show', runId);
    expect(show.stdout).toMatch(new RegExp(`^run\\s+${runId}$`, 'm'));
    expect(show.stdout).toMatch(/^status\s+WAITING$/m);
    expect(show.stdout).toMatch(/^input\s+\{"amount":250\}$/m);

    const resumed = await cli('resume', runId, '--payload', '{"approved": true}');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(new RegExp(`^Resumed run ${runId}: now (RUNNING|COMPLETED)$`, 'm'));
    await waitForStatus(rt, runId, 'COMPLETED');

    const timeline = await cli('runs', 'timeline', runId);
    expect(timeline.stdout).toMatch(/^SEQ\s+AT\s+EVENT\s+NODE\s+ATTEMPT\s+DURATION\s+DETAILS$/m);
    for (const type of ['RUN_STARTED', 'RUN_WAITING', 'RUN_RESUMED', 'RUN_COMPLETED']) expect(timeline.stdout).toContain(type);
    const timelineJson = JSON.parse((await cli('runs', 'timeline', runId, '--json')).stdout);
    expect(timelineJson.events.at(-1).type).toBe('RUN_COMPLETED');

    const showJson = JSON.parse((await cli('runs', 'show', runId, '--json')).stdout);
    expect(showJson.run).toMatchObject({ runId, status: 'COMPLETED', outputsJson: { fulfil: 'Paid 250' } });
  });

  it('cancels a run, and exits 1 with the error code when the run already finished (cancelled included)', async () => {
    const started = JSON.parse((await cli('start', 'demo-approval@1.0.0', '--json')).stdout);
    expect(started).toMatchObject({ runId: expect.any(String), created: true });
    const cancelled = await cli('cancel', started.runId, '--reason', 'not needed');
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout.trim()).toBe(`Run ${started.runId} is CANCELLED`);
    const again = await cli('cancel', started.runId, '--reason', 'changed my mind');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^hazel-flow: error: INVALID_RUN_STATE: Cannot cancel run .+ it is CANCELLED.+\(HTTP 409\)$/m);
    expect((await rt.engine.getRun(started.runId))!.error).toMatchObject({ message: 'not needed' });

    const { runId } = await rt.engine.startRun({ flowId: 'demo-greeting', version: '1.0.0', input: null });
    await waitForStatus(rt, runId, 'COMPLETED');
    const late = await cli('cancel', runId);
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/^hazel-flow: error: INVALID_RUN_STATE: Cannot cancel run .+ it is COMPLETED.+\(HTTP 409\)$/m);
  });

  it('exits 1 with a clear message for unknown flows and runs, and bad resumes', async () => {
    const flow = await cli('start', 'nope@1.0.0');
    expect(flow.code).toBe(1);
    expect(flow.stderr).toMatch(/FLOW_NOT_FOUND: .*nope@1\.0\.0.+\(HTTP 404\)/);
    const run = await cli('runs', 'show', 'no-such-run');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/RUN_NOT_FOUND: .*no-such-run/);
    const { runId } = await rt.engine.startRun({ flowId: 'demo-greeting', version: '1.0.0', input: null });
    await waitForStatus(rt, runId, 'COMPLETED');
    const resume = await cli('resume', runId, '--payload', '{}');
    expect(resume.code).toBe(1);
    expect(resume.stderr).toMatch(/INVALID_RUN_STATE/);
  });

  it('exits 1 when the server is unreachable', async () => {
    const res = await runCli(['runs', 'list'], { FLOW_URL: 'http://127.0.0.1:9' });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/SERVER_UNREACHABLE: Cannot reach the flow server at http:\/\/127\.0\.0\.1:9/);
  });

  it('sends the token from FLOW_API_TOKEN or --token', async () => {
    const without = await runCli(['runs', 'list'], { FLOW_URL: secured.url });
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/UNAUTHORIZED.+\(HTTP 401\)/);
    expect((await runCli(['runs', 'list'], { FLOW_URL: secured.url, FLOW_API_TOKEN: CLI_TOKEN })).code).toBe(0);
    expect((await runCli(['runs', 'list', '--url', secured.url, '--token', CLI_TOKEN])).stdout).toMatch(/No runs\./);
  });

  it('gives up on a server that never answers (--timeout), exit 1', async () => {
    // Accepts connections and never says a word.
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    try {
      const startedAt = Date.now();
      const res = await runCli(['runs', 'list', '--url', url, '--timeout', '1'], {}, 30_000);
      expect(res.code, res.stderr).toBe(1);
      expect(res.stderr).toMatch(/^hazel-flow: error: REQUEST_TIMEOUT: The flow server at http:\/\/127\.0\.0\.1:\d+ did not answer within 1 s/m);
      expect(Date.now() - startedAt).toBeLessThan(20_000);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('never prints a password from --url, and sends it as HTTP Basic auth', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const fake = createHttpServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"runs":[],"nextCursor":null}');
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    const port = (fake.address() as { port: number }).port;
    try {
      const ok = await runCli(['runs', 'list', '--url', `http://alice:hunter2@127.0.0.1:${port}`]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(seen[0].authorization).toBe(`Basic ${Buffer.from('alice:hunter2').toString('base64')}`);
      for (const args of [
        ['runs', 'list', '--url', 'http://alice:hunter2@127.0.0.1:9'],
        ['runs', 'list', '--url', 'http://alice:hunter2@[not-a-host'],
        ['runs', 'list', '--url', `http://alice:hunter2@127.0.0.1:${port}`, '--token', CLI_TOKEN],
        ['serve', '--database-url', 'mysql://alice:hunter2@db/x'],
      ]) {
        const res = await runCli(args);
        expect(res.code, args.join(' ')).not.toBe(0);
        expect(`${res.stdout}${res.stderr}`, args.join(' ')).not.toContain('hunter2');
      }
      const unreachable = await runCli(['runs', 'list', '--url', 'http://alice:hunter2@127.0.0.1:9']);
      expect(unreachable.stderr).toMatch(/SERVER_UNREACHABLE: Cannot reach the flow server at http:\/\/127\.0\.0\.1:9 /);
    } finally {
      fake.close();
    }
  });

  it('exits 2 on a bad option value, before any request', async () => {
    const before = (await rt.engine.listRuns({ limit: 1000 })).runs.length;
    for (const args of [
      ['runs', 'list', '--limit', 'abc'],
      ['runs', 'list', '--limit', '0'],
      ['runs', 'list', '--limit', '5000'],
      ['runs', 'list', '--status', 'done'],
      ['runs', 'list', '--flow', 'demo@'],
      ['runs', 'list', '--timeout', 'soon'],
      ['runs', 'list', '--url', 'ftp://127.0.0.1'],
      ['runs', 'list', '--url', 'not a url'],
      ['resume', 'some-run', '--node', ''],
      ['start', 'demo-greeting@1.0.0', '--input', '{"id": 12345678901234567890}'],
      ['start', 'demo-greeting@1.0.0', '--input', '{"n": 1e400}'],
      ['resume', 'some-run', '--payload', '[9007199254740993]'],
      ['worker', '--concurrency', '1.5'],
      ['serve', '--port', '80x'],
    ]) {
      const res = await cli(...args);
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(2);
      expect(res.stderr, args.join(' ')).toMatch(/^hazel-flow: .+\nRun `hazel-flow --help` for usage\.\n$/);
    }
    const number = await cli('start', 'demo-greeting@1.0.0', '--input', '{"n": 1e400}');
    expect(number.stderr).toMatch(/INVALID_NUMBER: --input: number 1e400 is too large/);
    expect((await rt.engine.listRuns({ limit: 1000 })).runs.length).toBe(before);
  });

  it('resume --node resumes the branch waiting at that node; without --payload the payload is null', async () => {
    const started = await cli('start', 'demo-approval@1.0.0', '--input', '{"amount": 9}', '--json');
    const { runId } = JSON.parse(started.stdout);
    await waitForStatus(rt, runId, 'WAITING');
    const spy = vi.spyOn(rt.engine, 'resumeRun');
    try {
      const bare = await cli('resume', runId);
      expect(bare.code, bare.stderr).toBe(0);
      expect(spy).toHaveBeenLastCalledWith(runId, null);
      await waitForStatus(rt, runId, 'WAITING');
      const res = await cli('resume', runId, '--node', 'approval', '--payload', '{"approved": true}');
      expect(res.code, res.stderr).toBe(0);
      expect(spy).toHaveBeenLastCalledWith(runId, { approved: true }, { nodeId: 'approval' });
      await waitForStatus(rt, runId, 'COMPLETED');
    } finally {
      spy.mockRestore();
    }
  });

  it('send-event delivers an event to the runs waiting for it, and they complete', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'demo-event', version: '1.0.0', input: { orderId: 'order-cli' } });
    await waitForStatus(rt, runId, 'WAITING');
    const show = await cli('runs', 'show', runId);
    expect(show.stdout).toMatch(/^waits \(payment\)\s+event payment\.received key order-cli, timeout at \d{4}-\d\d-\d\dT/m);

    const sent = await cli('send-event', 'payment.received', '--key', 'order-cli', '--payload', '{"amount": 9007199254740991}');
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout.trim()).toMatch(/^Sent event payment\.received \(key order-cli\): [0-9a-f-]{36}; delivered to 1 waiting run branch$/);
    // The worker applies it.
    const done = await waitForStatus(rt, runId, 'COMPLETED');
    expect(done.outputsJson).toMatchObject({ payment: { amount: 9007199254740991 }, ship: 'Order order-cli shipped' });

    // Nobody waits any more; --json for scripts; no --payload sends null.
    const spy = vi.spyOn(rt.engine, 'sendEvent');
    try {
      const again = JSON.parse((await cli('send-event', 'payment.received', '--key', 'order-cli', '--json')).stdout);
      expect(again).toEqual({ eventId: expect.stringMatching(/^[0-9a-f-]{36}$/), delivered: 0 });
      expect(spy).toHaveBeenLastCalledWith({ name: 'payment.received', key: 'order-cli' });
      const noKey = await cli('send-event', 'inventory.changed');
      expect(noKey.stdout.trim()).toMatch(/^Sent event inventory\.changed: .+; delivered to 0 waiting run branches$/);
    } finally {
      spy.mockRestore();
    }
  });

  it('send-event: bad usage exits 2 before any request, a name the server refuses exits 1', async () => {
    const spy = vi.spyOn(rt.engine, 'sendEvent');
    try {
      for (const args of [
        ['send-event'],
        ['send-event', 'a', 'b'],
        ['send-event', 'payment.received', '--key', ''],
        ['send-event', 'payment.received', '--payload', '{bad'],
        ['send-event', 'payment.received', '--payload', '[9007199254740993]'],
        ['send-event', 'payment.received', '--payload', '{"n": 1e400}'],
        ['send-event', 'payment.received', '--nope'],
      ]) {
        const res = await cli(...args);
        expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(2);
        expect(res.stderr, args.join(' ')).toMatch(/^hazel-flow: .+\nRun `hazel-flow --help` for usage\.\n$/);
      }
      expect((await cli('send-event', 'x', '--payload', '[9007199254740993]')).stderr).toMatch(/INVALID_NUMBER: --payload: integer 9007199254740993/);
      expect(spy).not.toHaveBeenCalled();
      const bad = await cli('send-event', 'has space');
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/^hazel-flow: error: INVALID_ARGUMENT: sendEvent: name must be .+\(HTTP 400\)$/m);
    } finally {
      spy.mockRestore();
    }
  });

  it('runs list --parent lists the child runs of a run; runs show lists them too', async () => {
    const { runId } = await rt.engine.startRun({ flowId: 'demo-parent', version: '1.0.0', input: { parcels: ['x', 'y'], delayMs: 1 } });
    await waitForStatus(rt, runId, 'COMPLETED');
    const list = JSON.parse((await cli('runs', 'list', '--parent', runId, '--json')).stdout);
    expect(list.runs).toHaveLength(2);
    for (const r of list.runs) expect(r).toMatchObject({ flowId: 'demo-child', parentRunId: runId, parentNodeId: 'ship', status: 'COMPLETED' });
    const table = await cli('runs', 'list', '--parent', runId);
    expect(table.stdout.match(/demo-child@1\.0\.0\s+COMPLETED/g)).toHaveLength(2);

    const show = await cli('runs', 'show', runId);
    expect(show.stdout).toMatch(/^children \(2\):$/m);
    expect(show.stdout).toMatch(/^RUN\s+FLOW\s+STATUS\s+FROM NODE$/m);
    const child = await cli('runs', 'show', list.runs[0].runId);
    expect(child.stdout).toMatch(new RegExp(`^parent\\s+${runId} \\(node ship\\)$`, 'm'));

    expect((await cli('runs', 'list', '--parent', '')).code).toBe(2);
  });
});
