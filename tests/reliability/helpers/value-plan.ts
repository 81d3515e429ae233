/**
 * A generated "case" for the hostile-value properties: a linear flow whose nodes return, throw
 * or wait with hostile values, the run's input and initial state, and the resume payloads sent
 * to its WAIT nodes — plus the flow built from it and the outcome the spec predicts for it.
 */
import fc from 'fast-check';
import { flow, type FlowDefinition, type NodeResult } from '@hazeljs/flow';
import { hostilePatch, hostileString, hostileValue, malformedResult, recordOf, thrownValue, hostileKey } from './hostile-arbitraries.js';

export type NodePlan =
  | { kind: 'ok'; output: unknown; patch: unknown }
  | { kind: 'idempotent'; key: string; output: unknown; patch: unknown }
  /** Waits (with `reason`) until resumed with a payload, then outputs `{ resumed: payload }`. */
  | { kind: 'wait'; reason: string | undefined; payloads: unknown[] }
  /** A durable timer a few ms out, then ok. */
  | { kind: 'timer' }
  /** Returns an error result; with `recovers`, its retry (attempt 2) succeeds. */
  | { kind: 'error'; code: unknown; message: unknown; retryable: boolean; recovers: boolean }
  | { kind: 'throw'; thrown: unknown; recovers: boolean }
  | { kind: 'malformed'; result: unknown };

export interface CasePlan {
  input: unknown;
  initialState: unknown;
  nodes: NodePlan[];
}

const nodePlan: fc.Arbitrary<NodePlan> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('ok' as const), output: fc.oneof(hostileValue, fc.constant(undefined)), patch: hostilePatch }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('idempotent' as const), key: hostileString, output: hostileValue, patch: hostilePatch }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('wait' as const),
      reason: fc.oneof(fc.constant(undefined), hostileString),
      payloads: fc.array(fc.oneof(hostileValue, fc.constant(undefined)), { minLength: 1, maxLength: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'timer' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('error' as const),
      code: fc.oneof({ weight: 5, arbitrary: hostileString }, { weight: 1, arbitrary: fc.constantFrom(5, null) }),
      message: hostileString,
      retryable: fc.boolean(),
      recovers: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('throw' as const), thrown: thrownValue, recovers: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('malformed' as const), result: malformedResult }) },
);

/** Mostly valid, so that most cases get past startRun and exercise the nodes. */
const startValue = fc.oneof({ weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) }, { weight: 1, arbitrary: hostileValue });

export const casePlan: fc.Arbitrary<CasePlan> = fc.record({
  input: fc.oneof({ weight: 6, arbitrary: startValue }, { weight: 1, arbitrary: fc.constant(undefined) }),
  initialState: fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    { weight: 8, arbitrary: fc.array(fc.tuple(hostileKey, startValue), { maxLength: 3 }).map((e) => recordOf(e)) },
    { weight: 1, arbitrary: fc.constantFrom(null, [], 'state', new Date(0)) },
  ),
  nodes: fc.array(nodePlan, { minLength: 1, maxLength: 4 }),
});

export const nodeIdAt = (i: number) => `n${i}`;
const RETRY = { maxAttempts: 2, backoff: 'fixed' as const, baseDelayMs: 1 };

/** The linear flow n0 → n1 → … of a plan. `caseId` keeps idempotency keys apart between cases. */
export function buildCaseFlow(flowId: string, plan: CasePlan, caseId: string): FlowDefinition {
  let builder = flow(flowId, '1').entry(nodeIdAt(0));
  plan.nodes.forEach((node, i) => {
    const id = nodeIdAt(i);
    switch (node.kind) {
      case 'ok':
        builder = builder.node(id, () => ({ status: 'ok', output: node.output, patch: node.patch }) as NodeResult);
        break;
      case 'idempotent':
        builder = builder.node(id, () => ({ status: 'ok', output: node.output, patch: node.patch }) as NodeResult, {
          // One key per node of the case: two nodes sharing a key would rightly share one result.
          idempotencyKey: () => `${caseId}|${id}|${node.key}`,
        });
        break;
      case 'wait':
        builder = builder.node(id, (ctx) =>
          ctx.state._resumePayload === undefined ? { status: 'wait', reason: node.reason } : { status: 'ok', output: { resumed: ctx.state._resumePayload } },
        );
        break;
      case 'timer':
        builder = builder.node(id, (ctx) =>
          ctx.state[`timer_${id}`] === true
            ? { status: 'ok', output: 'timer fired' }
            : { status: 'wait', reason: 'timer', until: new Date(Date.now() + 3).toISOString(), patch: { [`timer_${id}`]: true } },
        );
        break;
      case 'error':
        builder = builder.node(
          id,
          (ctx) =>
            ctx.meta.attempt > 1 && node.recovers
              ? { status: 'ok', output: 'recovered' }
              : ({ status: 'error', error: { code: node.code, message: node.message, retryable: node.retryable } } as NodeResult),
          { retry: RETRY },
        );
        break;
      case 'throw':
        builder = builder.node(
          id,
          (ctx) => {
            if (ctx.meta.attempt > 1 && node.recovers) return { status: 'ok', output: 'recovered' };
            throw node.thrown;
          },
          { retry: RETRY },
        );
        break;
      case 'malformed':
        builder = builder.node(id, () => node.result as NodeResult);
        break;
    }
    if (i > 0) builder = builder.edge(nodeIdAt(i - 1), id);
  });
  return builder.build();
}
