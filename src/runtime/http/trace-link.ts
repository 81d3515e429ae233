/**
 * The link from a run to its trace in the operator's tracing UI (Jaeger, Tempo, Honeycomb…): a
 * URL template (the runtime's `traceUrl`, FLOW_TRACE_URL) whose `{traceId}` (and `{spanId}`) are
 * filled from the run's traceparent. Checked once, at start: a template without `{traceId}` or
 * not http(s) is refused.
 */
import { InvalidArgumentError } from '../../errors.js';
import { parseTraceparent } from '../../core/trace-context.js';

export function assertValidTraceUrl(template: string | undefined): void {
  if (template === undefined) return;
  if (typeof template !== 'string' || !/^https?:\/\//i.test(template) || !template.includes('{traceId}')) {
    throw new InvalidArgumentError(
      `traceUrl must be an http(s) URL template containing {traceId}, e.g. https://jaeger.example.com/trace/{traceId}; got ${JSON.stringify(template)}`,
    );
  }
}

/** The run's trace link, or null without a template or a traceparent. */
export function traceLink(template: string | undefined, traceparent: string | null | undefined): string | null {
  const trace = template ? parseTraceparent(traceparent) : null;
  if (!template || !trace) return null;
  return template.replaceAll('{traceId}', trace.traceId).replaceAll('{spanId}', trace.spanId);
}
