import { describe, expect, it } from 'vitest';
import { describeGraph, fingerprintDefinition, flow, type FlowContext, type FlowDefinition, type NodeOptions } from '../../src/definitions/index.js';

const ok = async () => ({ status: 'ok' as const });
const big = (ctx: FlowContext) => (ctx.input as number) > 10;
const retry = { maxAttempts: 3, backoff: 'exponential' as const, baseDelayMs: 5 };

function sample(opts: { startOpts?: NodeOptions; when?: (ctx: FlowContext) => boolean; priority?: number } = {}): FlowDefinition {
  return flow('f', '1')
    .entry('start')
    .node('start', ok, opts.startOpts ?? { retry, timeoutMs: 100 })
    .node('big', ok, { name: 'Big', idempotencyKey: (ctx) => ctx.runId })
    .node('small', ok)
    .edge('start', 'big', opts.when ?? big, opts.priority ?? 1)
    .edge('start', 'small')
    .edge('big', 'small')
    .build();
}

describe('describeGraph', () => {
  it('is a JSON-safe, sorted description', () => {
    const g = describeGraph(sample());
    expect(JSON.parse(JSON.stringify(g))).toEqual(g);
    expect(g).toEqual({
      flowId: 'f',
      version: '1',
      entry: 'start',
      nodes: [
        { id: 'big', name: 'Big', retry: null, timeoutMs: null, hasIdempotencyKey: true },
        { id: 'small', name: 'small', retry: null, timeoutMs: null, hasIdempotencyKey: false },
        {
          id: 'start',
          name: 'start',
          retry: { maxAttempts: 3, backoff: 'exponential', baseDelayMs: 5, maxDelayMs: null, jitter: false },
          timeoutMs: 100,
          hasIdempotencyKey: false,
        },
      ],
      edges: [
        { from: 'big', to: 'small', priority: 0, conditional: false },
        { from: 'start', to: 'big', priority: 1, conditional: true, when: '(ctx) => ctx.input > 10' },
        { from: 'start', to: 'small', priority: 0, conditional: false },
      ],
    });
  });
});

describe('fingerprintDefinition', () => {
  it('is a sha256 hex, stable across calls', () => {
    const fp = fingerprintDefinition(sample());
    expect(fp).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprintDefinition(sample())).toBe(fp);
  });

  it('ignores node order, edge order, spelled-out defaults and handler code', () => {
    const reordered = flow('f', '1')
      .node('small', async () => ({ status: 'ok', output: 'different code' }))
      .edge('big', 'small', undefined, 0)
      .node('big', ok, { name: 'Big', idempotencyKey: () => 'other key code' })
      .edge('start', 'small')
      .edge('start', 'big', big, 1)
      .node('start', ok, { timeoutMs: 100, retry: { ...retry, jitter: false } })
      .entry('start')
      .build();
    expect(fingerprintDefinition(reordered)).toBe(fingerprintDefinition(sample()));
  });

  it('describes a catch (codes sorted) and a compensate handler only on the nodes that have them', () => {
    const g = describeGraph(sample({ startOpts: { catch: { to: 'small', codes: ['B', 'A'] }, compensate: ok } }));
    const start = g.nodes.find((n) => n.id === 'start')!;
    expect(start.catch).toEqual({ to: 'small', codes: ['A', 'B'] });
    expect(start.compensate).toBe(true);
    expect(g.nodes.find((n) => n.id === 'small')).not.toHaveProperty('catch');
    expect(g.nodes.find((n) => n.id === 'small')).not.toHaveProperty('compensate');
    expect(describeGraph(sample({ startOpts: { catch: 'small' } })).nodes.find((n) => n.id === 'start')!.catch).toEqual({ to: 'small', codes: null });
  });

  it('ignores the source text of conditions, which differs between compilers of the same code', () => {
    expect(fingerprintDefinition(sample({ when: (ctx) => (ctx.input as number) > 11 }))).toBe(fingerprintDefinition(sample()));
  });

  it.each<[string, () => FlowDefinition]>([
    ['edge priority', () => sample({ priority: 2 })],
    ['retry policy', () => sample({ startOpts: { retry: { ...retry, maxAttempts: 4 }, timeoutMs: 100 } })],
    ['timeout', () => sample({ startOpts: { retry, timeoutMs: 101 } })],
    ['node name', () => sample({ startOpts: { retry, timeoutMs: 100, name: 'Start' } })],
    ['idempotency key added', () => sample({ startOpts: { retry, timeoutMs: 100, idempotencyKey: () => 'k' } })],
    ['edge target', () => ({ ...sample(), edges: sample().edges.map((e) => (e.from === 'big' ? { ...e, to: 'start' } : e)) })],
    ['edge removed', () => ({ ...sample(), edges: sample().edges.slice(1) })],
    ['entry', () => ({ ...sample(), entry: 'small' })],
    ['catch added', () => sample({ startOpts: { retry, timeoutMs: 100, catch: 'small' } })],
    ['catch codes', () => sample({ startOpts: { retry, timeoutMs: 100, catch: { to: 'small', codes: ['X'] } } })],
    ['compensate added', () => sample({ startOpts: { retry, timeoutMs: 100, compensate: ok } })],
    ['version', () => ({ ...sample(), version: '2' })],
    ['condition made unconditional', () => ({ ...sample(), edges: sample().edges.map(({ when: _w, ...e }) => e) })],
  ])('changes with the %s', (_label, changed) => {
    expect(fingerprintDefinition(changed())).not.toBe(fingerprintDefinition(sample()));
  });
});
