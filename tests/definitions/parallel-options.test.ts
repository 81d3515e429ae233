/**
 * The node options of parallel execution (split, join, forEach, concurrency) as definitions see
 * them: the builder and the decorators carry them into the node, validation knows their rules and
 * refuses keys that are no option at all, and the graph description and fingerprint include them.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_FOREACH_CONCURRENCY,
  Edge,
  Entry,
  Flow,
  Node,
  buildFlowDefinition,
  definitionProblems,
  describeGraph,
  fingerprintDefinition,
  flow,
  type FlowBuilder,
  type FlowContext,
  type FlowDefinition,
  type NodeOptions,
  type NodeResult,
} from '../../src/definitions/index.js';
import { NODE_OPTION_KEYS, suggestOption } from '../../src/definitions/validate.js';
import { makeCtx, problemsOf } from './helpers.js';

const ok = async (): Promise<NodeResult> => ({ status: 'ok' });
const items = (ctx: FlowContext): unknown[] => (ctx.input as { items: unknown[] }).items;
const any = (v: unknown) => v as never;
const desc = (value: unknown): PropertyDescriptor => ({ value, writable: true, enumerable: false, configurable: true });
const methodCtx = (name: string) => ({ kind: 'method', name, static: false, private: false, access: {}, addInitializer() {} }) as never;

/** s splits to a and b, both go on to j. */
const diamond = (opts: { s?: NodeOptions; a?: NodeOptions; j?: NodeOptions } = {}): FlowBuilder =>
  flow('p', '1')
    .entry('s')
    .node('s', ok, opts.s ?? { split: 'all' })
    .node('a', ok, opts.a)
    .node('b', ok)
    .node('j', ok, opts.j ?? { join: 'all' })
    .edge('s', 'a')
    .edge('s', 'b')
    .edge('a', 'j')
    .edge('b', 'j');

describe('the options are part of the contract', () => {
  it('exports the forEach concurrency default (10) and lists every option', () => {
    expect(DEFAULT_FOREACH_CONCURRENCY).toBe(10);
    expect([...NODE_OPTION_KEYS].sort()).toEqual([
      'catch',
      'compensate',
      'concurrency',
      'forEach',
      'idempotencyKey',
      'join',
      'name',
      'retry',
      'split',
      'timeoutMs',
      'transaction',
    ]);
  });

  it('a handler and its idempotencyKey can read ctx.item and ctx.itemIndex', () => {
    const key: NodeOptions['idempotencyKey'] = (ctx) => `order:${String(ctx.itemIndex)}:${String(ctx.item)}`;
    expect(key?.(makeCtx({}, { item: 'sku-1', itemIndex: 0 }))).toBe('order:0:sku-1');
    expect(makeCtx().item).toBeUndefined(); // absent outside a forEach node
  });
});

describe('the builder carries the options', () => {
  it('into the node definition, as given', () => {
    const def = flow('p', '1')
      .entry('s')
      .node('s', ok, { split: 'all' })
      .node('m', ok, { forEach: items, concurrency: 3 })
      .node('n', ok, { forEach: items })
      .node('j', ok, { join: 'any' })
      .edge('s', 'm')
      .edge('s', 'n')
      .edge('m', 'j')
      .edge('n', 'j')
      .build();
    expect(def.nodes.s).toEqual({ id: 's', handler: ok, split: 'all' });
    expect(def.nodes.m).toEqual({ id: 'm', handler: ok, forEach: items, concurrency: 3 });
    expect(def.nodes.n).toEqual({ id: 'n', handler: ok, forEach: items }); // the default is not written in
    expect(def.nodes.j).toEqual({ id: 'j', handler: ok, join: 'any' });
    expect(Object.isFrozen(def.nodes.m)).toBe(true);
  });

  it("accepts split: 'first' (today's rule) with priorities and no join", () => {
    const def = flow('p', '1').entry('a').node('a', ok, { split: 'first' }).node('b', ok).node('c', ok).edge('a', 'b', undefined, 2).edge('a', 'c').build();
    expect(def.nodes.a.split).toBe('first');
  });
});

describe('decorators carry the options (called in both conventions)', () => {
  it('legacy (prototype, key, descriptor)', () => {
    class P {
      s() {
        return ok();
      }
      m() {
        return ok();
      }
    }
    Node({ split: 'all' })(P.prototype, 's', desc(P.prototype.s));
    Entry()(P.prototype, 's', desc(P.prototype.s));
    Edge('m')(P.prototype, 's', desc(P.prototype.s));
    Node('m', { forEach: items, concurrency: 2, join: 'all' })(P.prototype, 'm', desc(P.prototype.m));
    Flow('p', '1')(P);
    const def = buildFlowDefinition(P);
    expect(def.nodes.s).toMatchObject({ id: 's', split: 'all' });
    expect(def.nodes.m).toMatchObject({ id: 'm', forEach: items, concurrency: 2, join: 'all' });
  });

  it('standard (value, context)', () => {
    class P {
      s() {
        return ok();
      }
      m() {
        return ok();
      }
    }
    Node('s', { split: 'all' })(P.prototype.s, methodCtx('s'));
    Entry()(P.prototype.s, methodCtx('s'));
    Edge('m')(P.prototype.s, methodCtx('s'));
    Node({ forEach: items, join: 'any' })(P.prototype.m, methodCtx('m'));
    Flow('p', '1')(P, { kind: 'class', name: 'P', addInitializer() {} } as never);
    const def = buildFlowDefinition(P);
    expect(def.nodes.s).toMatchObject({ id: 's', split: 'all' });
    expect(def.nodes.m).toMatchObject({ id: 'm', forEach: items, join: 'any' });
  });
});

describe('validation of the options', () => {
  it.each<[string, NodeOptions, string]>([
    ['split', { split: any('al') }, `node "a": split must be 'all' or 'first' (got "al")`],
    ['join', { join: any('first') }, `node "a": join must be 'all' or 'any' (got "first")`],
    ['forEach', { forEach: any([1, 2]) }, 'node "a": forEach must be a function (ctx) => unknown[] (got an array)'],
    ['concurrency 0', { forEach: items, concurrency: 0 }, 'node "a": concurrency must be an integer >= 1 (got 0)'],
    ['concurrency 1.5', { forEach: items, concurrency: 1.5 }, 'node "a": concurrency must be an integer >= 1 (got 1.5)'],
    ['concurrency Infinity', { forEach: items, concurrency: Infinity }, 'node "a": concurrency must be an integer >= 1 (got Infinity)'],
    ['concurrency text', { forEach: items, concurrency: any('4') }, 'node "a": concurrency must be an integer >= 1 (got "4")'],
    [
      'concurrency without forEach',
      { concurrency: 4 },
      'node "a": concurrency without forEach has no effect (it limits how many items of a forEach node run at once)',
    ],
  ])('reports %s', (_label, opts, problem) => {
    expect(problemsOf(() => flow('f', '1').entry('a').node('a', ok, opts).build())).toEqual([problem]);
  });

  it('accepts concurrency 1 and a large one', () => {
    expect(() => flow('f', '1').entry('a').node('a', ok, { forEach: items, concurrency: 1 }).build()).not.toThrow();
    expect(() => flow('f', '1').entry('a').node('a', ok, { forEach: items, concurrency: 10_000 }).build()).not.toThrow();
  });

  it('accepts a join fed by a split, directly or further down, and inside a loop', () => {
    expect(() => diamond().build()).not.toThrow();
    expect(() => diamond({ j: { join: 'any' } }).build()).not.toThrow();
    // s (split) -> a -> x -> j: reachable in more than one step.
    const deep = flow('p', '1')
      .entry('s')
      .node('s', ok, { split: 'all' })
      .node('a', ok)
      .node('x', ok)
      .node('b', ok)
      .node('j', ok, { join: 'all' })
      .edge('s', 'a')
      .edge('s', 'b')
      .edge('a', 'x')
      .edge('x', 'j')
      .edge('b', 'j');
    expect(() => deep.build()).not.toThrow();
    // The split itself joins the branches it started, coming back round a loop.
    const loop = flow('p', '1')
      .entry('s')
      .node('s', ok, { split: 'all', join: 'all' })
      .node('a', ok)
      .node('b', ok)
      .edge('s', 'a')
      .edge('s', 'b')
      .edge('a', 's', (ctx) => ctx.state.again === true)
      .edge('b', 's', (ctx) => ctx.state.again === true);
    expect(() => loop.build()).not.toThrow();
  });

  it('reports a join that no split can feed', () => {
    const noSplit = flow('p', '1').entry('a').node('a', ok).node('b', ok).node('j', ok, { join: 'all' }).edge('a', 'j').edge('b', 'j');
    expect(problemsOf(() => noSplit.build())).toEqual([`node "j": join: 'all' but no split: 'all' node leads to it (a join that no split can feed)`]);
    // A split elsewhere in the graph does not feed it.
    const elsewhere = flow('p', '1')
      .entry('a')
      .node('a', ok)
      .node('j', ok, { join: 'any' })
      .node('s', ok, { split: 'all' })
      .node('x', ok)
      .edge('a', 'j')
      .edge('j', 's')
      .edge('s', 'x');
    expect(problemsOf(() => elsewhere.build())).toEqual([`node "j": join: 'any' but no split: 'all' node leads to it (a join that no split can feed)`]);
    // split: 'first' starts no branches.
    expect(problemsOf(() => diamond({ s: { split: 'first' } }).build())).toEqual([
      `node "j": join: 'all' but no split: 'all' node leads to it (a join that no split can feed)`,
    ]);
    // The entry cannot be fed either.
    expect(problemsOf(() => flow('p', '1').entry('j').node('j', ok, { join: 'all' }).build())).toEqual([
      `node "j": join: 'all' but no split: 'all' node leads to it (a join that no split can feed)`,
    ]);
  });

  it("reports priorities on the edges of a split: 'all' node (they would have no effect)", () => {
    const def = flow('p', '1').entry('s').node('s', ok, { split: 'all' }).node('a', ok).node('b', ok).edge('s', 'a', undefined, 2).edge('s', 'b', undefined, 0);
    expect(problemsOf(() => def.build())).toEqual([
      `edge #0 ("s" -> "a"): priority 2 has no effect: node "s" has split: 'all', which takes every edge whose when holds; remove the priority`,
    ]);
  });

  it("reports two edges from a split: 'all' node to the same node", () => {
    const def = flow('p', '1')
      .entry('s')
      .node('s', ok, { split: 'all' })
      .node('a', ok)
      .edge('s', 'a', (ctx) => ctx.state.x === 1)
      .edge('s', 'a', (ctx) => ctx.state.y === 1);
    expect(problemsOf(() => def.build())).toEqual([
      `node "s": split: 'all' with 2 edges to "a" would start 2 branches at "a" at once; use one edge (combine the conditions in its when)`,
    ]);
    // Without split: 'all' the same two edges are the priority rule's business, not a definition error.
    expect(() => flow('p', '1').entry('s').node('s', ok).node('a', ok).edge('s', 'a').edge('s', 'a', undefined, 1).build()).not.toThrow();
  });

  it('checks the rules on hand-written definitions too', () => {
    const def = {
      flowId: 'p',
      version: '1',
      entry: 's',
      nodes: {
        s: { id: 's', handler: ok, split: 'all' },
        a: { id: 'a', handler: ok, concurrency: 2 },
        j: { id: 'j', handler: ok, join: 'all' },
        k: { id: 'k', handler: ok, join: 'any' },
      },
      edges: [
        { from: 's', to: 'a', priority: 1 },
        { from: 'a', to: 'j' },
      ],
    };
    expect(definitionProblems(def)).toEqual([
      'node "a": concurrency without forEach has no effect (it limits how many items of a forEach node run at once)',
      `edge #0 ("s" -> "a"): priority 1 has no effect: node "s" has split: 'all', which takes every edge whose when holds; remove the priority`,
      `node "k": join: 'any' but no split: 'all' node leads to it (a join that no split can feed)`,
    ]);
  });
});

describe('unknown option keys are problems', () => {
  it('in builder options, with the close option suggested', () => {
    expect(
      problemsOf(() =>
        flow('f', '1')
          .entry('a')
          .node('a', ok, any({ spilt: 'all' }))
          .build(),
      ),
    ).toEqual(['node "a": unknown option "spilt" (did you mean "split"?)']);
  });

  it('in decorator options (both forms of @Node)', () => {
    class P {
      a() {
        return ok();
      }
      b() {
        return ok();
      }
    }
    Node(any({ joyn: 'all' }))(P.prototype, 'a', desc(P.prototype.a));
    Entry()(P.prototype, 'a', desc(P.prototype.a));
    Node('b', any({ timeout: 10 }))(P.prototype.b, methodCtx('b'));
    Flow('p', '1')(P);
    expect(problemsOf(() => buildFlowDefinition(P))).toEqual([
      'node "a": unknown option "joyn" (did you mean "join"?)',
      'node "b": unknown option "timeout" (did you mean "timeoutMs"?)',
    ]);
  });

  it('on hand-written node definitions (any key but id, handler and the options)', () => {
    const def = {
      flowId: 'f',
      version: '1',
      entry: 'a',
      nodes: { a: { id: 'a', handler: ok, forEach: items, concurency: 2, description: 'x', [Symbol('tag')]: 1 } },
      edges: [],
    };
    expect(definitionProblems(def)).toEqual([
      'node "a": unknown option "concurency" (did you mean "concurrency"?)',
      'node "a": unknown option "description" (the options are name, retry, timeoutMs, idempotencyKey, split, join, forEach, concurrency, catch, compensate, transaction)',
      'node "a": unknown option Symbol(tag)',
    ]);
  });

  it('names edge options put on a node, and id/handler given as options', () => {
    expect(
      problemsOf(() =>
        flow('f', '1')
          .entry('a')
          .node('a', ok, any({ priority: 1, id: 'b', handler: ok }))
          .build(),
      ),
    ).toEqual([
      'node "a": unknown option "id" (the node id is not an option: pass it as the first argument)',
      `node "a": unknown option "handler" (the handler is the decorated method, or node()'s second argument)`,
      'node "a": unknown option "priority" (it belongs to an edge: @Edge(to, when, priority) or .edge(from, to, when, priority))',
    ]);
  });

  it('reports options that are not an object', () => {
    expect(problemsOf(() => flow('f', '1').entry('a').node('a', ok, any('fast')).build())).toEqual(['node "a": options must be an object (got "fast")']);
    expect(() => flow('f', '1').entry('a').node('a', ok, any(null)).build()).not.toThrow(); // as 0.5.x: no options
  });

  it.each([
    ['spilt', 'split'],
    ['Split', 'split'],
    ['timeoutms', 'timeoutMs'],
    ['retries', 'retry'],
    ['foreach', 'forEach'],
    ['for_each', 'forEach'],
    ['concurency', 'concurrency'],
    ['idempotency', 'idempotencyKey'],
    ['idempotencyKye', 'idempotencyKey'],
    ['nmae', 'name'],
    ['parallel', 'split'],
  ])('suggests %s -> %s', (typo, meant) => {
    expect(suggestOption(typo)).toBe(meant);
  });

  it.each(['foo', 'x', 'description', 'j', 'data'])('suggests nothing for %s', (key) => {
    expect(suggestOption(key)).toBeUndefined();
  });

  it('reports every problem at once', () => {
    const build = () =>
      flow('p', '1')
        .entry('s')
        .node('s', ok, any({ split: 'all', spilt: 'all' }))
        .node('a', ok, any({ concurrency: 0, forEach: 'items' }))
        .node('j', ok, any({ join: 'some' }))
        .node('k', ok, { join: 'all' })
        .edge('s', 'a', undefined, 3)
        .edge('s', 'a')
        .build();
    expect(problemsOf(build)).toEqual([
      'node "s": unknown option "spilt" (did you mean "split"?)',
      'node "a": forEach must be a function (ctx) => unknown[] (got "items")',
      'node "a": concurrency must be an integer >= 1 (got 0)',
      `node "j": join must be 'all' or 'any' (got "some")`,
      `edge #0 ("s" -> "a"): priority 3 has no effect: node "s" has split: 'all', which takes every edge whose when holds; remove the priority`,
      `node "s": split: 'all' with 2 edges to "a" would start 2 branches at "a" at once; use one edge (combine the conditions in its when)`,
      `node "k": join: 'all' but no split: 'all' node leads to it (a join that no split can feed)`,
    ]);
  });
});

describe('the graph description and fingerprint include the options', () => {
  const base = (): FlowDefinition => diamond({ a: { forEach: items, concurrency: 4 } }).build();

  it('describes them only on the nodes that use them', () => {
    const g = describeGraph(base());
    expect(JSON.parse(JSON.stringify(g))).toEqual(g);
    expect(g.nodes).toEqual([
      { id: 'a', name: 'a', retry: null, timeoutMs: null, hasIdempotencyKey: false, forEach: true, concurrency: 4 },
      { id: 'b', name: 'b', retry: null, timeoutMs: null, hasIdempotencyKey: false },
      { id: 'j', name: 'j', retry: null, timeoutMs: null, hasIdempotencyKey: false, join: 'all' },
      { id: 's', name: 's', retry: null, timeoutMs: null, hasIdempotencyKey: false, split: 'all' },
    ]);
    for (const node of g.nodes.filter((n) => n.id === 'b')) expect(Object.keys(node)).toEqual(['id', 'name', 'retry', 'timeoutMs', 'hasIdempotencyKey']);
  });

  it('fills in the defaults: concurrency on a forEach node, nothing for split: first', () => {
    const plain = diamond({ a: { forEach: items } }).build();
    expect(describeGraph(plain).nodes.find((n) => n.id === 'a')).toMatchObject({ forEach: true, concurrency: DEFAULT_FOREACH_CONCURRENCY });
    expect(fingerprintDefinition(plain)).toBe(fingerprintDefinition(diamond({ a: { forEach: items, concurrency: 10 } }).build()));
    const first = flow('f', '1').entry('a').node('a', ok, { split: 'first' }).build();
    expect(describeGraph(first).nodes[0]).not.toHaveProperty('split');
    expect(fingerprintDefinition(first)).toBe(fingerprintDefinition(flow('f', '1').entry('a').node('a', ok).build()));
  });

  it('ignores the code of forEach, like that of handlers', () => {
    expect(fingerprintDefinition(diamond({ a: { forEach: () => [1, 2, 3], concurrency: 4 } }).build())).toBe(fingerprintDefinition(base()));
  });

  it.each<[string, () => FlowDefinition]>([
    ['join any', () => diamond({ a: { forEach: items, concurrency: 4 }, j: { join: 'any' } }).build()],
    ['join removed', () => diamond({ a: { forEach: items, concurrency: 4 }, j: {} }).build()],
    ['forEach removed', () => diamond().build()],
    ['concurrency', () => diamond({ a: { forEach: items, concurrency: 5 } }).build()],
  ])('changes with the %s', (_label, changed) => {
    expect(fingerprintDefinition(changed())).not.toBe(fingerprintDefinition(base()));
  });

  it('changes when a node starts splitting', () => {
    const chain = flow('f', '1').entry('s').node('s', ok).node('a', ok).node('b', ok).edge('s', 'a').edge('s', 'b', undefined, 1);
    const split = flow('f', '1').entry('s').node('s', ok, { split: 'all' }).node('a', ok).node('b', ok).edge('s', 'a').edge('s', 'b');
    const chainSamePriorities = flow('f', '1').entry('s').node('s', ok).node('a', ok).node('b', ok).edge('s', 'a').edge('s', 'b');
    expect(fingerprintDefinition(split.build())).not.toBe(fingerprintDefinition(chainSamePriorities.build()));
    expect(fingerprintDefinition(chain.build())).not.toBe(fingerprintDefinition(split.build()));
  });

  it('leaves the fingerprint of a graph without them as it was before they existed', () => {
    // The same graph as graph.test.ts's sample; the hash is what the code before the parallel options computed.
    const def = flow('f', '1')
      .entry('start')
      .node('start', ok, { retry: { maxAttempts: 3, backoff: 'exponential', baseDelayMs: 5 }, timeoutMs: 100 })
      .node('big', ok, { name: 'Big', idempotencyKey: (ctx) => ctx.runId })
      .node('small', ok)
      .edge('start', 'big', (ctx) => (ctx.input as number) > 10, 1)
      .edge('start', 'small')
      .edge('big', 'small')
      .build();
    expect(fingerprintDefinition(def)).toBe('82bb2dc147b0bb02e113f35333ec9d52120807a9b59a6ef3e30b47e7cc10b84d');
  });
});

describe('transaction option', () => {
  it('takes true, false or { isolation } with a Postgres level, and reports anything else', () => {
    const def = (transaction: unknown) => ({
      flowId: 'f',
      version: '1',
      entry: 'a',
      nodes: { a: { id: 'a', handler: ok, transaction } },
      edges: [],
    });
    for (const good of [true, false, {}, { isolation: 'read committed' }, { isolation: 'repeatable read' }, { isolation: 'serializable' }]) {
      expect(definitionProblems(def(good))).toEqual([]);
    }
    expect(definitionProblems(def('yes'))).toEqual([
      `node "a": transaction must be true or { isolation: 'read committed', 'repeatable read', 'serializable' } (got "yes")`,
    ]);
    expect(definitionProblems(def({ isolation: 'snapshot', retries: 3 }))).toEqual([
      'node "a": transaction has no option "retries" (it takes isolation)',
      `node "a": transaction.isolation must be one of 'read committed', 'repeatable read', 'serializable' (got "snapshot")`,
    ]);
    expect(
      describeGraph(
        flow('g', '1')
          .entry('a')
          .node('a', ok, { transaction: { isolation: 'serializable' } })
          .build(),
      ).nodes[0],
    ).toMatchObject({
      transaction: 'serializable',
    });
    expect(describeGraph(flow('g', '1').entry('a').node('a', ok).build()).nodes[0]).not.toHaveProperty('transaction');
  });
});

describe('decorators carry the transaction option (@Node(id, options) and @Node(options))', () => {
  it('in both decorator conventions', () => {
    class P {
      s() {
        return ok();
      }
      m() {
        return ok();
      }
    }
    Node('s', { transaction: true })(P.prototype, 's', desc(P.prototype.s));
    Entry()(P.prototype, 's', desc(P.prototype.s));
    Edge('m')(P.prototype, 's', desc(P.prototype.s));
    Node({ transaction: { isolation: 'repeatable read' } })(P.prototype.m, methodCtx('m'));
    Flow('p', '1')(P);
    const def = buildFlowDefinition(P);
    expect(def.nodes.s).toMatchObject({ id: 's', transaction: true });
    expect(def.nodes.m).toMatchObject({ id: 'm', transaction: { isolation: 'repeatable read' } });
  });
});
