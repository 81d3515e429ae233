import { describe, expect, it } from 'vitest';
import { FlowDefinitionError } from '../../src/errors.js';
import { flow, FlowBuilder, type FlowContext, type NodeResult } from '../../src/definitions/index.js';
import { makeCtx, problemsOf } from './helpers.js';

const ok = async (): Promise<NodeResult> => ({ status: 'ok' });

describe('flow() builder', () => {
  it('builds the seed example', async () => {
    const def = flow('my-flow', '1.0.0')
      .entry('start')
      .node('start', async () => ({ status: 'ok', output: 1 }))
      .node('end', async (ctx) => ({ status: 'ok', output: ctx.outputs.start }))
      .edge('start', 'end')
      .build();
    expect(def.flowId).toBe('my-flow');
    expect(def.version).toBe('1.0.0');
    expect(def.entry).toBe('start');
    expect(Object.keys(def.nodes)).toEqual(['start', 'end']);
    expect(def.edges).toEqual([{ from: 'start', to: 'end', priority: 0 }]); // priority filled in, as 0.5.x did
    expect(await def.nodes.end.handler(makeCtx({}, { outputs: { start: 1 } }))).toEqual({ status: 'ok', output: 1 });
  });

  it('keeps options, conditions and priorities', () => {
    const when = (ctx: FlowContext) => ctx.state.go === true;
    const key = (ctx: FlowContext) => ctx.runId;
    const retry = { maxAttempts: 3, backoff: 'exponential' as const, baseDelayMs: 10, maxDelayMs: 100, jitter: true };
    const def = flow('f', '1')
      .node('a', ok, { name: 'A', retry, timeoutMs: 50, idempotencyKey: key })
      .node('b', ok)
      .entry('a')
      .edge('a', 'b', when, 5)
      .edge('a', 'b', undefined, -1)
      .build();
    expect(def.nodes.a).toEqual({ id: 'a', handler: ok, name: 'A', retry, timeoutMs: 50, idempotencyKey: key });
    expect(def.nodes.a.retry).not.toBe(retry); // copied: later edits to the caller's object don't leak in
    expect(def.edges).toEqual([
      { from: 'a', to: 'b', when, priority: 5 },
      { from: 'a', to: 'b', priority: -1 },
    ]);
  });

  it('each call returns a new builder; earlier builders are unaffected', () => {
    const base = flow('f', '1').entry('a').node('a', ok).node('b', ok).node('c', ok);
    expect(base).toBeInstanceOf(FlowBuilder);
    const toB = base.edge('a', 'b');
    const toC = base.edge('a', 'c');
    expect(toB.build().edges).toEqual([{ from: 'a', to: 'b', priority: 0 }]);
    expect(toC.build().edges).toEqual([{ from: 'a', to: 'c', priority: 0 }]);
    expect(base.build().edges).toEqual([]);
  });

  it('returns a frozen definition', () => {
    const def = flow('f', '1')
      .entry('a')
      .node('a', ok, { retry: { maxAttempts: 1, backoff: 'fixed', baseDelayMs: 0 } })
      .build();
    expect(Object.isFrozen(def)).toBe(true);
    expect(Object.isFrozen(def.nodes)).toBe(true);
    expect(Object.isFrozen(def.nodes.a)).toBe(true);
    expect(Object.isFrozen(def.nodes.a.retry)).toBe(true);
    expect(Object.isFrozen(def.edges)).toBe(true);
  });

  it('allows repeating the same entry', () => {
    expect(flow('f', '1').entry('a').entry('a').node('a', ok).build().entry).toBe('a');
  });
});

describe('flow() builder validation', () => {
  const any = (v: unknown) => v as never;

  it.each([
    ['flowId', () => flow('', '1').entry('a').node('a', ok), 'flowId must be a non-empty string (got "")'],
    ['version', () => flow('f', any(2)).entry('a').node('a', ok), 'version must be a non-empty string (got 2)'],
    ['missing entry', () => flow('f', '1').node('a', ok), 'entry must name the first node (got undefined)'],
    ['unknown entry', () => flow('f', '1').entry('x').node('a', ok), 'entry "x" is not a node of this flow'],
    ['two entries', () => flow('f', '1').entry('a').entry('b').node('a', ok).node('b', ok), 'more than one entry: entry() was called with "a", "b"'],
    ['duplicate node', () => flow('f', '1').entry('a').node('a', ok).node('a', ok), 'duplicate node id "a": node() was called twice with it'],
    ['handler', () => flow('f', '1').entry('a').node('a', any('nope')), 'node "a": handler must be a function (got "nope")'],
    ['edge from', () => flow('f', '1').entry('a').node('a', ok).edge('x', 'a'), 'edge #0 ("x" -> "a"): from "x" is not a node of this flow'],
    ['edge to', () => flow('f', '1').entry('a').node('a', ok).edge('a', 'y'), 'edge #0 ("a" -> "y"): to "y" is not a node of this flow'],
    [
      'edge when',
      () => flow('f', '1').entry('a').node('a', ok).edge('a', 'a', any(true)),
      'edge #0 ("a" -> "a"): when must be a function (ctx) => boolean (got true)',
    ],
    [
      'edge priority',
      () => flow('f', '1').entry('a').node('a', ok).edge('a', 'a', undefined, Infinity),
      'edge #0 ("a" -> "a"): priority must be a finite number (got Infinity)',
    ],
    [
      'priority NaN',
      () => flow('f', '1').entry('a').node('a', ok).edge('a', 'a', undefined, any('1')),
      'edge #0 ("a" -> "a"): priority must be a finite number (got "1")',
    ],
    ['timeoutMs 0', () => flow('f', '1').entry('a').node('a', ok, { timeoutMs: 0 }), 'node "a": timeoutMs must be a finite number > 0 (got 0)'],
    ['timeoutMs NaN', () => flow('f', '1').entry('a').node('a', ok, { timeoutMs: NaN }), 'node "a": timeoutMs must be a finite number > 0 (got NaN)'],
    [
      'idempotencyKey',
      () =>
        flow('f', '1')
          .entry('a')
          .node('a', ok, { idempotencyKey: any('k') }),
      'node "a": idempotencyKey must be a function (ctx) => string (got "k")',
    ],
    [
      'name',
      () =>
        flow('f', '1')
          .entry('a')
          .node('a', ok, { name: any(3) }),
      'node "a": name must be a non-empty string (got 3)',
    ],
    [
      'retry object',
      () =>
        flow('f', '1')
          .entry('a')
          .node('a', ok, { retry: any(3) }),
      'node "a": retry must be an object (got 3)',
    ],
  ])('reports %s', (_label, make, problem) => {
    expect(problemsOf(() => make().build())).toEqual([problem]);
  });

  it('reports a flow without nodes (and so an entry that names nothing)', () => {
    expect(problemsOf(() => flow('f', '1').entry('a').build())).toEqual(['the flow has no nodes', 'entry "a" is not a node of this flow']);
  });

  it.each([
    [{ maxAttempts: 0, backoff: 'fixed', baseDelayMs: 0 }, 'retry.maxAttempts must be an integer >= 1 (got 0)'],
    [{ maxAttempts: 1.5, backoff: 'fixed', baseDelayMs: 0 }, 'retry.maxAttempts must be an integer >= 1 (got 1.5)'],
    [{ maxAttempts: 2, backoff: 'linear', baseDelayMs: 0 }, `retry.backoff must be 'fixed' or 'exponential' (got "linear")`],
    [{ maxAttempts: 2, backoff: 'fixed', baseDelayMs: -1 }, 'retry.baseDelayMs must be a number from 0 to 31536000000 (one year) (got -1)'],
    [{ maxAttempts: 2, backoff: 'fixed' }, 'retry.baseDelayMs must be a number from 0 to 31536000000 (one year) (got undefined)'],
    [{ maxAttempts: 2, backoff: 'fixed', baseDelayMs: 10, maxDelayMs: 5 }, 'retry.maxDelayMs (5) must be >= retry.baseDelayMs (10)'],
    [
      { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 10, maxDelayMs: Infinity },
      'retry.maxDelayMs must be a number from 0 to 31536000000 (one year) (got Infinity)',
    ],
    [
      { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 1e20 },
      'retry.baseDelayMs must be a number from 0 to 31536000000 (one year) (got 100000000000000000000)',
    ],
    [{ maxAttempts: 2, backoff: 'fixed', baseDelayMs: 10, jitter: 'yes' }, 'retry.jitter must be a boolean (got "yes")'],
  ])('reports retry %j', (retry, problem) => {
    expect(
      problemsOf(() =>
        flow('f', '1')
          .entry('a')
          .node('a', ok, { retry: any(retry) })
          .build(),
      ),
    ).toEqual([`node "a": ${problem}`]);
  });

  it('reports every problem at once, in one FlowDefinitionError', () => {
    const build = () =>
      flow('', '')
        .entry('a')
        .entry('b')
        .node('a', ok, { timeoutMs: -1, retry: { maxAttempts: 0, backoff: any('x'), baseDelayMs: 0 } })
        .node('a', ok)
        .node('b', any(null))
        .edge('a', 'zz', any(1), NaN)
        .build();
    let err: unknown;
    try {
      build();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FlowDefinitionError);
    const e = err as FlowDefinitionError;
    expect(e.code).toBe('INVALID_DEFINITION');
    expect(e.problems).toEqual([
      'duplicate node id "a": node() was called twice with it',
      'more than one entry: entry() was called with "a", "b"',
      'flowId must be a non-empty string (got "")',
      'version must be a non-empty string (got "")',
      'node "a": timeoutMs must be a finite number > 0 (got -1)',
      'node "a": retry.maxAttempts must be an integer >= 1 (got 0)',
      `node "a": retry.backoff must be 'fixed' or 'exponential' (got "x")`,
      'node "b": handler must be a function (got null)',
      'edge #0 ("a" -> "zz"): to "zz" is not a node of this flow',
      'edge #0 ("a" -> "zz"): when must be a function (ctx) => boolean (got 1)',
      'edge #0 ("a" -> "zz"): priority must be a finite number (got NaN)',
    ]);
    for (const p of e.problems) expect(e.message).toContain(p);
  });
});
