/**
 * A minimal OpenTelemetry tracer provider for tests (the SDK's cannot be installed beside our
 * `@opentelemetry/api`): each span takes its trace id from its parent context (a span, or a remote
 * span context such as a run's stored traceparent) or starts a new trace, and each ended span is
 * kept — and, with `file`, appended to it as a JSON line, so that spans from several processes can
 * be read together. `useAsyncContext()` installs an AsyncLocalStorage context manager, so that
 * `context.with` makes a span active (what `startRun` reads).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { context, ROOT_CONTEXT, trace, type Context, type ContextManager, type Span, type SpanOptions, type Tracer } from '@opentelemetry/api';

export interface RecordedSpan {
  name: string;
  traceId: string;
  spanId: string;
  /** The parent's span id (a span of this process, or a remote one: the run's traceparent). */
  parentSpanId: string | null;
  attributes: Record<string, unknown>;
  status: { code: number; message?: string } | null;
  pid: number;
}

export class RecordingTracer implements Tracer {
  readonly ended: RecordedSpan[] = [];

  constructor(private readonly file?: string) {}

  startSpan(name: string, options: SpanOptions = {}, ctx: Context = context.active()): Span {
    const parent = trace.getSpanContext(ctx);
    const record: RecordedSpan = {
      name,
      traceId: parent?.traceId ?? randomBytes(16).toString('hex'),
      spanId: randomBytes(8).toString('hex'),
      parentSpanId: parent?.spanId ?? null,
      attributes: { ...options.attributes },
      status: null,
      pid: process.pid,
    };
    const span = {
      spanContext: () => ({ traceId: record.traceId, spanId: record.spanId, traceFlags: 1 }),
      setAttribute: (k: string, v: unknown) => ((record.attributes[k] = v), span),
      setAttributes: (a: Record<string, unknown>) => (Object.assign(record.attributes, a), span),
      addEvent: () => span,
      addLink: () => span,
      addLinks: () => span,
      setStatus: (s: { code: number; message?: string }) => ((record.status = s), span),
      updateName: () => span,
      end: () => {
        this.ended.push(record);
        if (this.file) appendFileSync(this.file, `${JSON.stringify(record)}\n`);
      },
      isRecording: () => true,
      recordException: () => {},
    } as unknown as Span;
    return span;
  }

  startActiveSpan(): never {
    throw new Error('not used');
  }
}

/** Registers `tracer` as the global provider's only tracer. */
export function registerRecordingTracer(tracer: RecordingTracer): void {
  trace.setGlobalTracerProvider({ getTracer: () => tracer });
}

/** An AsyncLocalStorage context manager (what @opentelemetry/context-async-hooks provides). */
export function useAsyncContext(): void {
  const storage = new AsyncLocalStorage<Context>();
  const manager: ContextManager = {
    active: () => storage.getStore() ?? ROOT_CONTEXT,
    with: (ctx, fn, thisArg, ...args) => storage.run(ctx, () => fn.call(thisArg, ...args)),
    bind: (_ctx, target) => target,
    enable: () => manager,
    disable: () => (storage.disable(), manager),
  };
  context.setGlobalContextManager(manager);
}
