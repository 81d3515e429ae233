/**
 * Decorated flow classes written as for 0.5.x (experimentalDecorators, `@Node(id)` or
 * `@Node(options)`), built with buildFlowDefinition. Ported from the original package's
 * test/decorators.test.ts, plus the behaviours docs/upgrading.md lists as different.
 */
import { describe, expect, it } from 'vitest';
import { Edge, Entry, Flow, FlowDefinitionError, FlowError, Node, buildFlowDefinition } from '@hazeljs/flow';
import type { FlowContext, NodeDecoratorOptions, NodeResult } from '@hazeljs/flow';

function errorOf(fn: () => unknown): FlowDefinitionError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlowDefinitionError) return e;
    throw e;
  }
  throw new Error('expected a FlowDefinitionError');
}

@Flow('decorator-flow', '1.0.0')
class DecoratorFlow {
  @Entry()
  @Node('start')
  @Edge('end')
  async start(): Promise<NodeResult> {
    return { status: 'ok', output: { started: true } };
  }

  @Node('end')
  async end(): Promise<NodeResult> {
    return { status: 'ok', output: { done: true } };
  }
}

describe('buildFlowDefinition (0.5.x tests)', () => {
  it('builds the definition of a decorated class', () => {
    const def = buildFlowDefinition(DecoratorFlow);
    expect(def.flowId).toBe('decorator-flow');
    expect(def.version).toBe('1.0.0');
    expect(def.entry).toBe('start');
    expect(Object.keys(def.nodes)).toContain('start');
    expect(Object.keys(def.nodes)).toContain('end');
    expect(def.edges).toHaveLength(1);
    expect(def.edges[0]).toMatchObject({ from: 'start', to: 'end' });
  });

  it('fills in priority 0 on edges that give none, as 0.5.x did', () => {
    expect(buildFlowDefinition(DecoratorFlow).edges).toEqual([{ from: 'start', to: 'end', priority: 0 }]);
  });

  it("throws for a class without @Flow, with 0.5.x's sentence first", () => {
    class PlainClass {}
    expect(() => buildFlowDefinition(PlainClass)).toThrow('not decorated with @Flow');
    const err = errorOf(() => buildFlowDefinition(PlainClass));
    expect(err.message.startsWith('Class PlainClass is not decorated with @Flow(flowId, version)')).toBe(true);
    expect(err).toBeInstanceOf(FlowError);
    expect(err).toBeInstanceOf(Error); // 0.5.x threw a plain Error: `catch (e: Error)` code still catches it
    expect(err.code).toBe('INVALID_DEFINITION');
  });

  it("throws when there is no @Entry node, with 0.5.x's sentence first", () => {
    @Flow('no-entry-flow', '1.0.0')
    class NoEntryFlow {
      @Node('a')
      async a(): Promise<NodeResult> {
        return { status: 'ok', output: 1 };
      }
    }
    expect(() => buildFlowDefinition(NoEntryFlow)).toThrow('must have exactly one @Entry()');
    const err = errorOf(() => buildFlowDefinition(NoEntryFlow));
    expect(err.message.startsWith('Flow no-entry-flow@1.0.0 must have exactly one @Entry() node')).toBe(true);
    expect(err.problems).toEqual(['no @Entry: mark the first node with @Entry()']);
  });

  it('takes @Node with options only (no node id): the id is the method name', () => {
    @Flow('opts-flow', '1.0.0')
    class OptsFlow {
      @Entry()
      @Node({ name: 'StartNode' })
      @Edge('end')
      async start(): Promise<NodeResult> {
        return { status: 'ok', output: 1 };
      }

      @Node('end')
      async end(): Promise<NodeResult> {
        return { status: 'ok', output: 2 };
      }
    }
    const def = buildFlowDefinition(OptsFlow);
    expect(def.nodes.start?.name).toBe('StartNode');
    expect(def.nodes.start?.id).toBe('start');
    expect(def.edges).toEqual([{ from: 'start', to: 'end', priority: 0 }]);
  });
});

describe('0.5.x decorator usage that keeps working', () => {
  const retry = { maxAttempts: 3, backoff: 'exponential' as const, baseDelayMs: 100 };
  const key = (ctx: FlowContext): string => `run:${ctx.runId}:node:charge`;
  const options: NodeDecoratorOptions = { name: 'Charge', retry, timeoutMs: 5000, idempotencyKey: key };

  @Flow('options-flow', '1.0.0')
  class OptionsFlow {
    @Entry()
    @Node(options)
    @Edge('pass', (ctx: FlowContext) => (ctx.state.score as number) >= 60, 1)
    @Edge('fail', (ctx: FlowContext) => (ctx.state.score as number) < 60, 1)
    async charge(): Promise<NodeResult> {
      return { status: 'ok' };
    }

    @Node()
    async pass(): Promise<NodeResult> {
      return { status: 'ok', output: 'pass' };
    }

    @Node('fail', {})
    async fail(): Promise<NodeResult> {
      return { status: 'ok', output: 'fail' };
    }
  }

  it('all node options, @Node() and @Node(id, {}), edges with conditions and priorities', () => {
    const def = buildFlowDefinition(OptionsFlow);
    expect(def.nodes.charge).toMatchObject({ id: 'charge', name: 'Charge', retry, timeoutMs: 5000, idempotencyKey: key });
    expect(Object.keys(def.nodes)).toEqual(['charge', 'pass', 'fail']);
    expect(def.edges.map(({ from, to, priority }) => ({ from, to, priority }))).toEqual([
      { from: 'charge', to: 'pass', priority: 1 },
      { from: 'charge', to: 'fail', priority: 1 },
    ]);
  });

  it('binds handlers to an instance of the class', async () => {
    @Flow('bound', '1.0.0')
    class Bound {
      greeting = 'hi';
      @Entry()
      @Node('hello')
      async hello(): Promise<NodeResult> {
        return { status: 'ok', output: this.greeting };
      }
    }
    const def = buildFlowDefinition(Bound);
    expect(await def.nodes.hello.handler({} as FlowContext)).toEqual({ status: 'ok', output: 'hi' });
  });
});

describe('deliberate differences from 0.5.x (docs/upgrading.md)', () => {
  it("an @Edge starts at the node's id, not at the method name", () => {
    @Flow('renamed', '1.0.0')
    class Renamed {
      @Entry()
      @Node('begin')
      @Edge('finish')
      async start(): Promise<NodeResult> {
        return { status: 'ok' };
      }

      @Node('finish')
      async end(): Promise<NodeResult> {
        return { status: 'ok' };
      }
    }
    // 0.5.x recorded { from: 'start' }: an edge from no node, so runs ended after 'begin'.
    expect(buildFlowDefinition(Renamed).edges).toEqual([{ from: 'begin', to: 'finish', priority: 0 }]);
  });

  it('two @Entry nodes are an error (0.5.x silently took the last one)', () => {
    @Flow('two-entries', '1.0.0')
    class TwoEntries {
      @Entry()
      @Node('a')
      async a(): Promise<NodeResult> {
        return { status: 'ok' };
      }

      @Entry()
      @Node('b')
      async b(): Promise<NodeResult> {
        return { status: 'ok' };
      }
    }
    const err = errorOf(() => buildFlowDefinition(TwoEntries));
    expect(err.message.startsWith('Flow two-entries@1.0.0 must have exactly one @Entry() node')).toBe(true);
    expect(err.problems).toEqual(['more than one @Entry: nodes "a", "b"']);
  });

  it('an edge to a node that does not exist, or an unknown option, is an error (0.5.x ignored them)', () => {
    @Flow('loose', '1.0.0')
    class Loose {
      @Entry()
      @Node({ name: 'A', retries: 3 } as NodeDecoratorOptions)
      @Edge('nowhere')
      async a(): Promise<NodeResult> {
        return { status: 'ok' };
      }
    }
    expect(errorOf(() => buildFlowDefinition(Loose)).problems).toEqual([
      'node "a": unknown option "retries" (did you mean "retry"?)',
      'edge #0 ("a" -> "nowhere"): to "nowhere" is not a node of this flow',
    ]);
  });

  it('@Node(options, options) is an error (0.5.x ignored the second)', () => {
    @Flow('twice', '1.0.0')
    class Twice {
      @Entry()
      @Node({ name: 'A' }, { timeoutMs: 5 })
      async a(): Promise<NodeResult> {
        return { status: 'ok' };
      }
    }
    expect(errorOf(() => buildFlowDefinition(Twice)).problems).toEqual([
      'method "a": @Node(options, options): give the options once, as @Node(options) or @Node(id, options)',
    ]);
  });

  it("inherited decorated methods are part of a subclass flow (0.5.x saw only the class's own methods)", () => {
    class Base {
      @Entry()
      @Node('a')
      @Edge('b')
      async a(): Promise<NodeResult> {
        return { status: 'ok' };
      }
    }
    @Flow('sub', '1.0.0')
    class Sub extends Base {
      @Node('b')
      async b(): Promise<NodeResult> {
        return { status: 'ok' };
      }
    }
    expect(Object.keys(buildFlowDefinition(Sub).nodes)).toEqual(['a', 'b']);
  });

  it('the definition is frozen', () => {
    const def = buildFlowDefinition(DecoratorFlow);
    expect(Object.isFrozen(def) && Object.isFrozen(def.nodes.start) && Object.isFrozen(def.edges[0])).toBe(true);
  });
});
