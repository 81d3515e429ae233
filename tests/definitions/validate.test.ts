import { describe, expect, it } from 'vitest';
import { FlowDefinitionError } from '../../src/errors.js';
import { definitionProblems, validateDefinition, type FlowDefinition } from '../../src/definitions/index.js';

const ok = () => ({ status: 'ok' as const });

describe('validateDefinition on hand-written definitions', () => {
  it('accepts a valid definition', () => {
    const def: FlowDefinition = {
      flowId: 'f',
      version: '1',
      entry: 'a',
      nodes: {
        a: { id: 'a', handler: ok },
        b: { id: 'b', handler: ok, retry: { maxAttempts: 1, backoff: 'fixed', baseDelayMs: 0, maxDelayMs: 0, jitter: false } },
      },
      edges: [{ from: 'a', to: 'b', when: () => true, priority: 0 }],
    };
    expect(() => validateDefinition(def)).not.toThrow();
    expect(definitionProblems(def)).toEqual([]);
  });

  it('rejects non-objects', () => {
    expect(definitionProblems(null)).toEqual(['a flow definition must be an object (got null)']);
    expect(() => validateDefinition('x')).toThrow(FlowDefinitionError);
  });

  it('reports wrong shapes: nodes, node objects, id/key mismatch, edges, an array entry', () => {
    expect(definitionProblems({ flowId: 'f', version: '1', entry: ['a', 'b'], nodes: [], edges: {} })).toEqual([
      'nodes must be an object keyed by node id (got an array)',
      'a flow has exactly one entry node (got more than one: "a", "b")',
      'edges must be an array (got an object)',
    ]);
    expect(
      definitionProblems({
        flowId: 'f',
        version: '1',
        entry: 'a',
        nodes: { a: { id: 'b', handler: ok }, c: 5 },
        edges: [null, { from: 1, to: 'a' }],
      }),
    ).toEqual([
      'node "a": id must equal its key "a" (got "b")',
      'node "c": must be an object (got 5)',
      'edge #0: must be an object (got null)',
      'edge #1 (1 -> "a"): from must be a node id (got 1)',
    ]);
  });

  it('refuses a flowId containing "@", which would make flowId@version ambiguous', () => {
    const def = { flowId: 'orders@eu', version: '1', entry: 'a', nodes: { a: { id: 'a', handler: ok } }, edges: [] };
    expect(definitionProblems(def)).toEqual(['flowId must not contain "@", which separates it from the version in flowId@version (got "orders@eu")']);
    expect(() => validateDefinition(def)).toThrow(FlowDefinitionError);
    expect(definitionProblems({ ...def, flowId: 'orders', version: '1.0@beta' })).toEqual([]);
  });

  it('names the flow in the error', () => {
    expect(() => validateDefinition({ flowId: 'f', version: '2', entry: 'x', nodes: {}, edges: [] })).toThrow(
      /Invalid flow definition f@2:\n {2}- the flow has no nodes\n {2}- entry "x" is not a node of this flow/,
    );
  });
});
