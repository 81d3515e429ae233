/**
 * The flow() builder as 0.5.x code uses it. Ported from the original package's
 * test/dsl.flow.test.ts, plus the behaviours docs/upgrading.md lists as different.
 */
import { describe, expect, it } from 'vitest';
import { FlowDefinitionError, flow, type FlowContext, type FlowDefinition, type NodeResult, type RetryPolicy } from '@hazeljs/flow';

function errorOf(fn: () => unknown): FlowDefinitionError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlowDefinitionError) return e;
    throw e;
  }
  throw new Error('expected a FlowDefinitionError');
}

describe('flow() builder (0.5.x tests)', () => {
  it('builds a definition with entry, nodes and an edge (edge before its target node)', () => {
    const def = flow('test-flow', '1.0.0')
      .entry('a')
      .node('a', async () => ({ status: 'ok', output: 1 }))
      .edge('a', 'b')
      .node('b', async () => ({ status: 'ok', output: 2 }))
      .build();

    expect(def.flowId).toBe('test-flow');
    expect(def.version).toBe('1.0.0');
    expect(def.entry).toBe('a');
    expect(Object.keys(def.nodes)).toEqual(['a', 'b']);
    expect(def.edges).toHaveLength(1);
    expect(def.edges[0]).toEqual({ from: 'a', to: 'b', priority: 0 });
  });

  it("throws when build() is called without an entry, with 0.5.x's sentence first", () => {
    const build = () =>
      flow('x', '1.0.0')
        .node('a', async () => ({ status: 'ok', output: 1 }))
        .build();
    expect(build).toThrow('Flow must have an entry node');
    const err = errorOf(build);
    expect(err.message.startsWith('Flow must have an entry node. Call .entry(nodeId) first.')).toBe(true);
    expect(err).toBeInstanceOf(Error);
    expect(err.problems).toEqual(['entry must name the first node (got undefined)']);
  });

  it('keeps the node options (name, retry, timeoutMs, idempotencyKey)', () => {
    const idempotencyKey = (): string => 'key';
    const def = flow('opt-flow', '1.0.0')
      .entry('a')
      .node('a', async () => ({ status: 'ok', output: 1 }), {
        name: 'NodeA',
        retry: { maxAttempts: 3, backoff: 'exponential', baseDelayMs: 100 },
        timeoutMs: 5000,
        idempotencyKey,
      })
      .build();

    expect(def.nodes.a?.name).toBe('NodeA');
    expect(def.nodes.a?.retry).toEqual({ maxAttempts: 3, backoff: 'exponential', baseDelayMs: 100 });
    expect(def.nodes.a?.timeoutMs).toBe(5000);
    expect(def.nodes.a?.idempotencyKey).toBe(idempotencyKey);
  });

  it('keeps an edge condition and priority', () => {
    const when = (): boolean => true;
    const def = flow('edge-flow', '1.0.0')
      .entry('a')
      .node('a', async () => ({ status: 'ok', output: 1 }))
      .edge('a', 'b', when, 10)
      .node('b', async () => ({ status: 'ok', output: 2 }))
      .build();

    expect(def.edges[0]).toEqual({ from: 'a', to: 'b', when, priority: 10 });
  });
});

describe('0.5.x builder usage that keeps working', () => {
  it('handlers typed as 0.5.x typed them, and a definition typed as 0.5.x typed it', async () => {
    const handler = async (ctx: FlowContext): Promise<NodeResult> => ({ status: 'ok', output: ctx.input });
    const retry: RetryPolicy = { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 10, maxDelayMs: 20 };
    const def: FlowDefinition = flow('typed', '1.0.0').entry('a').node('a', handler, { retry }).build();
    expect(await def.nodes.a.handler({ input: 7 } as FlowContext)).toEqual({ status: 'ok', output: 7 });
  });

  it('a hand-written definition of 0.5.x shape (undefined options spelled out) is valid', async () => {
    const { validateDefinition } = await import('@hazeljs/flow');
    const def: FlowDefinition = {
      flowId: 'hand',
      version: '1.0.0',
      entry: 'a',
      nodes: {
        a: { id: 'a', name: undefined, handler: async () => ({ status: 'ok' }), retry: undefined, timeoutMs: undefined, idempotencyKey: undefined },
      },
      edges: [],
    };
    expect(() => validateDefinition(def)).not.toThrow();
  });
});

describe('deliberate differences from 0.5.x (docs/upgrading.md)', () => {
  const ok = async (): Promise<NodeResult> => ({ status: 'ok' });

  it('each call returns a new builder: statements that drop the result are told so at build()', () => {
    const builder = flow('statements', '1.0.0');
    builder.entry('a');
    builder.node('a', ok);
    const err = errorOf(() => builder.build());
    expect(err.message.startsWith('Flow must have an entry node')).toBe(true);
    expect(err.problems.at(-1)).toMatch(/^build\(\) was called on a builder whose calls returned new builders/);
    // Keeping each result works, as chaining does.
    let kept = flow('statements', '1.0.0');
    kept = kept.entry('a');
    kept = kept.node('a', ok);
    expect(kept.build().entry).toBe('a');
  });

  it('a node id given twice, a second entry, an edge to a missing node are errors (0.5.x: last one won, or ignored)', () => {
    expect(errorOf(() => flow('f', '1').entry('a').node('a', ok).node('a', ok).build()).problems).toEqual([
      'duplicate node id "a": node() was called twice with it',
    ]);
    expect(errorOf(() => flow('f', '1').entry('a').entry('b').node('a', ok).node('b', ok).build()).problems).toEqual([
      'more than one entry: entry() was called with "a", "b"',
    ]);
    expect(errorOf(() => flow('f', '1').entry('a').node('a', ok).edge('a', 'b').build()).problems).toEqual([
      'edge #0 ("a" -> "b"): to "b" is not a node of this flow',
    ]);
  });

  it('the definition is frozen and the options are copied', () => {
    const retry: RetryPolicy = { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 1 };
    const def = flow('f', '1').entry('a').node('a', ok, { retry }).build();
    retry.maxAttempts = 9;
    expect(def.nodes.a.retry?.maxAttempts).toBe(2);
    expect(Object.isFrozen(def)).toBe(true);
  });
});
