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
      'flow(): unknown flow option "retension" (the flow options are retention, onFailure, schedules)',
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
    expect(problemsOf(() => buildFlowDefinition(Typo))).toEqual(['@Flow: unknown flow option "keep" (the flow options are retention, onFailure, schedules)']);
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
