/**
 * The W3C trace context a run keeps (`traceparent`, https://www.w3.org/TR/trace-context/): read,
 * checked and made here, for every layer. Version 00 only: `00-<32 hex trace id>-<16 hex parent
 * id>-<2 hex flags>`, lower case, neither id all zeros.
 */
import { randomBytes } from 'node:crypto';

export interface TraceContext {
  traceId: string;
  spanId: string;
  /** Bit 0: sampled. */
  traceFlags: number;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The parts of a valid traceparent, or null. */
export function parseTraceparent(value: unknown): TraceContext | null {
  if (typeof value !== 'string') return null;
  const m = TRACEPARENT.exec(value);
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return null;
  return { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) };
}

export function formatTraceparent(ctx: TraceContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${(ctx.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * A new trace for a run started outside any: random ids, sampled (under a parent-based sampler,
 * an unsampled remote parent would drop every span of the run).
 */
export function newTraceparent(): string {
  return formatTraceparent({ traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags: 1 });
}
