/**
 * The flow the soak drives, and what an uninterrupted run of it ends as. Every path has five
 * nodes and the flow uses each durable feature the faults must not break:
 *
 *   prepare   random transient failures, retried (durable backoff)
 *   check     a timeout: some runs' first attempt overruns `timeoutMs` and is retried
 *   charge    an idempotency key; its side effect is a row keyed by it (ON CONFLICT DO NOTHING)
 *   ├─ approval   (amount >= 500, a conditional edge) WAIT, resumed from outside with a payload
 *   └─ cooldown   (otherwise) a durable timer
 *   finish
 *
 * Results depend only on the run's input, so the verifier can compute exactly what each run
 * must end with, however often its handlers ran.
 */
import { flow, FlowError, type FlowContext, type FlowDefinition, type NodeResult } from '@hazeljs/flow';

export const SOAK_FLOW_ID = 'soak';
export const SOAK_FLOW_VERSION = '1';
export const APPROVAL_REASON = 'approval';
const CHECK_TIMEOUT_MS = 150;
/** Generous: a database outage (restart, killed sessions) also fails attempts, for seconds at a time. */
const RETRY = { maxAttempts: 15, backoff: 'exponential' as const, baseDelayMs: 40, maxDelayMs: 1000 };

export interface SoakInput {
  i: number;
  amount: number;
}

/** What the handlers need from their process: a record of each execution and the side effect. */
export interface SoakEffects {
  /** Called first in every handler; a failure (database down) fails the attempt, which is retried. */
  executionStarted(ctx: FlowContext): Promise<void>;
  /** Idempotent write keyed by `key` (INSERT … ON CONFLICT DO NOTHING). */
  charge(key: string, runId: string, amount: number): Promise<void>;
}

export function soakInput(i: number): SoakInput {
  return { i, amount: (i * 7919) % 1000 };
}

export function approvalPayload(i: number): { approvedBy: string } {
  return { approvedBy: `ops-${i % 10}` };
}

export function chargeKey(i: number): string {
  return `charge-${i}`;
}

export type SoakBranch = 'approval' | 'cooldown';

export function branchOf(input: SoakInput): SoakBranch {
  return input.amount >= 500 ? 'approval' : 'cooldown';
}

/** The state and outputs of an uninterrupted run with this input. */
export function expectedResult(input: SoakInput): { state: Record<string, unknown>; outputs: Record<string, unknown> } {
  const branch = branchOf(input);
  const state: Record<string, unknown> = { amount: input.amount, tier: branch === 'approval' ? 'high' : 'low', done: true };
  if (branch === 'cooldown') state.cooledDown = true;
  return {
    state,
    outputs: {
      prepare: { prepared: input.i },
      check: { checked: input.i },
      charge: { charged: input.amount, key: chargeKey(input.i) },
      [branch]: branch === 'approval' ? approvalPayload(input.i) : { cooled: true },
      finish: { total: input.amount, branch },
    },
  };
}

export function soakFlow(effects: SoakEffects): FlowDefinition {
  const node = (body: (ctx: FlowContext, input: SoakInput) => Promise<NodeResult> | NodeResult) => async (ctx: FlowContext) => {
    await effects.executionStarted(ctx);
    return body(ctx, ctx.input as SoakInput);
  };
  return flow(SOAK_FLOW_ID, SOAK_FLOW_VERSION)
    .entry('prepare')
    .node(
      'prepare',
      node((ctx, input) => {
        // Random, but bounded so that retries always get through: at most 3 failures per run.
        if (ctx.meta.attempt <= 3 && Math.random() < 0.3) throw FlowError.retryable('FLAKY_UPSTREAM', `transient failure on attempt ${ctx.meta.attempt}`);
        return { status: 'ok', output: { prepared: input.i }, patch: { amount: input.amount, tier: branchOf(input) === 'approval' ? 'high' : 'low' } };
      }),
      { retry: RETRY },
    )
    .node(
      'check',
      node(async (ctx, input) => {
        // One run in five overruns its first attempt: TIMEOUT, then the retry is quick.
        if (input.i % 5 === 0 && ctx.meta.attempts.check === 1) await abortableSleep(CHECK_TIMEOUT_MS * 3, ctx.signal);
        return { status: 'ok', output: { checked: input.i } };
      }),
      { retry: RETRY, timeoutMs: CHECK_TIMEOUT_MS },
    )
    .node(
      'charge',
      node(async (ctx, input) => {
        await effects.charge(chargeKey(input.i), ctx.runId, input.amount);
        return { status: 'ok', output: { charged: input.amount, key: chargeKey(input.i) } };
      }),
      { retry: RETRY, idempotencyKey: (ctx) => chargeKey((ctx.input as SoakInput).i) },
    )
    .node(
      'approval',
      node((ctx) => {
        const payload = ctx.state._resumePayload as { approvedBy?: string } | undefined;
        if (payload === undefined) return { status: 'wait', reason: APPROVAL_REASON };
        return { status: 'ok', output: { approvedBy: payload.approvedBy } };
      }),
      { retry: RETRY },
    )
    .node(
      'cooldown',
      node((ctx, input) => {
        if (ctx.state.cooledDown === true) return { status: 'ok', output: { cooled: true } };
        const until = new Date(Date.now() + 50 + (input.i % 6) * 50).toISOString();
        return { status: 'wait', reason: 'cooldown', until, patch: { cooledDown: true } };
      }),
      { retry: RETRY },
    )
    .node(
      'finish',
      node((ctx, input) => ({ status: 'ok', output: { total: input.amount, branch: branchOf(input) }, patch: { done: true } })),
      { retry: RETRY },
    )
    .edge('prepare', 'check')
    .edge('check', 'charge')
    .edge('charge', 'approval', (ctx) => (ctx.state.amount as number) >= 500, 1)
    .edge('charge', 'cooldown')
    .edge('approval', 'finish')
    .edge('cooldown', 'finish')
    .build();
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}
