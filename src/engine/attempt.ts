/**
 * One call of a node handler: gives it an AbortSignal, enforces `timeoutMs`, and turns
 * whatever happens (a result, a throw, a timeout, a cancel, a malformed result) into a
 * checked `NodeResult`. A result that arrives after the timeout is dropped: the attempt has
 * already failed and its outcome may be committed, so the late value must never be.
 */
import { toErrorRecord, type ErrorRecord } from '../errors.js';
import type { FlowContext, NodeDefinition, NodeResult } from '../definitions/types.js';
import { unstorableTextReason } from '../core/json.js';
import { outcomeProblem } from '../core/outcome.js';
import { isPlainObject } from './merge.js';
import { MAX_RETRY_DELAY_MS } from '../definitions/types.js';
import { RESERVED_STATE_KEYS } from './reserved-keys.js';

export type AttemptOutcome =
  /** `outcome`: the business outcome the result carried (checked: see core/outcome.ts). */
  | { kind: 'ok'; output: unknown; patch: Record<string, unknown> | undefined; outcome?: string }
  | {
      kind: 'wait';
      output: unknown;
      patch: Record<string, unknown> | undefined;
      reason?: string;
      until?: string;
      event?: { name: string; key: string | null; timeoutMs?: number };
    }
  | { kind: 'error'; error: ErrorRecord }
  /** The handler asked for a child run; the driver starts it (`child-started`) before committing. */
  | { kind: 'child'; flowId: string; version: string; input: unknown; tenantId?: string }
  | {
      kind: 'child-started';
      childRunId: string;
      flowId: string;
      version: string;
      /** The child had already ended (it was started by an interrupted attempt of the same name). */
      ended?: import('../storage/types.js').FlowRunRecord;
    };

/** Event names: what `sendEvent` and a wait's `event.name` accept. */
export const EVENT_NAME_PATTERN = /^[A-Za-z0-9_.:/-]{1,200}$/;
/** Longest event key. */
export const MAX_EVENT_KEY_LENGTH = 512;

/** Why an event name / key is not acceptable (null when it is). */
export function eventNameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return `must be a string, got ${describe(name)}`;
  return EVENT_NAME_PATTERN.test(name) ? null : 'must be 1 to 200 characters among letters, digits and _ . : / -';
}

export function eventKeyProblem(key: unknown): string | null {
  if (typeof key !== 'string') return `must be a string, got ${describe(key)}`;
  if (key.length === 0 || key.length > MAX_EVENT_KEY_LENGTH) return `must be 1 to ${MAX_EVENT_KEY_LENGTH} characters`;
  return unstorableTextReason(key);
}

export class CancelledAttempt extends Error {
  constructor() {
    super('run cancelled');
  }
}

/**
 * Abort reason used by a stopping worker whose grace period ran out: the handler is told to stop
 * (its `ctx.signal` fires), and the attempt's outcome is never committed. The run keeps its
 * "attempt in flight" mark, so the next holder records NODE_INTERRUPTED and tries again.
 */
export class AbandonedAttempt extends Error {
  constructor(message = 'worker stopping: attempt abandoned') {
    super(message);
  }
}

export async function invokeHandler(
  node: NodeDefinition,
  /** Built with `controller.signal` as its signal. */
  ctx: FlowContext,
  controller: AbortController,
): Promise<AttemptOutcome> {
  const signal = controller.signal;
  let timer: NodeJS.Timeout | undefined;
  const stopped = new Promise<AttemptOutcome>((resolve) => {
    const onAbort = () => {
      const reason = signal.reason;
      if (reason instanceof CancelledAttempt) {
        resolve({ kind: 'error', error: { code: 'CANCELLED', message: 'Run was cancelled during the attempt', retryable: false } });
      } else {
        resolve({
          kind: 'error',
          error: {
            code: 'TIMEOUT',
            message: `Node ${node.id} timed out after ${node.timeoutMs}ms (its ctx.signal was aborted; a late result is discarded)`,
            retryable: true,
          },
        });
      }
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  if (node.timeoutMs !== undefined) {
    timer = setTimeout(() => controller.abort(new Error(`timeout after ${node.timeoutMs} ms`)), node.timeoutMs);
  }
  const called = (async (): Promise<AttemptOutcome> => {
    try {
      const result = await node.handler(ctx);
      return checkNodeResult(node.id, result);
    } catch (err) {
      return { kind: 'error', error: toErrorRecord(err) };
    }
  })();
  try {
    return await Promise.race([called, stopped]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Validates the shape of what a handler returned; a malformed result is a non-retryable error. */
export function checkNodeResult(nodeId: string, result: unknown): AttemptOutcome {
  const bad = (why: string): AttemptOutcome => ({
    kind: 'error',
    error: { code: 'INVALID_NODE_RESULT', message: `Node "${nodeId}" returned an invalid result: ${why}`, retryable: false },
  });
  if (!isPlainObject(result)) return bad(`expected an object like { status: 'ok' }, got ${describe(result)}`);
  const r = result as Partial<NodeResult> & Record<string, unknown>;
  if (r.patch !== undefined && !isPlainObject(r.patch)) return bad(`patch must be a plain object, got ${describe(r.patch)}`);
  const reserved = r.patch === undefined ? undefined : RESERVED_STATE_KEYS.find((key) => Object.hasOwn(r.patch!, key));
  if (reserved !== undefined) return bad(`patch sets ${JSON.stringify(reserved)}, a state key the engine reserves`);
  // A business outcome is an ok result's only (the planned end of a path); on a wait or a child
  // result it would be silently dropped, so it is refused there. An error result's is ignored.
  if (r.outcome !== undefined && (r.status === 'wait' || r.status === 'child'))
    return bad(`outcome is taken on an ok result only, not on a ${r.status} result`);
  const outcomeBad = r.outcome !== undefined && r.status === 'ok' ? outcomeProblem(r.outcome) : null;
  if (outcomeBad) return bad(`outcome ${outcomeBad}`);
  switch (r.status) {
    case 'ok': {
      const ok: AttemptOutcome = { kind: 'ok', output: r.output, patch: r.patch as Record<string, unknown> | undefined };
      return r.outcome === undefined ? ok : { ...ok, outcome: r.outcome };
    }
    case 'wait': {
      if (r.reason !== undefined && typeof r.reason !== 'string') return bad('wait reason must be a string');
      if (r.until !== undefined && typeof r.until !== 'string') return bad('wait until must be a string (ISO-8601 time or a label such as "manual")');
      // Both are stored as text (reason in a column, both in the RUN_WAITING event).
      for (const [name, text] of [
        ['reason', r.reason],
        ['until', r.until],
      ] as const) {
        const problem = text === undefined ? null : unstorableTextReason(text);
        if (problem) return bad(`wait ${name} ${problem}`);
      }
      let event: { name: string; key: string | null; timeoutMs?: number } | undefined;
      if (r.event !== undefined) {
        const e = r.event as Record<string, unknown>;
        if (!isPlainObject(e)) return bad(`wait event must be an object like { name, key?, timeoutMs? }, got ${describe(e)}`);
        const nameProblem = eventNameProblem(e.name);
        if (nameProblem) return bad(`wait event.name ${nameProblem}`);
        const keyProblem = e.key === undefined ? null : eventKeyProblem(e.key);
        if (keyProblem) return bad(`wait event.key ${keyProblem}`);
        const timeout = e.timeoutMs;
        if (timeout !== undefined && !(typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0 && timeout <= MAX_RETRY_DELAY_MS)) {
          return bad('wait event.timeoutMs must be a number of milliseconds > 0 (at most one year)');
        }
        if (r.until !== undefined) return bad('a wait has either until (a timer) or event, not both');
        event = { name: e.name as string, key: (e.key as string | undefined) ?? null, ...(timeout === undefined ? {} : { timeoutMs: timeout as number }) };
      }
      return { kind: 'wait', output: r.output, patch: r.patch as Record<string, unknown> | undefined, reason: r.reason, until: r.until, event };
    }
    case 'error': {
      const e = r.error as Partial<ErrorRecord> | undefined;
      if (!isPlainObject(e) || typeof e.code !== 'string' || typeof e.message !== 'string') {
        return bad('an error result needs error: { code: string, message: string }');
      }
      if (e.retryable !== undefined && typeof e.retryable !== 'boolean') return bad('error.retryable must be a boolean');
      return { kind: 'error', error: { code: e.code, message: e.message, retryable: e.retryable ?? true } };
    }
    case 'child': {
      const c = r as Record<string, unknown>;
      if (typeof c.flowId !== 'string' || c.flowId === '' || typeof c.version !== 'string' || c.version === '') {
        return bad('a child result needs flowId and version (non-empty strings)');
      }
      if (c.tenantId !== undefined && (typeof c.tenantId !== 'string' || c.tenantId === '')) return bad('child tenantId must be a non-empty string');
      if (c.patch !== undefined || c.output !== undefined) return bad("a child result takes no patch or output (the child's outputs become the output)");
      return { kind: 'child', flowId: c.flowId, version: c.version, input: c.input === undefined ? null : c.input, tenantId: c.tenantId as string | undefined };
    }
    default:
      return bad(`status must be 'ok', 'error', 'wait' or 'child', got ${describe(r.status)}`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return typeof value;
}
