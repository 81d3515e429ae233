/**
 * Optional OpenTelemetry: a `flow.claim` span per claim (one worker advancing one run) and a
 * `flow.node` span per node attempt, built from the engine's lifecycle hooks. `@opentelemetry/api`
 * is an optional peer dependency: it is imported by name at run time, and without it (or with no
 * tracer provider registered, when the API hands out no-op spans) this costs next to nothing.
 * The API's types are described structurally here so that the package has no type dependency on it.
 *
 * Every span of a run belongs to the run's trace (`run.traceparent`, kept on the run since
 * `startRun`): a claim's span is a child of that context, whichever process claims it and after
 * whatever wait, retry or recovery, so one trace shows the run from start to end.
 */
import { formatTraceparent, parseTraceparent } from '../core/trace-context.js';
import type { FlowHookPayload } from '../engine/events.js';
import type { FlowRunRecord } from '../storage/types.js';
import type { WorkerHost } from './host.js';

type Attributes = Record<string, string | number | boolean>;

interface OtelSpan {
  setAttribute(key: string, value: string | number | boolean): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}
interface OtelTracer {
  startSpan(name: string, options?: { attributes?: Attributes }, context?: unknown): OtelSpan;
}
interface OtelSpanContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
  isRemote?: boolean;
}
interface OtelApi {
  trace: {
    getTracer(name: string, version?: string): OtelTracer;
    setSpan(context: unknown, span: OtelSpan): unknown;
    setSpanContext(context: unknown, spanContext: OtelSpanContext): unknown;
    getSpanContext(context: unknown): OtelSpanContext | undefined;
    isSpanContextValid(spanContext: OtelSpanContext): boolean;
  };
  context: { active(): unknown; with<T>(context: unknown, fn: () => T): T };
  ROOT_CONTEXT: unknown;
  SpanStatusCode: { OK: number; ERROR: number };
}

/** How a node attempt ended, as the `flow.outcome` attribute. */
export type AttemptSpanOutcome = 'ok' | 'wait' | 'error' | 'interrupted' | 'failed' | 'cancelled' | 'abandoned';

// A variable, so that neither TypeScript nor a bundler insists on resolving the optional package.
const OTEL_MODULE = '@opentelemetry/api';
let loading: Promise<OtelApi | null> | undefined;

/** The OpenTelemetry API, or null when the package is not installed. Imported once per process. */
export function loadOpenTelemetry(): Promise<OtelApi | null> {
  loading ??= import(OTEL_MODULE).then(
    (mod: { default?: OtelApi } & Partial<OtelApi>) => (mod.trace ? (mod as OtelApi) : (mod.default ?? null)),
    () => null,
  );
  return loading;
}

/**
 * The traceparent of the span active where `startRun` is called (an HTTP request's, a job's), or
 * null when there is none or OpenTelemetry is not installed.
 */
export async function activeTraceparent(): Promise<string | null> {
  const api = await loadOpenTelemetry();
  const active = api?.trace.getSpanContext(api.context.active());
  if (!api || !active || !api.trace.isSpanContextValid(active)) return null;
  return formatTraceparent(active);
}

const perEngine = new WeakMap<WorkerHost, { telemetry: FlowTelemetry; users: number }>();

/** Shared by every worker of one engine, so that two workers do not record each attempt twice. */
export async function acquireTelemetry(engine: WorkerHost): Promise<FlowTelemetry | null> {
  const api = await loadOpenTelemetry();
  if (!api) return null;
  let entry = perEngine.get(engine);
  if (!entry) perEngine.set(engine, (entry = { telemetry: new FlowTelemetry(api, engine), users: 0 }));
  entry.users += 1;
  return entry.telemetry;
}

export function releaseTelemetry(engine: WorkerHost): void {
  const entry = perEngine.get(engine);
  if (!entry || --entry.users > 0) return;
  entry.telemetry.uninstall();
  perEngine.delete(engine);
}

export class FlowTelemetry {
  private readonly tracer: OtelTracer;
  /** The open `flow.node` span of each run whose attempt is in flight in this process. */
  private readonly attempts = new Map<string, OtelSpan>();
  private readonly claims = new Map<string, OtelSpan>();
  private readonly unsubscribe: Array<() => void>;

  constructor(
    private readonly api: OtelApi,
    engine: Pick<WorkerHost, 'on'>,
  ) {
    this.tracer = api.trace.getTracer('@hazeljs/flow');
    this.unsubscribe = [
      engine.on('node:started', (p) => this.startAttempt(p)),
      engine.on('node:finished', (p) => this.endAttempt(p.run.runId, 'ok', p)),
      engine.on('run:waiting', (p) => this.endAttempt(p.run.runId, 'wait', p)),
      engine.on('node:failed', (p) => this.endAttempt(p.run.runId, 'error', p)),
      engine.on('run:failed', (p) => this.endAttempt(p.run.runId, 'failed', p)),
      engine.on('run:cancelled', (p) => this.endAttempt(p.run.runId, 'cancelled', p)),
      engine.on('node:interrupted', (p) => this.recordInterrupted(p)),
    ];
  }

  uninstall(): void {
    for (const off of this.unsubscribe) off();
    for (const runId of [...this.attempts.keys()]) this.endAttempt(runId, 'abandoned');
  }

  /** Runs one claim inside a `flow.claim` span, made the active context so handlers' own spans nest under it. */
  async claim<T extends { run: FlowRunRecord; steps: number }>(run: FlowRunRecord, fn: () => Promise<T>): Promise<T> {
    const span = this.tracer.startSpan('flow.claim', { attributes: runAttributes(run) }, this.runContext(run));
    this.claims.set(run.runId, span);
    try {
      const result = await this.api.context.with(this.api.trace.setSpan(this.api.context.active(), span), fn);
      span.setAttribute('flow.steps', result.steps);
      span.setAttribute('flow.status', result.run.status);
      return result;
    } catch (err) {
      span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      // An attempt still open here was never committed (abandoned at stop, or a storage failure).
      this.endAttempt(run.runId, 'abandoned');
      this.claims.delete(run.runId);
      span.end();
    }
  }

  private startAttempt({ run, event }: FlowHookPayload): void {
    this.endAttempt(run.runId, 'abandoned');
    const claim = this.claims.get(run.runId);
    const parent = claim ? this.api.trace.setSpan(this.api.context.active(), claim) : this.runContext(run);
    const attributes = { ...runAttributes(run), 'flow.node_id': event?.nodeId ?? run.currentNodeId ?? '', 'flow.attempt': event?.attempt ?? run.attempt };
    this.attempts.set(run.runId, this.tracer.startSpan('flow.node', { attributes }, parent));
  }

  endAttempt(runId: string, outcome: AttemptSpanOutcome, payload?: FlowHookPayload): void {
    const span = this.attempts.get(runId);
    if (!span) return;
    this.attempts.delete(runId);
    this.finish(span, outcome, payload);
  }

  private recordInterrupted(payload: FlowHookPayload): void {
    const { run, event } = payload;
    const attributes = { ...runAttributes(run), 'flow.node_id': event?.nodeId ?? '', 'flow.attempt': event?.attempt ?? 0 };
    const claim = this.claims.get(run.runId);
    const parent = claim ? this.api.trace.setSpan(this.api.context.active(), claim) : this.runContext(run);
    this.finish(this.tracer.startSpan('flow.node', { attributes }, parent), 'interrupted', payload);
  }

  /** The run's trace as a parent context (a remote span context); the active context for a run without one. */
  private runContext(run: FlowRunRecord): unknown {
    const parent = parseTraceparent(run.traceparent);
    if (!parent) return this.api.context.active();
    return this.api.trace.setSpanContext(this.api.ROOT_CONTEXT, { ...parent, isRemote: true });
  }

  private finish(span: OtelSpan, outcome: AttemptSpanOutcome, payload?: FlowHookPayload): void {
    span.setAttribute('flow.outcome', outcome);
    const event = payload?.event;
    if (event?.durationMs != null) span.setAttribute('flow.duration_ms', event.durationMs);
    if (event?.payload?.includes('"cached":true')) span.setAttribute('flow.cached', true);
    const error = event?.error ?? (outcome === 'failed' || outcome === 'cancelled' ? payload?.run.error : null);
    if (error) {
      span.setAttribute('flow.error_code', error.code);
      if (error.retryable !== undefined) span.setAttribute('flow.error_retryable', error.retryable);
    }
    const failed = outcome !== 'ok' && outcome !== 'wait';
    span.setStatus(failed ? { code: this.api.SpanStatusCode.ERROR, message: error?.message ?? outcome } : { code: this.api.SpanStatusCode.OK });
    span.end();
  }
}

function runAttributes(run: FlowRunRecord): Attributes {
  return { 'flow.run_id': run.runId, 'flow.id': run.flowId, 'flow.version': run.flowVersion };
}
