/**
 * One trace per run, across steps, waits, retries and processes: a run started with a traceparent
 * (or inside an active span) keeps it, and every span its steps make — in whichever worker
 * process, after a retry, a durable timer and a crash — belongs to that trace, as a child of the
 * run's context. Also the workers' registry after a worker is SIGKILLed: shown silent, then gone.
 * Spans are recorded by a minimal tracer provider (tests/helpers/recording-tracer.ts); each worker
 * process appends its spans to one file.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnScript, type ScriptProcess } from '../../chaos/child-process.js';
import { parseTraceparent } from '../../src/core/trace-context.js';
import { flow } from '../../src/definitions/builder.js';
import { FlowEngine } from '../../src/flow-engine.js';
import { createMemoryStorage } from '../../src/storage/memory.js';
import { createPostgresStorage } from '../../src/storage/postgres.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';
import { registerRecordingTracer, RecordingTracer, useAsyncContext, type RecordedSpan } from '../helpers/recording-tracer.js';
import { tracedFlow } from './fixtures/traced-flow.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/traced-worker-process.ts', import.meta.url));
const GIVEN = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('a run keeps its trace', () => {
  const tracer = new RecordingTracer();
  beforeAll(() => {
    registerRecordingTracer(tracer);
    useAsyncContext();
  });
  afterAll(() => {
    trace.disable();
    context.disable();
  });

  it('given at startRun, taken from the active span, or new; a malformed one is refused; a child run continues its parent’s', async () => {
    const engine = new FlowEngine({ storage: createMemoryStorage() });
    const child = flow('trace-child', '1')
      .entry('c')
      .node('c', () => ({ status: 'ok' }))
      .build();
    const parent = flow('trace-parent', '1')
      .entry('p')
      .node('p', () => ({ status: 'child', flowId: 'trace-child', version: '1', input: null }))
      .build();
    await engine.registerDefinition(child);
    await engine.registerDefinition(parent);
    try {
      const given = await engine.startRun({ flowId: 'trace-parent', version: '1', input: null, traceparent: GIVEN });
      expect((await engine.getRun(given.runId))!.traceparent).toBe(GIVEN);

      const span = tracer.startSpan('request', {}, ROOT_CONTEXT);
      const active = await context.with(trace.setSpan(ROOT_CONTEXT, span), () => engine.startRun({ flowId: 'trace-child', version: '1', input: null }));
      const { traceId, spanId } = span.spanContext();
      expect((await engine.getRun(active.runId))!.traceparent).toBe(`00-${traceId}-${spanId}-01`);

      const fresh = await engine.startRun({ flowId: 'trace-child', version: '1', input: null });
      const own = parseTraceparent((await engine.getRun(fresh.runId))!.traceparent);
      expect(own).not.toBeNull();
      expect(own!.traceId).not.toBe(traceId);

      for (const bad of ['nope', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', GIVEN.toUpperCase(), `${GIVEN}-x`]) {
        await expect(engine.startRun({ flowId: 'trace-child', version: '1', input: null, traceparent: bad })).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
        });
      }

      const done = await engine.runToCompletion(given.runId);
      expect(done.status).toBe('COMPLETED');
      const children = await engine.listRuns({ parentRunId: given.runId });
      expect(children.runs.map((r) => r.traceparent)).toEqual([GIVEN]);
    } finally {
      await engine.close();
    }
  });
});

describe.skipIf(!HAVE_PG)('one trace across a retry, a wait and two worker processes (Postgres)', () => {
  let schema: TestSchema;
  let client: FlowEngine;
  let dir: string;
  const children: ScriptProcess[] = [];

  beforeAll(async () => {
    schema = await createTestSchema('flow_traces');
    client = new FlowEngine({ storage: createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: schema.schema, poolSize: 2 }) });
    await client.registerDefinition(tracedFlow(() => ({ status: 'ok' })));
    dir = mkdtempSync(join(tmpdir(), 'flow-traces-'));
  }, 60_000);

  afterAll(async () => {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await client?.close();
    await schema?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const spawnWorker = async (env: Record<string, string>) => {
    const proc = spawnScript(FIXTURE, { DATABASE_URL: TEST_DATABASE_URL, FLOW_SCHEMA: schema.schema, SPAN_FILE: join(dir, 'spans.jsonl'), ...env });
    children.push(proc);
    const [, pid, workerId] = (await proc.line((l) => l.startsWith('READY'))).split(' ');
    return { proc, pid: Number(pid), workerId: workerId! };
  };

  it('every span of the run has its trace id, from both processes; the killed worker shows silent, then is gone', async () => {
    const first = await spawnWorker({ HANG: '1', HEARTBEAT_MS: '100' });
    expect((await client.listWorkers()).map((w) => [w.workerId, w.status])).toEqual([[first.workerId, 'live']]);
    const { runId } = await client.startRun({ flowId: 'traced', version: '1', input: null, traceparent: GIVEN });
    await first.proc.line((l) => l === `ENTERED ${runId} last`);
    first.proc.child.kill('SIGKILL');
    expect((await first.proc.exited).signal).toBe('SIGKILL');

    // Silent after 3 missed refreshes (300 ms), and what it served is due with no one serving it.
    await waitFor('the killed worker shown silent', async () =>
      (await client.listWorkers()).some((w) => w.workerId === first.workerId && w.status === 'silent'),
    );
    expect(await client.servedFlowKeys()).toEqual([]);
    await waitFor('its run shown unserved', async () => (await client.unservedDueRuns()).some((d) => d.flowId === 'traced' && d.due === 1), 10_000);

    const second = await spawnWorker({ HANG: '0', HEARTBEAT_MS: '100' });
    await waitFor('the run completed by the second worker', async () => (await client.getRun(runId))?.status === 'COMPLETED');
    expect(await client.servedFlowKeys()).toEqual(['traced@1']);
    // Gone after 30 missed refreshes (3 s): deleted by the live worker's refresh, and never listed meanwhile.
    await waitFor('the killed worker gone', async () => (await client.listWorkers()).every((w) => w.workerId !== first.workerId), 10_000);
    expect((await client.listWorkers()).map((w) => [w.workerId, w.status, w.pid])).toEqual([[second.workerId, 'live', second.pid]]);

    second.proc.child.kill('SIGTERM');
    await second.proc.exited;
    const spans: RecordedSpan[] = readFileSync(join(dir, 'spans.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as RecordedSpan)
      .filter((s) => s.attributes['flow.run_id'] === runId);
    const given = parseTraceparent(GIVEN)!;
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([given.traceId]));
    expect(new Set(spans.map((s) => s.pid))).toEqual(new Set([first.pid, second.pid]));
    const claims = spans.filter((s) => s.name === 'flow.claim');
    const claimIds = new Set(claims.map((s) => s.spanId));
    expect(claims.every((s) => s.parentSpanId === given.spanId)).toBe(true);
    const nodes = spans.filter((s) => s.name === 'flow.node');
    // Each under its claim's span (the killed process's last claim never ended, so it was never written).
    expect(nodes.filter((s) => s.pid === second.pid).every((s) => claimIds.has(s.parentSpanId!))).toBe(true);
    expect(nodes.every((s) => s.parentSpanId !== given.spanId)).toBe(true);
    const outcomes = nodes.map((s) => `${String(s.attributes['flow.node_id'])}:${String(s.attributes['flow.outcome'])}`);
    expect(outcomes).toEqual(expect.arrayContaining(['flaky:error', 'flaky:ok', 'pause:wait', 'pause:ok', 'last:interrupted', 'last:ok']));
    expect(nodes.filter((s) => s.attributes['flow.node_id'] === 'last').map((s) => s.pid)).toEqual([second.pid, second.pid]);
  }, 60_000);
});
