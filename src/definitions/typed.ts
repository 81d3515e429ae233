/**
 * Typed handles for what a flow names by string: another flow (`flowRef`, `childRun`) and an
 * event (`defineEvent`). Each is a plain value at run time (a name, a version); its type carries
 * what goes with the name — a flow's input, an event's payload — so that the call that uses it
 * is checked (docs/typed-flows.md).
 */
import type { AnyFlowContext, FlowRef, InputOf } from './types.js';

/**
 * A handle on flow `flowId@version` whose runs take `TInput`: for `engine.startRun({ flow, input })`
 * and `childRun(flow, input)` where the definition itself is not at hand (a process that starts
 * runs of a flow another process registers). A `FlowDefinition` is already one.
 */
export function flowRef<TInput = unknown, TState = unknown>(flowId: string, version: string): FlowRef<TInput, TState> {
  return Object.freeze({ flowId, version });
}

/** The result that starts a child run of a flow and waits for it (`{ status: 'child', … }`). */
export interface ChildRunResult {
  status: 'child';
  flowId: string;
  version: string;
  input?: unknown;
  tenantId?: string;
}

/**
 * A node result that starts a child run of `flow` with `input`, checked against the flow's input
 * type: the typed spelling of `{ status: 'child', flowId, version, input }`.
 */
export function childRun<F extends FlowRef<unknown, unknown>>(flow: F, input: InputOf<F>, options: { tenantId?: string } = {}): ChildRunResult {
  const result: ChildRunResult = { status: 'child', flowId: flow.flowId, version: flow.version, input };
  if (options.tenantId !== undefined) result.tenantId = options.tenantId;
  return result;
}

/**
 * An event whose payloads are `TPayload`. One declaration types both ends: the waiting node
 * (`wait`, `payloadOf`) and the sender (`engine.sendEvent({ event, key, payload })`).
 */
export interface EventDefinition<TPayload = unknown> {
  readonly name: string;
  /** The `event` of a wait result: `{ status: 'wait', event: paymentReceived.wait({ key }) }`. */
  wait(options?: { key?: string; timeoutMs?: number }): { name: string; key?: string; timeoutMs?: number };
  /**
   * The payload the resumed node sees (at `ctx.state._resumePayload`); undefined on the node's
   * first run and after the wait's `timeoutMs` passed without the event (`ctx.meta.waitTimedOut`).
   */
  payloadOf(ctx: AnyFlowContext): TPayload | undefined;
}

/** Declares event `name` with payloads of type `TPayload` (see `EventDefinition`). */
export function defineEvent<TPayload = unknown>(name: string): EventDefinition<TPayload> {
  return Object.freeze({
    name,
    wait(options: { key?: string; timeoutMs?: number } = {}) {
      return { name, ...options };
    },
    payloadOf(ctx: AnyFlowContext): TPayload | undefined {
      // The engine puts the payload there for the resumed node only; the type is the declaration's word.
      return ctx.state._resumePayload as TPayload | undefined;
    },
  });
}
