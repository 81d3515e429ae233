/**
 * The soak's second flow: failure paths under the same faults. Every run holds stock, takes the
 * payment and packs three parcels (a map), each with an undo (`compensate`), then books a courier;
 * what the booking does depends only on the input, so the verifier knows how each run must end:
 *
 *   hold      an undo of its own
 *   pay       random transient failures, retried; its undo fails some first attempts (retried too)
 *   pack      a map over 3 parcels (concurrency 2): each finished parcel is undone on its own
 *   book      input i % 3 = 0  fails for good with NO_SLOT, which its `catch` takes: the run goes on
 *                              at `waitlist` (seeing `ctx.error`) and COMPLETES there;
 *             i % 3 = 1        fails for good with NO_COURIER, which the catch does not take: the
 *                              run FAILS and undoes pack's parcels, pay, hold (newest first), ending
 *                              `compensated: true`;
 *             i % 3 = 2        books: the run COMPLETES at `confirm`.
 *
 * Each undo writes an idempotent row keyed by what it undoes (the soak's side-effect table, keys
 * `undo-…`): exactly the undone steps' rows must exist in the end, for the failed runs only.
 */
import { flow, FlowError, type FlowContext, type FlowDefinition, type NodeResult } from '@hazeljs/flow';
import type { SoakEffects } from './soak-flow.js';

export const SAGA_FLOW_ID = 'soak-saga';
export const SAGA_FLOW_VERSION = '1';
/** One saga run per this many runs of the soak flow. */
export const SAGA_EVERY = 4;
export const SAGA_PARCELS = 3;
const PACK_CONCURRENCY = 2;
const RETRY = { maxAttempts: 15, backoff: 'exponential' as const, baseDelayMs: 40, maxDelayMs: 1000 };

export interface SagaInput {
  i: number;
}

export type SagaPath = 'caught' | 'compensated' | 'completed';

export function sagaPath(input: SagaInput): SagaPath {
  return (['caught', 'compensated', 'completed'] as const)[input.i % 3]!;
}

/** Saga runs the soak starts for `runs` runs of its main flow. */
export function sagaRunsFor(runs: number): number {
  return Math.ceil(runs / SAGA_EVERY);
}

/** The nodes a failed run undoes, with the key of each undo's row (one per parcel for the map). */
export function sagaUndos(input: SagaInput): Map<string, { nodeId: string; itemIndex: number | null }> {
  const out = new Map<string, { nodeId: string; itemIndex: number | null }>();
  out.set(`undo-hold-${input.i}`, { nodeId: 'hold', itemIndex: null });
  out.set(`undo-pay-${input.i}`, { nodeId: 'pay', itemIndex: null });
  for (let k = 0; k < SAGA_PARCELS; k++) out.set(`undo-pack-${input.i}-${k}`, { nodeId: 'pack', itemIndex: k });
  return out;
}

/** The undo key of what `ctx` undoes. */
const undoKey = (ctx: FlowContext) => `undo-${ctx.meta.nodeId}-${(ctx.input as SagaInput).i}${ctx.meta.nodeId === 'pack' ? `-${ctx.itemIndex}` : ''}`;

/** What a run's nodes end with, by path (the run's `outputsJson`, the map's as an array). */
export function expectedSagaOutputs(input: SagaInput): Record<string, unknown> {
  const done = {
    hold: { held: input.i },
    pay: { paid: input.i },
    pack: Array.from({ length: SAGA_PARCELS }, (_, k) => ({ parcel: k })),
  };
  const path = sagaPath(input);
  if (path === 'caught') return { ...done, waitlist: { caught: 'NO_SLOT', from: 'book' } };
  if (path === 'completed') return { ...done, book: { booked: input.i }, confirm: { confirmed: input.i } };
  return done;
}

export function sagaFlow(effects: SoakEffects): FlowDefinition {
  const node = (body: (ctx: FlowContext, input: SagaInput) => Promise<NodeResult> | NodeResult) => async (ctx: FlowContext) => {
    await effects.executionStarted(ctx);
    return body(ctx, ctx.input as SagaInput);
  };
  // An undo: its row, keyed by what it undoes (a re-run finds it written: a conflict, counted).
  const undo = async (ctx: FlowContext): Promise<NodeResult> => {
    if (ctx.meta.nodeId === 'pay' && ctx.meta.attempt === 1 && Math.random() < 0.3) throw FlowError.retryable('REFUND_BUSY', 'the refund was refused for now');
    await effects.effect(undoKey(ctx), ctx, (ctx.input as SagaInput).i);
    return { status: 'ok' };
  };
  return flow(SAGA_FLOW_ID, SAGA_FLOW_VERSION)
    .entry('hold')
    .node(
      'hold',
      node((ctx, input) => ({ status: 'ok', output: { held: input.i } })),
      { retry: RETRY, compensate: undo },
    )
    .node(
      'pay',
      node((ctx, input) => {
        if (ctx.meta.attempt <= 2 && Math.random() < 0.3) throw FlowError.retryable('PAY_FLAKY', `transient failure on attempt ${ctx.meta.attempt}`);
        return { status: 'ok', output: { paid: input.i } };
      }),
      { retry: RETRY, compensate: undo },
    )
    .node(
      'pack',
      node((ctx) => ({ status: 'ok', output: { parcel: ctx.itemIndex } })),
      { retry: RETRY, compensate: undo, forEach: () => Array.from({ length: SAGA_PARCELS }, (_, k) => k), concurrency: PACK_CONCURRENCY },
    )
    .node(
      'book',
      node((ctx, input) => {
        const path = sagaPath(input);
        if (path === 'caught') throw FlowError.nonRetryable('NO_SLOT', 'no delivery slot this week');
        if (path === 'compensated') throw FlowError.nonRetryable('NO_COURIER', 'no courier will take it');
        return { status: 'ok', output: { booked: input.i } };
      }),
      { retry: RETRY, catch: { to: 'waitlist', codes: ['NO_SLOT'] } },
    )
    .node(
      'waitlist',
      node((ctx) => ({ status: 'ok', output: { caught: ctx.error?.code ?? null, from: ctx.error?.nodeId ?? null } })),
      { retry: RETRY },
    )
    .node(
      'confirm',
      node((ctx, input) => ({ status: 'ok', output: { confirmed: input.i } })),
      { retry: RETRY },
    )
    .edge('hold', 'pay')
    .edge('pay', 'pack')
    .edge('pack', 'book')
    .edge('book', 'confirm')
    .build();
}
