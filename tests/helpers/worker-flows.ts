/**
 * Flows for the worker tests, and a probe that records what handlers saw: how many executions of
 * one run overlapped (must never exceed 1), attempts per node, and when each node ran.
 */
import { flow } from '../../src/definitions/builder.js';
import type { FlowContext, FlowDefinition, NodeResult } from '../../src/definitions/types.js';

export class ExecutionProbe {
  private readonly running = new Map<string, number>();
  /** Highest number of handlers of one run executing at the same time, over all runs. */
  maxOverlap = 0;
  executions = 0;
  /** `${runId}:${nodeId}` → times the handler was called. */
  readonly calls = new Map<string, number>();
  /** `${runId}:${nodeId}` → Date.now() of the latest call. */
  readonly lastCallAt = new Map<string, number>();

  async around<T>(ctx: FlowContext, body: () => Promise<T> | T): Promise<T> {
    const now = (this.running.get(ctx.runId) ?? 0) + 1;
    this.running.set(ctx.runId, now);
    this.maxOverlap = Math.max(this.maxOverlap, now);
    this.executions += 1;
    const key = `${ctx.runId}:${ctx.meta.nodeId}`;
    this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
    this.lastCallAt.set(key, Date.now());
    try {
      // Yield so that a second, concurrent execution of the same run would overlap this one.
      await new Promise((r) => setImmediate(r));
      return await body();
    } finally {
      this.running.set(ctx.runId, (this.running.get(ctx.runId) ?? 1) - 1);
    }
  }

  callsOf(runId: string, nodeId: string): number {
    return this.calls.get(`${runId}:${nodeId}`) ?? 0;
  }
}

/** What a run of the `mixed` flow does, chosen by its input. */
export interface MixedInput {
  i: number;
  /** Node `fetch` fails this many times (retryable) before succeeding. */
  failures: number;
  /** Node `gate` waits: for an outside `resumeRun` ('resume'), for a timer ('timer'), or not at all. */
  wait: 'none' | 'resume' | 'timer';
  /** Timer length for wait 'timer'. */
  timerMs?: number;
}

/** fetch (retries) → gate (waits for a resume or a timer) → finish. */
export function mixedFlow(probe: ExecutionProbe, flowId = 'mixed'): FlowDefinition {
  return flow(flowId, '1')
    .entry('fetch')
    .node(
      'fetch',
      (ctx) =>
        probe.around(ctx, (): NodeResult => {
          const input = ctx.input as MixedInput;
          if (ctx.meta.attempt <= input.failures) return { status: 'error', error: { code: 'FLAKY', message: `attempt ${ctx.meta.attempt}`, retryable: true } };
          return { status: 'ok', output: { fetched: input.i } };
        }),
      { retry: { maxAttempts: 5, backoff: 'fixed', baseDelayMs: 15 } },
    )
    .node('gate', (ctx) =>
      probe.around(ctx, (): NodeResult => {
        const input = ctx.input as MixedInput;
        if (input.wait === 'resume') {
          if (ctx.state._resumePayload === undefined) return { status: 'wait', reason: 'approval' };
          return { status: 'ok', output: { approvedBy: (ctx.state._resumePayload as { by: string }).by } };
        }
        if (input.wait === 'timer' && !ctx.state.timerSet) {
          return { status: 'wait', reason: 'timer', until: new Date(Date.now() + (input.timerMs ?? 30)).toISOString(), patch: { timerSet: true } };
        }
        return { status: 'ok', output: { gate: input.wait } };
      }),
    )
    .node('finish', (ctx) => probe.around(ctx, (): NodeResult => ({ status: 'ok', output: { done: (ctx.input as MixedInput).i } })))
    .edge('fetch', 'gate')
    .edge('gate', 'finish')
    .build();
}

/** One node whose handler is supplied by the test (blocking, signal-watching …), then an end node. */
export function twoStepFlow(
  first: (ctx: FlowContext) => Promise<NodeResult> | NodeResult,
  flowId = 'two-step',
  options: { timeoutMs?: number } = {},
): FlowDefinition {
  return flow(flowId, '1')
    .entry('first')
    .node('first', first, options)
    .node('second', () => ({ status: 'ok', output: 'second' }))
    .edge('first', 'second')
    .build();
}
