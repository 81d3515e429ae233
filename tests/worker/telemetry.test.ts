/**
 * OpenTelemetry spans from a worker, recorded by a minimal tracer provider registered through
 * the real `@opentelemetry/api` (a dev dependency here; optional for users).
 */
import { trace, type Context, type Span, type SpanOptions, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flow } from '../../src/definitions/builder.js';
import type { NodeResult } from '../../src/definitions/types.js';
import { loadOpenTelemetry } from '../../src/worker/telemetry.js';
import { waitFor, WorkerCluster } from '../helpers/worker-cluster.js';

interface RecordedSpan {
  name: string;
  attributes: Record<string, unknown>;
  status?: { code: number; message?: string };
  ended: boolean;
  parent?: RecordedSpan;
}

class RecordingTracer implements Tracer {
  readonly spans: RecordedSpan[] = [];
  private readonly bySpan = new WeakMap<Span, RecordedSpan>();

  startSpan(name: string, options: SpanOptions = {}, context?: Context): Span {
    const parentSpan = context ? trace.getSpan(context) : undefined;
    const record: RecordedSpan = { name, attributes: { ...options.attributes }, ended: false, parent: parentSpan ? this.bySpan.get(parentSpan) : undefined };
    this.spans.push(record);
    const span = {
      spanContext: () => ({ traceId: '0'.repeat(31) + '1', spanId: String(this.spans.length).padStart(16, '0'), traceFlags: 1 }),
      setAttribute: (k: string, v: unknown) => ((record.attributes[k] = v), span),
      setAttributes: (a: Record<string, unknown>) => (Object.assign(record.attributes, a), span),
      addEvent: () => span,
      addLink: () => span,
      addLinks: () => span,
      setStatus: (s: { code: number; message?: string }) => ((record.status = s), span),
      updateName: () => span,
      end: () => void (record.ended = true),
      isRecording: () => true,
      recordException: () => {},
    } as unknown as Span;
    this.bySpan.set(span, record);
    return span;
  }

  startActiveSpan(): never {
    throw new Error('not used');
  }
}

describe('OpenTelemetry spans', () => {
  const tracer = new RecordingTracer();
  beforeAll(() => {
    const provider: TracerProvider = { getTracer: () => tracer };
    trace.setGlobalTracerProvider(provider);
  });
  afterAll(() => trace.disable());

  it('loads the optional API', async () => {
    expect(await loadOpenTelemetry()).not.toBeNull();
  });

  it('records a claim span per claim and a node span per attempt, with outcome attributes', async () => {
    const cluster = await WorkerCluster.open('memory');
    let calls = 0;
    const def = flow('traced', '1')
      .entry('flaky')
      .node('flaky', (): NodeResult => (++calls === 1 ? { status: 'error', error: { code: 'BOOM', message: 'first try fails' } } : { status: 'ok' }), {
        retry: { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 5 },
      })
      .node('wait', (ctx): NodeResult => (ctx.state._resumePayload === undefined ? { status: 'wait', reason: 'approval' } : { status: 'ok' }))
      .edge('flaky', 'wait')
      .build();
    const engine = await cluster.engine([def]);
    const worker = cluster.startWorker(engine, { pollIntervalMs: 10 });
    const { runId } = await engine.startRun({ flowId: 'traced', version: '1', input: null });
    await waitFor('waiting', async () => (await engine.getRun(runId))?.status === 'WAITING');
    await worker.stop();

    const nodeSpans = tracer.spans.filter((s) => s.name === 'flow.node');
    expect(nodeSpans.map((s) => [s.attributes['flow.node_id'], s.attributes['flow.attempt'], s.attributes['flow.outcome']])).toEqual([
      ['flaky', 1, 'error'],
      ['flaky', 2, 'ok'],
      ['wait', 1, 'wait'],
    ]);
    expect(nodeSpans[0]!.attributes['flow.error_code']).toBe('BOOM');
    expect(nodeSpans[0]!.status?.code).toBe(2); // SpanStatusCode.ERROR
    for (const span of tracer.spans) {
      expect(span.ended).toBe(true);
      expect(span.attributes).toMatchObject({ 'flow.run_id': runId, 'flow.id': 'traced', 'flow.version': '1' });
    }
    const claims = tracer.spans.filter((s) => s.name === 'flow.claim');
    expect(claims.length).toBeGreaterThanOrEqual(2); // the retry is due later: a second claim
    for (const span of nodeSpans) expect(claims).toContain(span.parent);
    expect(claims.at(-1)!.attributes['flow.status']).toBe('WAITING');
    await cluster.close();
  });
});
