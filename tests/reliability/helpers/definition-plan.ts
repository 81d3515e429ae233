/**
 * Generated flow definitions, written by hand as objects (as plain-JS users and loaders do):
 * node ids that are traps for object code ('__proto__', 'constructor', 'toString'), unicode,
 * long ids; every option and edge field either valid or broken in one of the ways a user
 * breaks it. Each choice carries whether it is valid, so the whole definition is known to be
 * valid (must register and run the predicted path) or invalid (must be refused, typed).
 */
import fc from 'fast-check';
import type { FlowContext, FlowDefinition, NodeResult } from '@hazeljs/flow';
import { recordOf } from './hostile-arbitraries.js';

interface Choice<T> {
  value: T;
  valid: boolean;
}
const good = <T>(...values: T[]) => values.map((value) => ({ value, valid: true }));
const bad = <T>(...values: T[]) => values.map((value) => ({ value, valid: false }));
/** Mostly valid choices, so that most definitions are valid except for one or two fields. */
const pick = <T>(valid: Choice<T>[], invalid: Choice<T>[]) =>
  fc.oneof({ weight: 40, arbitrary: fc.constantFrom(...valid) }, { weight: 1, arbitrary: fc.constantFrom(...invalid) });

const NODE_IDS = [
  ...good(
    'a',
    'b',
    'constructor',
    'toString',
    '__proto__',
    'hasOwnProperty',
    'valueOf',
    '_resumePayload',
    '\u00e9 \u00fc',
    '0',
    'node with spaces',
    '\uD83D\uDE00',
    'n@1',
    'x'.repeat(300),
  ),
  ...bad('', '   ', 'a\u0000b', '\uD800'),
];

export type WhenKind = 'none' | 'true' | 'false' | 'throws';

export interface DefinitionPlan {
  flowIdSuffix: Choice<string>;
  version: Choice<unknown>;
  nodes: Array<{
    id: Choice<string>;
    name: Choice<unknown>;
    timeoutMs: Choice<unknown>;
    retry: Choice<unknown>;
    idempotencyKey: Choice<'none' | 'fn' | 'text'>;
    idMatchesKey: Choice<boolean>;
  }>;
  entry: Choice<'first' | 'missing' | 'empty'>;
  /** Forward edges between node indexes (so every valid graph is acyclic), or to an unknown node. */
  edges: Array<{ from: number; to: number; toUnknown: Choice<boolean>; priority: Choice<unknown>; when: Choice<WhenKind | 'text'> }>;
}

const nodePlan = (id: Choice<string>) =>
  fc.record({
    id: fc.constant(id),
    name: pick(good<unknown>(undefined, 'Nice name', '\u00e9'), bad<unknown>('', 5, 'x\u0000')),
    timeoutMs: pick(good<unknown>(undefined, 5000), bad<unknown>(0, -1, NaN, Infinity, '5')),
    retry: pick(
      good(undefined, { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 1 }),
      bad(
        null,
        { maxAttempts: 0, backoff: 'fixed', baseDelayMs: 1 },
        { maxAttempts: 1, backoff: 'linear', baseDelayMs: 1 },
        { maxAttempts: 1, backoff: 'fixed', baseDelayMs: -1 },
      ),
    ),
    idempotencyKey: pick(good<'none' | 'fn'>('none', 'fn'), bad<'text'>('text')),
    idMatchesKey: pick(good(true), bad(false)),
  });

export const definitionPlan: fc.Arbitrary<DefinitionPlan> = fc
  .uniqueArray(
    fc.oneof(
      { weight: 30, arbitrary: fc.constantFrom(...NODE_IDS.filter((c) => c.valid)) },
      { weight: 1, arbitrary: fc.constantFrom(...NODE_IDS.filter((c) => !c.valid)) },
    ),
    {
      minLength: 1,
      maxLength: 5,
      selector: (c) => c.value,
    },
  )
  .chain((ids) =>
    fc.record({
      flowIdSuffix: pick(good('', ' \u00e9', '/__proto__'), bad('\u0000', '\uDC00', '@x')),
      version: pick(good<unknown>('1', '2.0.0-beta'), bad<unknown>('', 1, '  ')),
      nodes: fc.tuple(...ids.map(nodePlan)),
      entry: pick(good<'first'>('first'), bad<'missing' | 'empty'>('missing', 'empty')),
      edges: fc.array(
        fc.record({
          from: fc.nat(ids.length - 1),
          to: fc.nat(ids.length - 1),
          toUnknown: pick(good(false), bad(true)),
          priority: pick(good<unknown>(undefined, 0, 1, -1, 2.5), bad<unknown>(NaN, Infinity, '1')),
          when: pick(good<WhenKind>('none', 'true', 'false', 'throws'), bad<'text'>('text')),
        }),
        { maxLength: 6 },
      ),
      spine: fc.boolean(),
    }),
  )
  .map(({ spine, ...plan }) => {
    // Edges only go forward (lower index to higher), so a valid definition cannot loop forever.
    const edges = plan.edges.filter((e) => e.from !== e.to).map((e) => ({ ...e, from: Math.min(e.from, e.to), to: Math.max(e.from, e.to) }));
    // A spine 0 → 1 → 2 … makes long paths common; the random edges then compete with it.
    const plain = { toUnknown: { value: false, valid: true }, priority: { value: undefined, valid: true }, when: { value: 'none' as const, valid: true } };
    if (spine) plan.nodes.slice(1).forEach((_, i) => edges.push({ from: i, to: i + 1, ...plain }));
    return { ...plan, edges };
  });

export function isValidPlan(plan: DefinitionPlan): boolean {
  const nodeChoices = plan.nodes.flatMap((n) => [n.id, n.name, n.timeoutMs, n.retry, n.idempotencyKey, n.idMatchesKey]);
  const edgeChoices = plan.edges.flatMap((e) => [e.toUnknown, e.priority, e.when]);
  return [plan.flowIdSuffix, plan.version, plan.entry, ...nodeChoices, ...edgeChoices].every((c) => c.valid);
}

/** Each node records where the run went (state.path, state.seen) and what it saw (its attempt count). */
function visit(ctx: FlowContext): NodeResult {
  const id = ctx.meta.nodeId;
  const path = Array.isArray(ctx.state.path) ? ctx.state.path : [];
  return { status: 'ok', output: { id, attempts: ctx.meta.attempts[id] ?? null }, patch: { path: [...path, id], seen: recordOf([[id, true]]) } };
}

const CONDITIONS: Record<WhenKind | 'text', unknown> = {
  none: undefined,
  true: () => true,
  false: () => false,
  throws: () => {
    throw new Error('condition exploded');
  },
  text: 'yes',
};

export function buildDefinition(plan: DefinitionPlan, caseId: string): FlowDefinition {
  const ids = plan.nodes.map((n) => n.id.value);
  const nodes = recordOf(
    plan.nodes.map((n) => {
      const node: Record<string, unknown> = { id: n.idMatchesKey.value ? n.id.value : `${n.id.value}-other`, handler: visit };
      if (n.name.value !== undefined) node.name = n.name.value;
      if (n.timeoutMs.value !== undefined) node.timeoutMs = n.timeoutMs.value;
      if (n.retry.value !== undefined) node.retry = n.retry.value;
      if (n.idempotencyKey.value === 'fn') node.idempotencyKey = (ctx: FlowContext) => `${caseId}:${ctx.meta.nodeId}`;
      if (n.idempotencyKey.value === 'text') node.idempotencyKey = 'key';
      return [n.id.value, node] as const;
    }),
  );
  const edges = plan.edges.map((e) => {
    const edge: Record<string, unknown> = { from: ids[e.from], to: e.toUnknown.value ? 'no-such-node' : ids[e.to] };
    if (e.priority.value !== undefined) edge.priority = e.priority.value;
    if (e.when.value !== 'none') edge.when = CONDITIONS[e.when.value];
    return edge;
  });
  const entry = { first: ids[0], missing: 'no-such-entry', empty: '' }[plan.entry.value];
  return { flowId: `defs-${caseId}${plan.flowIdSuffix.value}`, version: plan.version.value, entry, nodes, edges } as unknown as FlowDefinition;
}

export interface ExpectedPath {
  status: 'COMPLETED' | 'FAILED';
  path: string[];
  errorCode?: 'AMBIGUOUS_EDGE' | 'EDGE_CONDITION_ERROR';
}

/** DESIGN §2 edges: conditions that hold, highest priority wins, a tie fails, none completes; a throwing condition fails. */
export function expectedPath(plan: DefinitionPlan): ExpectedPath {
  const path: string[] = [];
  let at = 0;
  for (;;) {
    path.push(plan.nodes[at]!.id.value);
    const outgoing = plan.edges.filter((e) => e.from === at);
    if (outgoing.some((e) => e.when.value === 'throws')) return { status: 'FAILED', path, errorCode: 'EDGE_CONDITION_ERROR' };
    const matching = outgoing.filter((e) => e.when.value !== 'false');
    if (matching.length === 0) return { status: 'COMPLETED', path };
    const top = Math.max(...matching.map((e) => (e.priority.value as number | undefined) ?? 0));
    const winners = matching.filter((e) => ((e.priority.value as number | undefined) ?? 0) === top);
    if (winners.length > 1) return { status: 'FAILED', path, errorCode: 'AMBIGUOUS_EDGE' };
    at = winners[0]!.to;
  }
}
