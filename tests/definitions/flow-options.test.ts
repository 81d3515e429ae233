/**
 * Flow options (`flow(id, version, options)`, `@Flow(id, version, options)`): `retention` and
 * `onFailure` are validated like every other option, copied and frozen with the definition, and
 * kept out of the graph description and the fingerprint (changing them needs no new version).
 */
import { describe, expect, it } from 'vitest';
import { FlowDefinitionError } from '../../src/errors.js';
import { Entry, Flow, Node, buildFlowDefinition, describeGraph, fingerprintDefinition, flow, validateDefinition } from '../../src/definitions/index.js';
import type { FlowDefinition, NodeResult } from '../../src/definitions/index.js';
import { problemsOf } from './helpers.js';

const ok = (): NodeResult => ({ status: 'ok' });
const desc = (value: unknown): PropertyDescriptor => ({ value, writable: true, enumerable: false, configurable: true });

const built = (options?: unknown) =>
  flow('kept', '1', options as never)
    .entry('a')
    .node('a', ok)
    .build();

describe('flow options: retention', () => {
  it('is carried by the builder, copied and frozen, and left out of the graph and its fingerprint', () => {
    const retention = { finishedRunsMs: 7 * 24 * 60 * 60 * 1000 };
    const def = built({ retention });
    expect(def.retention).toEqual(retention);
    retention.finishedRunsMs = 1;
    expect(def.retention?.finishedRunsMs).toBe(7 * 24 * 60 * 60 * 1000);
    expect(Object.isFrozen(def.retention)).toBe(true);
    expect(describeGraph(def)).toEqual(describeGraph(built()));
    expect(fingerprintDefinition(def)).toBe(fingerprintDefinition(built({ retention: { finishedRunsMs: 60_000 } })));
    expect(built().retention).toBeUndefined();
    expect('retention' in built()).toBe(false);
  });

  it('reports a bad retention or an unknown flow option with the other problems', () => {
    expect(problemsOf(() => built({ retention: { finishedRunsMs: 0 } }))).toEqual([
      expect.stringMatching(/^retention\.finishedRunsMs must be a number of milliseconds > 0/),
    ]);
    expect(problemsOf(() => built({ retention: { finishedRunsMs: Number.POSITIVE_INFINITY } }))).toHaveLength(1);
    expect(problemsOf(() => built({ retention: 7 }))).toEqual(['retention must be an object like { finishedRunsMs } (got 7)']);
    expect(problemsOf(() => built({ retention: { finishedRunsMs: 5, days: 3 } }))).toEqual([
      'retention: unknown option "days" (the only one is finishedRunsMs)',
    ]);
    expect(problemsOf(() => built({ retension: { finishedRunsMs: 5 } }))).toEqual([
      'flow(): unknown flow option "retension" (the flow options are retention, onFailure, schedules, concurrency, rateLimit, debounce)',
    ]);
    expect(problemsOf(() => built('weekly'))).toEqual(['flow(): options must be an object like { retention, onFailure } (got "weekly")']);
    const bad = { flowId: 'x', version: '1', entry: 'a', nodes: { a: { id: 'a', handler: ok } }, edges: [], retention: { finishedRunsMs: -5 } };
    expect(() => validateDefinition(bad)).toThrow(FlowDefinitionError);
  });

  it('is carried by @Flow (called by hand, legacy form), and checked there too', () => {
    class Kept {
      a() {
        return ok();
      }
    }
    Node('a')(Kept.prototype, 'a', desc(Kept.prototype.a));
    Entry()(Kept.prototype, 'a', desc(Kept.prototype.a));
    Flow('kept-class', '1', { retention: { finishedRunsMs: 1000 } })(Kept);
    const def: FlowDefinition = buildFlowDefinition(Kept);
    expect(def.retention).toEqual({ finishedRunsMs: 1000 });
    expect(Object.isFrozen(def.retention)).toBe(true);

    class Typo {
      a() {
        return ok();
      }
    }
    Node('a')(Typo.prototype, 'a', desc(Typo.prototype.a));
    Entry()(Typo.prototype, 'a', desc(Typo.prototype.a));
    Flow('typo-class', '1', { keep: 5 } as never)(Typo);
    expect(problemsOf(() => buildFlowDefinition(Typo))).toEqual([
      '@Flow: unknown flow option "keep" (the flow options are retention, onFailure, schedules, concurrency, rateLimit, debounce)',
    ]);
  });
});

describe('flow options: onFailure', () => {
  it('is carried by the builder and @Flow, copied and frozen, and left out of the graph and its fingerprint', () => {
    const onFailure = { flowId: 'refund', version: '3' };
    const def = built({ onFailure });
    expect(def.onFailure).toEqual({ flowId: 'refund', version: '3' });
    onFailure.flowId = 'changed';
    expect(def.onFailure?.flowId).toBe('refund');
    expect(Object.isFrozen(def.onFailure)).toBe(true);
    expect(describeGraph(def)).toEqual(describeGraph(built()));
    expect(fingerprintDefinition(def)).toBe(fingerprintDefinition(built()));
    expect('onFailure' in built({ retention: { finishedRunsMs: 5 } })).toBe(false);

    class Handled {
      a() {
        return ok();
      }
    }
    Node('a')(Handled.prototype, 'a', desc(Handled.prototype.a));
    Entry()(Handled.prototype, 'a', desc(Handled.prototype.a));
    Flow('handled-class', '1', { onFailure: { flowId: 'alert', version: '1' } })(Handled);
    const decorated = buildFlowDefinition(Handled);
    expect(decorated.onFailure).toEqual({ flowId: 'alert', version: '1' });
    expect(Object.isFrozen(decorated.onFailure)).toBe(true);
  });

  it('reports a bad onFailure with the other problems, and a flow naming itself', () => {
    expect(problemsOf(() => built({ onFailure: 'refund' }))).toEqual(['onFailure must be an object like { flowId, version } (got "refund")']);
    expect(problemsOf(() => built({ onFailure: { flowId: '', version: 2 } }))).toEqual([
      'onFailure.flowId must be a non-empty string (got "")',
      'onFailure.version must be a non-empty string (got 2)',
    ]);
    expect(problemsOf(() => built({ onFailure: { flowId: 'a@1', version: '1' } }))).toEqual(['onFailure.flowId must not contain "@" (got "a@1")']);
    expect(problemsOf(() => built({ onFailure: { flowId: 'refund', version: '1', retries: 3 } }))).toEqual([
      'onFailure: unknown option "retries" (the options are flowId, version)',
    ]);
    expect(problemsOf(() => built({ onFailure: { flowId: 'kept', version: '1' } }))).toEqual([
      'onFailure names the flow itself (kept@1): a flow cannot be its own failure handler',
    ]);
    // Another version of the same flow is another flow.
    expect(built({ onFailure: { flowId: 'kept', version: '2' } }).onFailure).toEqual({ flowId: 'kept', version: '2' });
    const bad = { flowId: 'x', version: '1', entry: 'a', nodes: { a: { id: 'a', handler: ok } }, edges: [], onFailure: { flowId: 'x', version: '1' } };
    expect(() => validateDefinition(bad)).toThrow(FlowDefinitionError);
  });
});

describe('flow options: flow control', () => {
  const concurrency = [
    { limit: 2, key: (input: { customer: string }) => input.customer },
    { limit: 50, scope: 'active' as const },
  ];
  const rateLimit = { limit: 10, periodMs: 1000 };
  const debounce = { delayMs: 500, key: (input: { order: string }) => input.order, maxWaitMs: 5000 };

  it('is carried by the builder, copied and frozen, and left out of the graph and its fingerprint', () => {
    const def = built({ concurrency, rateLimit, debounce });
    expect(def.concurrency).toEqual(concurrency);
    expect(def.rateLimit).toEqual(rateLimit);
    expect(def.debounce).toEqual(debounce);
    rateLimit.limit = 99;
    expect(def.rateLimit?.limit).toBe(10);
    rateLimit.limit = 10;
    expect(Object.isFrozen(def.concurrency)).toBe(true);
    expect(Object.isFrozen((def.concurrency as unknown[])[0])).toBe(true);
    expect(Object.isFrozen(def.debounce)).toBe(true);
    expect(describeGraph(def)).toEqual(describeGraph(built()));
    expect(fingerprintDefinition(def)).toBe(fingerprintDefinition(built()));
  });

  it('reports every option out of range with the other problems', () => {
    expect(
      problemsOf(() =>
        built({
          concurrency: [{ limit: 0 }, { limit: 1.5, key: 'customer', scope: 'running' }, { limit: 1, extra: true }],
          rateLimit: { limit: 1, periodMs: 0 },
          debounce: { delayMs: -1, maxWaitMs: 5 },
        }),
      ),
    ).toEqual([
      'concurrency[0].limit must be an integer ≥ 1 (got 0)',
      'concurrency[1].limit must be an integer ≥ 1 (got 1.5)',
      'concurrency[1].key must be a function (input) => string (got "customer")',
      "concurrency[1].scope must be 'executing' or 'active' (got \"running\")",
      'concurrency[2]: unknown option "extra" (the options are limit, key, scope)',
      'rateLimit.periodMs must be a number of milliseconds > 0 (got 0)',
      'debounce.delayMs must be a number of milliseconds ≥ 0 (got -1)',
      'debounce.key must be a function (input) => string (got undefined)',
    ]);
    expect(problemsOf(() => built({ concurrency: [] }))).toEqual(['concurrency: an empty array (give at least one { limit })']);
    expect(problemsOf(() => built({ debounce: { delayMs: 500, key: () => 'k', maxWaitMs: 100 } }))).toEqual([
      'debounce.maxWaitMs (100) must be at least delayMs (500)',
    ]);
  });

  it('is carried by @Flow, in the legacy form (called by hand) and the standard one', () => {
    class Legacy {
      a() {
        return ok();
      }
    }
    Node('a')(Legacy.prototype, 'a', desc(Legacy.prototype.a));
    Entry()(Legacy.prototype, 'a', desc(Legacy.prototype.a));
    Flow('limited-legacy', '1', { concurrency: { limit: 3 }, rateLimit })(Legacy);
    const legacy: FlowDefinition = buildFlowDefinition(Legacy);
    expect(legacy.concurrency).toEqual({ limit: 3 });
    expect(legacy.rateLimit).toEqual(rateLimit);

    class Standard {
      a() {
        return ok();
      }
    }
    const method = { kind: 'method', name: 'a', static: false, private: false, addInitializer: () => undefined } as unknown as ClassMethodDecoratorContext;
    (Node('a') as unknown as (v: unknown, c: unknown) => void)(Standard.prototype.a, method);
    (Entry() as unknown as (v: unknown, c: unknown) => void)(Standard.prototype.a, method);
    (Flow('limited-standard', '1', { debounce }) as unknown as (v: unknown, c: unknown) => void)(Standard, { kind: 'class', name: 'Standard' });
    expect(buildFlowDefinition(Standard).debounce).toEqual(debounce);

    class Bad {
      a() {
        return ok();
      }
    }
    Node('a')(Bad.prototype, 'a', desc(Bad.prototype.a));
    Entry()(Bad.prototype, 'a', desc(Bad.prototype.a));
    Flow('limited-bad', '1', { rateLimit: { limit: 0, periodMs: 1000 } })(Bad);
    expect(problemsOf(() => buildFlowDefinition(Bad))).toEqual(['rateLimit.limit must be an integer ≥ 1 (got 0)']);
  });
});
