/**
 * The decorators called by hand, in each calling convention, for the cases a fixture can't
 * easily show (misuse, symbol names, a wrapping decorator), plus a type-check of the fixture
 * under both tsconfig decorator settings: user code must compile either way.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { Edge, Entry, Flow, Node, buildFlowDefinition } from '../../src/definitions/index.js';
import type { NodeResult } from '../../src/definitions/index.js';
import { makeCtx, problemsOf } from './helpers.js';

const ok = (): NodeResult => ({ status: 'ok' });
const desc = (value: unknown): PropertyDescriptor => ({ value, writable: true, enumerable: false, configurable: true });
/** A standard method-decorator context, as TypeScript/esbuild build it. */
const methodCtx = (name: string | symbol, extra: Record<string, unknown> = {}) =>
  ({ kind: 'method', name, static: false, private: false, access: {}, addInitializer() {}, ...extra }) as never;

describe('decorators called by hand', () => {
  it('standard form without metadata: keyed by the method function', () => {
    class A {
      start() {
        return ok();
      }
      end() {
        return ok();
      }
    }
    Node('s')(A.prototype.start, methodCtx('start'));
    Edge('e')(A.prototype.start, methodCtx('start'));
    Entry()(A.prototype.start, methodCtx('start'));
    Node('e')(A.prototype.end, methodCtx('end'));
    Flow('a', '1')(A, { kind: 'class', name: 'A', addInitializer() {} } as never);
    const def = buildFlowDefinition(A);
    expect(def).toMatchObject({ flowId: 'a', version: '1', entry: 's', edges: [{ from: 's', to: 'e' }] });
  });

  it('standard form with metadata: keyed by the class metadata object', () => {
    const metadata = {};
    class A {
      start() {
        return ok();
      }
    }
    Object.defineProperty(A, Symbol.for('Symbol.metadata'), { value: metadata });
    Entry()(A.prototype.start, methodCtx('start', { metadata }));
    Node()(A.prototype.start, methodCtx('start', { metadata }));
    Flow('a', '1')(A);
    expect(Object.keys(buildFlowDefinition(A).nodes)).toEqual(['start']);
  });

  it('legacy form: keyed by prototype and name, so a wrapper applied later keeps the node', () => {
    class A {
      start() {
        return { status: 'ok', output: 'inner' } as NodeResult;
      }
    }
    Node('s')(A.prototype, 'start', desc(A.prototype.start));
    Entry()(A.prototype, 'start', desc(A.prototype.start));
    const inner = A.prototype.start;
    A.prototype.start = function wrapped(this: A) {
      return { ...(inner.call(this) as object), output: 'wrapped' } as NodeResult;
    };
    Flow('a', '1')(A);
    const def = buildFlowDefinition(A);
    expect(def.nodes.s.handler(makeCtx())).toEqual({ status: 'ok', output: 'wrapped' });
  });

  it('rejects static, private, field and accessor targets at decoration time', () => {
    class A {
      static s() {}
    }
    expect(() => Node()(A, 's', desc(A.s))).toThrow(/instance methods, not static/);
    expect(() => Node()(() => {}, methodCtx('s', { static: true }))).toThrow(/not static/);
    expect(() => Edge('x')(() => {}, methodCtx('#p', { private: true }))).toThrow(/private/);
    expect(() => Entry()(undefined as never, { kind: 'field', name: 'f' } as never)).toThrow(/only decorate methods \(got a field\)/);
    expect(() => Node()(A.prototype, 'g', { get: () => 1 })).toThrow(/only decorate methods/);
    expect(() => Flow('a', '1')({} as never)).toThrow(/only decorate a class/);
  });

  it('symbol-named methods need an explicit id', () => {
    const sym = Symbol('step');
    class A {
      [sym]() {
        return ok();
      }
    }
    Node()(A.prototype, sym, desc(A.prototype[sym]));
    Entry()(A.prototype, sym, desc(A.prototype[sym]));
    Flow('a', '1')(A);
    expect(problemsOf(() => buildFlowDefinition(A))).toEqual(['method Symbol(step) has a symbol name: give its @Node an explicit id', 'the flow has no nodes']);
  });

  it('reports a class without @Flow, two @Flow, two @Node/@Entry on one method, a foreign instance', () => {
    class Plain {
      a() {
        return ok();
      }
    }
    Node('a')(Plain.prototype, 'a', desc(Plain.prototype.a));
    Node('b')(Plain.prototype, 'a', desc(Plain.prototype.a));
    Entry()(Plain.prototype, 'a', desc(Plain.prototype.a));
    Entry()(Plain.prototype, 'a', desc(Plain.prototype.a));
    expect(problemsOf(() => buildFlowDefinition(Plain, {} as Plain))).toEqual([
      'class Plain has no @Flow(flowId, version) decorator',
      'the instance given is not an instance of Plain',
      'method "a" has more than one @Node decorator',
      'method "a" has more than one @Entry decorator',
      'node "a": handler must be a function (got undefined)',
    ]);
    Flow('p', '1')(Plain);
    Flow('p', '2')(Plain);
    expect(problemsOf(() => buildFlowDefinition(Plain))).toContain('class Plain has more than one @Flow decorator');
  });

  it('reports an empty @Flow class and bad @Flow arguments', () => {
    class Empty {}
    Flow('', 1 as never)(Empty);
    expect(problemsOf(() => buildFlowDefinition(Empty))).toEqual([
      'no @Entry: mark the first node with @Entry()',
      'flowId must be a non-empty string (got "")',
      'version must be a non-empty string (got 1)',
      'the flow has no nodes',
    ]);
  });

  it('freezes the definition it returns', () => {
    class A {
      a() {
        return ok();
      }
    }
    Node('a', { retry: { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 1 } })(A.prototype, 'a', desc(A.prototype.a));
    Entry()(A.prototype, 'a', desc(A.prototype.a));
    Flow('a', '1')(A);
    const def = buildFlowDefinition(A);
    expect(Object.isFrozen(def) && Object.isFrozen(def.nodes.a) && Object.isFrozen(def.nodes.a.retry)).toBe(true);
    expect(Object.isFrozen(def.edges)).toBe(true);
  });
});

describe('types: user code compiles under both decorator settings', () => {
  const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/decorated-flow.ts');
  it.each([true, false])('experimentalDecorators: %s', (experimentalDecorators) => {
    const program = ts.createProgram([fixture], {
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2023.d.ts'],
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      noImplicitOverride: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      experimentalDecorators,
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diagnostics).toEqual([]);
  });
});
