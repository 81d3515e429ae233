/**
 * The flow the soak drives, and what an uninterrupted run of it ends as. Every run takes one of
 * two paths and the flow uses each durable feature the faults must not break:
 *
 *   prepare   random transient failures, retried (durable backoff)
 *   check     a timeout: some runs' first attempt overruns `timeoutMs` and is retried
 *   charge    an idempotency key; its side effect is a row keyed by it (ON CONFLICT DO NOTHING)
 *   ├─ approval   (amount >= 500, a conditional edge) WAIT, resumed from outside with a payload
 *   └─ cooldown   (otherwise) a durable timer
 *   fanout    split: 'all' — five branches run at once:
 *   ├─ audit      a side effect of its own (idempotency key), some first attempts fail after writing it
 *   ├─ notify     a side effect of its own (idempotency key)
 *   ├─ items      a map (forEach, concurrency 3) over 2–6 items: each item writes its own side effect
 *   │             (idempotency key per item), some first attempts fail retryably (before or after
 *   │             the write), some overrun the per-item timeout
 *   ├─ ledger     a child run of the 'soak-child' flow (below); its outputs are the node's output
 *   └─ signal     an event wait: 'chaos.signal' keyed by the run's id, sent by the soak at a random
 *                 moment (often before the run gets here), for some runs twice
 *   gather    join: 'all' — runs once, after all five branches arrived, with their outputs
 *   finish    transactional (`ctx.tx`): a plain row written in the step's own transaction
 *
 * The child flow ('soak-child'), run by the same workers:
 *   fetch     random transient failures, retried
 *   post      the ledger entry: a side effect keyed by the parent's input (idempotency key)
 *
 * Results depend only on the run's input (and the soak's signal payload, itself a function of the
 * input), so the verifier can compute exactly what each run and its child must end with (state,
 * outputs, side effects), however often their handlers ran.
 */
import { flow, FlowError, type FlowContext, type FlowDefinition, type NodeResult } from '@hazeljs/flow';
import { scheduleFlow } from './soak-schedule.js';
import { sagaFlow } from './saga-flow.js';

export const SOAK_FLOW_ID = 'soak';
export const SOAK_FLOW_VERSION = '1';
/** The same graph under another version: the soak migrates runs in flight to it while workers are killed (chaos/soak.ts). */
export const SOAK_MIGRATED_VERSION = '2';
export const APPROVAL_REASON = 'approval';
const CHECK_TIMEOUT_MS = 150;
/** Per item: long enough for the handler's two statements on a busy database, short enough to overrun on purpose. */
const ITEM_TIMEOUT_MS = 400;
export const MAP_CONCURRENCY = 3;
/** The branches the split starts, in edge order; each ends at the join. */
export const SPLIT_BRANCHES = ['audit', 'notify', 'items', 'ledger', 'signal'] as const;
/** The child flow the `ledger` node starts a run of. */
export const CHILD_FLOW_ID = 'soak-child';
export const CHILD_FLOW_VERSION = '1';
export const CHILD_NODE = 'ledger';
/** The event the `signal` node waits for, keyed by the run's id; the soak sends it. */
export const SIGNAL_EVENT = 'chaos.signal';
export const SIGNAL_NODE = 'signal';
/**
 * The soak always sends the signal (within seconds of the start, retrying under faults): a wait
 * that sees none in this long means the event was lost, and the run fails with SIGNAL_LOST
 * instead of leaving the soak waiting for its deadline.
 */
const SIGNAL_TIMEOUT_MS = 60_000;
/** Generous: a database outage (restart, killed sessions) also fails attempts, for seconds at a time. */
const RETRY = { maxAttempts: 15, backoff: 'exponential' as const, baseDelayMs: 40, maxDelayMs: 1000 };

export interface SoakInput {
  i: number;
  amount: number;
}

/** What the handlers need from their process: a record of each execution and the side effects. */
export interface SoakEffects {
  /** Called first in every handler; a failure (database down) fails the attempt, which is retried. */
  executionStarted(ctx: FlowContext): Promise<void>;
  /**
   * Idempotent write keyed by `key` (INSERT … ON CONFLICT DO NOTHING). A write that finds the key
   * taken (a re-execution of an attempt whose outcome was never committed) is recorded as a conflict.
   */
  effect(key: string, ctx: FlowContext, amount: number): Promise<void>;
  /** A plain INSERT (no key, no ON CONFLICT) through `ctx.tx`, in a transactional node's transaction. */
  transactionalWrite(ctx: FlowContext): Promise<void>;
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

/** What the soak sends with each run's signal (every copy of it the same). */
export function signalPayload(i: number): { token: string; n: number } {
  return { token: `sig-${i}`, n: (i * 131) % 1009 };
}

/** The child run's input: what the parent's `ledger` node passes. */
export interface ChildInput {
  i: number;
  amount: number;
}

export function childInput(input: SoakInput): ChildInput {
  return { i: input.i, amount: input.amount };
}

export function ledgerKey(i: number): string {
  return `ledger-${i}`;
}

/** The state and outputs of an uninterrupted child run with this input. */
export function expectedChildResult(input: ChildInput): { state: Record<string, unknown>; outputs: Record<string, unknown> } {
  return {
    state: { fetched: input.i, posted: true },
    outputs: {
      fetch: { fetched: input.i, amount: input.amount },
      post: { posted: input.amount, key: ledgerKey(input.i) },
    },
  };
}

export type SoakBranch = 'approval' | 'cooldown';

export function branchOf(input: SoakInput): SoakBranch {
  return input.amount >= 500 ? 'approval' : 'cooldown';
}

/** The map's items: 2–6 numbers. */
export function itemsOf(input: SoakInput): number[] {
  return Array.from({ length: 2 + (input.i % 5) }, (_, k) => (input.i * 31 + k * 17) % 97);
}

const itemKey = (i: number, k: number) => `item-${i}-${k}`;
const itemOutput = (i: number, k: number, value: number) => ({ k, value, doubled: value * 2, key: itemKey(i, k) });

/**
 * Every side-effect row a run must leave, by key: the node that writes it and the amount; `child`
 * when the run's child writes it (the `ledger` entry), not the run itself.
 */
export function expectedEffects(input: SoakInput): Map<string, { nodeId: string; itemIndex: number | null; amount: number; child?: true }> {
  const out = new Map<string, { nodeId: string; itemIndex: number | null; amount: number; child?: true }>();
  out.set(chargeKey(input.i), { nodeId: 'charge', itemIndex: null, amount: input.amount });
  out.set(`audit-${input.i}`, { nodeId: 'audit', itemIndex: null, amount: input.amount });
  out.set(`notify-${input.i}`, { nodeId: 'notify', itemIndex: null, amount: input.i % 10 });
  itemsOf(input).forEach((value, k) => out.set(itemKey(input.i, k), { nodeId: 'items', itemIndex: k, amount: value }));
  out.set(ledgerKey(input.i), { nodeId: 'post', itemIndex: null, amount: childInput(input).amount, child: true });
  return out;
}

/** The state and outputs of an uninterrupted run with this input. */
export function expectedResult(input: SoakInput): { state: Record<string, unknown>; outputs: Record<string, unknown> } {
  const branch = branchOf(input);
  const items = itemsOf(input);
  const itemOutputs = items.map((value, k) => itemOutput(input.i, k, value));
  const state: Record<string, unknown> = {
    amount: input.amount,
    tier: branch === 'approval' ? 'high' : 'low',
    audited: true,
    notified: true,
    mapped: Object.fromEntries(items.map((value, k) => [String(k), value * 2])),
    signalled: true,
    gathered: true,
    done: true,
  };
  if (branch === 'cooldown') state.cooledDown = true;
  return {
    state,
    outputs: {
      prepare: { prepared: input.i },
      check: { checked: input.i },
      charge: { charged: input.amount, key: chargeKey(input.i) },
      [branch]: branch === 'approval' ? approvalPayload(input.i) : { cooled: true },
      fanout: { fanned: input.i },
      audit: { audited: input.amount, key: `audit-${input.i}` },
      notify: { notified: `ops-${input.i % 10}`, key: `notify-${input.i}` },
      items: itemOutputs,
      // A child run's outputs are its node's output.
      ledger: expectedChildResult(childInput(input)).outputs,
      signal: { received: signalPayload(input.i) },
      gather: {
        audited: input.amount,
        notified: `ops-${input.i % 10}`,
        items: items.length,
        sum: items.reduce((a, v) => a + v * 2, 0),
        ledger: ledgerKey(input.i),
        signal: signalPayload(input.i).token,
      },
      finish: { total: input.amount, branch, items: items.length },
    },
  };
}

export function soakFlow(effects: SoakEffects, version = SOAK_FLOW_VERSION): FlowDefinition {
  const node = (body: (ctx: FlowContext, input: SoakInput) => Promise<NodeResult> | NodeResult) => async (ctx: FlowContext) => {
    await effects.executionStarted(ctx);
    return body(ctx, ctx.input as SoakInput);
  };
  return flow(SOAK_FLOW_ID, version)
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
        await effects.effect(chargeKey(input.i), ctx, input.amount);
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
      'fanout',
      node((ctx, input) => ({ status: 'ok', output: { fanned: input.i } })),
      { retry: RETRY, split: 'all' },
    )
    .node(
      'audit',
      node(async (ctx, input) => {
        await effects.effect(`audit-${input.i}`, ctx, input.amount);
        // Some first attempts fail after their side effect: the retry finds it written (a conflict).
        if (ctx.meta.attempt === 1 && Math.random() < 0.15) throw FlowError.retryable('AUDIT_ACK_LOST', 'the audit log did not acknowledge');
        return { status: 'ok', output: { audited: input.amount, key: `audit-${input.i}` }, patch: { audited: true } };
      }),
      { retry: RETRY, idempotencyKey: (ctx) => `audit-${(ctx.input as SoakInput).i}` },
    )
    .node(
      'notify',
      node(async (ctx, input) => {
        await effects.effect(`notify-${input.i}`, ctx, input.i % 10);
        return { status: 'ok', output: { notified: `ops-${input.i % 10}`, key: `notify-${input.i}` }, patch: { notified: true } };
      }),
      { retry: RETRY, idempotencyKey: (ctx) => `notify-${(ctx.input as SoakInput).i}` },
    )
    .node(
      'items',
      node(async (ctx, input) => {
        const k = ctx.itemIndex!;
        const value = ctx.item as number;
        if (ctx.meta.attempt === 1) {
          // Transient failures before the side effect, and one item in some runs overruns its timeout.
          if (Math.random() < 0.2) throw FlowError.retryable('ITEM_FLAKY', `item ${k}: transient failure`);
          if (k === 0 && input.i % 7 === 3) await abortableSleep(ITEM_TIMEOUT_MS * 2, ctx.signal);
          if (ctx.signal.aborted) return { status: 'error', error: { code: 'LATE', message: 'timed out', retryable: true } };
        }
        await effects.effect(itemKey(input.i, k), ctx, value);
        // …and transient failures after it: the retry writes it again and finds it there.
        if (ctx.meta.attempt === 1 && Math.random() < 0.1) throw FlowError.retryable('ITEM_ACK_LOST', `item ${k}: acknowledgement lost`);
        return { status: 'ok', output: itemOutput(input.i, k, value), patch: { mapped: { [String(k)]: value * 2 } } };
      }),
      {
        forEach: (ctx) => itemsOf(ctx.input as SoakInput),
        concurrency: MAP_CONCURRENCY,
        retry: RETRY,
        timeoutMs: ITEM_TIMEOUT_MS,
        idempotencyKey: (ctx) => itemKey((ctx.input as SoakInput).i, ctx.itemIndex!),
      },
    )
    .node(
      CHILD_NODE,
      // Always a child run (never a decision that could differ between an attempt and its re-run).
      node((ctx, input) => ({ status: 'child', flowId: CHILD_FLOW_ID, version: CHILD_FLOW_VERSION, input: childInput(input) })),
      { retry: RETRY },
    )
    .node(
      SIGNAL_NODE,
      node((ctx) => {
        if (ctx.meta.waitTimedOut) throw FlowError.nonRetryable('SIGNAL_LOST', `no ${SIGNAL_EVENT} event for run ${ctx.runId} within ${SIGNAL_TIMEOUT_MS} ms`);
        const payload = ctx.state._resumePayload;
        if (payload === undefined) return { status: 'wait', reason: 'signal', event: { name: SIGNAL_EVENT, key: ctx.runId, timeoutMs: SIGNAL_TIMEOUT_MS } };
        return { status: 'ok', output: { received: payload }, patch: { signalled: true } };
      }),
      { retry: RETRY },
    )
    .node(
      'gather',
      node((ctx) => {
        const audit = ctx.outputs.audit as { audited: number } | undefined;
        const notify = ctx.outputs.notify as { notified: string } | undefined;
        const items = ctx.outputs.items as Array<{ doubled: number }> | undefined;
        const ledger = ctx.outputs.ledger as { post?: { key: string } } | undefined;
        const signal = ctx.outputs.signal as { received?: { token?: string } } | undefined;
        // A join that runs before every branch arrived shows up as missing values in its output.
        return {
          status: 'ok',
          output: {
            audited: audit?.audited ?? null,
            notified: notify?.notified ?? null,
            items: items?.length ?? null,
            sum: items?.reduce((a, x) => a + x.doubled, 0) ?? null,
            ledger: ledger?.post?.key ?? null,
            signal: signal?.received?.token ?? null,
          },
          patch: { gathered: true },
        };
      }),
      { retry: RETRY, join: 'all' },
    )
    .node(
      'finish',
      // Transactional: its write (a row per execution, no key) is committed with the step, so
      // exactly one stays per completed run, whatever was killed or cut meanwhile.
      node(async (ctx, input) => {
        await effects.transactionalWrite(ctx);
        return {
          status: 'ok',
          output: { total: input.amount, branch: branchOf(input), items: (ctx.outputs.items as unknown[]).length },
          patch: { done: true },
        };
      }),
      { retry: RETRY, transaction: true },
    )
    .edge('prepare', 'check')
    .edge('check', 'charge')
    .edge('charge', 'approval', (ctx) => (ctx.state.amount as number) >= 500, 1)
    .edge('charge', 'cooldown')
    .edge('approval', 'fanout')
    .edge('cooldown', 'fanout')
    .edge('fanout', 'audit')
    .edge('fanout', 'notify')
    .edge('fanout', 'items')
    .edge('fanout', CHILD_NODE)
    .edge('fanout', SIGNAL_NODE)
    .edge('audit', 'gather')
    .edge('notify', 'gather')
    .edge('items', 'gather')
    .edge(CHILD_NODE, 'gather')
    .edge(SIGNAL_NODE, 'gather')
    .edge('gather', 'finish')
    .build();
}

/** The child flow: a flaky fetch (retried), then the ledger entry (a side effect under an idempotency key). */
export function soakChildFlow(effects: SoakEffects): FlowDefinition {
  const node = (body: (ctx: FlowContext, input: ChildInput) => Promise<NodeResult> | NodeResult) => async (ctx: FlowContext) => {
    await effects.executionStarted(ctx);
    return body(ctx, ctx.input as ChildInput);
  };
  return flow(CHILD_FLOW_ID, CHILD_FLOW_VERSION)
    .entry('fetch')
    .node(
      'fetch',
      node((ctx, input) => {
        if (ctx.meta.attempt <= 2 && Math.random() < 0.3)
          throw FlowError.retryable('CHILD_FLAKY', `child fetch: transient failure on attempt ${ctx.meta.attempt}`);
        return { status: 'ok', output: { fetched: input.i, amount: input.amount }, patch: { fetched: input.i } };
      }),
      { retry: RETRY },
    )
    .node(
      'post',
      node(async (ctx, input) => {
        await effects.effect(ledgerKey(input.i), ctx, input.amount);
        return { status: 'ok', output: { posted: input.amount, key: ledgerKey(input.i) }, patch: { posted: true } };
      }),
      { retry: RETRY, idempotencyKey: (ctx) => ledgerKey((ctx.input as ChildInput).i) },
    )
    .edge('fetch', 'post')
    .build();
}

/** The flows, as every process registers them (the soak's own engine too): the soak's, its child's, the saga (chaos/saga-flow.ts), the schedule's (soak-schedule.ts). */
export function soakFlows(effects: SoakEffects): FlowDefinition[] {
  return [soakChildFlow(effects), soakFlow(effects), soakFlow(effects, SOAK_MIGRATED_VERSION), sagaFlow(effects), scheduleFlow()];
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}
