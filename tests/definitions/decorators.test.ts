import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transformSync } from 'esbuild';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { FlowDefinitionError } from '../../src/errors.js';
import { buildFlowDefinition, describeGraph, type FlowDefinition, type GraphDescription } from '../../src/definitions/index.js';
import * as native from './fixtures/decorated-flow.js';
import { makeCtx } from './helpers.js';

type Fixture = typeof native;

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const fixturePath = path.join(here, 'fixtures/decorated-flow.ts');
const fixtureSource = readFileSync(fixturePath, 'utf8');
const outDir = path.join(root, 'test-output', `definitions-${process.pid}`);
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

const tsCompile = (experimentalDecorators: boolean) => (src: string) =>
  ts.transpileModule(src, {
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      experimentalDecorators,
    },
  }).outputText;
const esbuildCompile = (experimentalDecorators: boolean) => (src: string) =>
  transformSync(src, {
    loader: 'ts',
    format: 'esm',
    target: 'es2022',
    tsconfigRaw: experimentalDecorators ? { compilerOptions: { experimentalDecorators: true } } : {},
  }).code;

interface Form {
  name: string;
  standard: boolean;
  compile: (src: string) => string;
  /** A helper only this form's output contains: proof of which decorator semantics ran. */
  marker: string;
  /** Install a Symbol.metadata polyfill while the module is evaluated (TypeScript then passes context.metadata). */
  polyfillMetadata?: boolean;
}

const forms: Form[] = [
  { name: 'TypeScript standard (no Symbol.metadata)', standard: true, compile: tsCompile(false), marker: '__esDecorate(' },
  { name: 'TypeScript standard + Symbol.metadata polyfill', standard: true, compile: tsCompile(false), marker: '__esDecorate(', polyfillMetadata: true },
  { name: 'TypeScript experimentalDecorators', standard: false, compile: tsCompile(true), marker: '__decorate(' },
  { name: 'esbuild standard', standard: true, compile: esbuildCompile(false), marker: '__decorateElement(' },
  { name: 'esbuild experimentalDecorators', standard: false, compile: esbuildCompile(true), marker: '__decorateClass(' },
];

let counter = 0;
/** Compiles the fixture, points its decorators import at the one source module the test uses, and imports it. */
async function load(form: Form): Promise<{ mod: Fixture; code: string }> {
  const srcModule = path.join(root, 'src/definitions/index.ts');
  const code = form.compile(fixtureSource).replace(/(["'])\.\.\/\.\.\/\.\.\/src\/definitions\/index\.js\1/g, JSON.stringify(srcModule));
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `fixture-${++counter}.mjs`);
  writeFileSync(file, code);
  const sym = Symbol as { metadata?: symbol };
  if (form.polyfillMetadata) sym.metadata = Symbol('Symbol.metadata');
  try {
    return { mod: (await import(pathToFileURL(file).href)) as Fixture, code };
  } finally {
    if (form.polyfillMetadata) delete sym.metadata;
  }
}

function expectOrderFlow(def: FlowDefinition, mod: Fixture): void {
  expect(def.flowId).toBe('order');
  expect(def.version).toBe('1.0.0');
  expect(def.entry).toBe('start');
  expect(Object.keys(def.nodes).sort()).toEqual(['big', 'done', 'small', 'start']);
  expect(def.nodes.start).toMatchObject({
    id: 'start',
    name: 'Start here',
    timeoutMs: 500,
    retry: { maxAttempts: 3, backoff: 'exponential', baseDelayMs: 10 },
  });
  expect(def.nodes.big.id).toBe('big'); // @Node() without id: the method name
  expect(def.nodes.small.idempotencyKey).toBe(mod.orderKey);
  expect(def.nodes.done.name).toBeUndefined();
  // Edges of one method keep their written order; `when` is the very function given.
  expect(def.edges).toEqual([
    { from: 'start', to: 'big', when: mod.isBig, priority: 10 },
    { from: 'start', to: 'small', priority: 0 },
    { from: 'big', to: 'done', priority: 0 },
    { from: 'small', to: 'done', priority: 0 },
  ]);
  expect(mod.isBig(makeCtx({ amount: 101 }))).toBe(true);
}

function expectParallelFlow(def: FlowDefinition, mod: Fixture): void {
  expect(def.entry).toBe('fanOut'); // @Node({ name }) without an id: the method name
  expect(def.nodes.fanOut).toEqual({ id: 'fanOut', name: 'Fan out', split: 'all', handler: expect.any(Function) });
  expect(def.nodes.left).toEqual({ id: 'left', forEach: mod.itemsOf, concurrency: 4, idempotencyKey: mod.itemKey, handler: expect.any(Function) });
  expect(def.nodes.right).toEqual({ id: 'right', handler: expect.any(Function) });
  expect(def.nodes.gather).toEqual({ id: 'gather', join: 'all', split: 'first', handler: expect.any(Function) });
  expect(def.edges).toEqual([
    { from: 'fanOut', to: 'left', priority: 0 },
    { from: 'fanOut', to: 'right', priority: 0 },
    { from: 'left', to: 'gather', priority: 0 },
    { from: 'right', to: 'gather', priority: 0 },
  ]);
  expect(def.nodes.left.handler(makeCtx({}, { item: 'x', itemIndex: 2 }))).toEqual({ status: 'ok', output: '2:x' });
  expect(describeGraph(def).nodes.map(({ id, split, join, forEach, concurrency }) => ({ id, split, join, forEach, concurrency }))).toEqual([
    { id: 'fanOut', split: 'all' },
    { id: 'gather', join: 'all' },
    { id: 'left', forEach: true, concurrency: 4 },
    { id: 'right' },
  ]);
}

describe.each(forms)('decorators compiled by $name', (form) => {
  let loaded: { mod: Fixture; code: string };
  const get = async () => (loaded ??= await load(form));

  it('really compiled to the intended decorator form', async () => {
    const { code, mod } = await get();
    expect(code).toContain(form.marker);
    expect(code).not.toMatch(/^\s*@(Flow|Node|Edge|Entry)\(/m); // no decorator syntax left
    for (const other of forms.filter((f) => f.marker !== form.marker)) expect(code).not.toContain(other.marker);
    // Standard decorators with context.metadata leave the metadata object on the class.
    const hasMetadata = Object.getOwnPropertySymbols(mod.OrderFlow).some((s) => String(s) === 'Symbol(Symbol.metadata)');
    expect(hasMetadata).toBe(form.standard && (form.polyfillMetadata === true || form.marker === '__decorateElement('));
  });

  it('builds the definition: entry, nodes, options, edges with when/priority', async () => {
    const { mod } = await get();
    expectOrderFlow(buildFlowDefinition(mod.OrderFlow), mod);
  });

  it('binds handlers to a new instance, or to the instance given', async () => {
    const { mod } = await get();
    const def = buildFlowDefinition(mod.OrderFlow);
    expect(await def.nodes.start.handler(makeCtx({ amount: 5 }))).toEqual({ status: 'ok', output: 15 });
    expect(await def.nodes.big.handler(makeCtx())).toEqual({ status: 'ok', output: 'big:3' });
    const inst = new mod.OrderFlow();
    inst.factor = 7;
    const custom = buildFlowDefinition(mod.OrderFlow, inst);
    expect(await custom.nodes.start.handler(makeCtx({ amount: 5 }))).toEqual({ status: 'ok', output: 35 });
    const greeter = buildFlowDefinition(mod.GreeterFlow, new mod.GreeterFlow('Hi'));
    expect(greeter.entry).toBe('hello');
    expect(await greeter.nodes.hello.handler(makeCtx('Bob'))).toEqual({ status: 'ok', output: 'Hi, Bob' });
  });

  it('subclass: sees inherited and own nodes, without polluting the parent', async () => {
    const { mod } = await get();
    const child = buildFlowDefinition(mod.ChildFlow);
    expect(child.flowId).toBe('order-child');
    expect(child.version).toBe('2.0.0');
    expect(Object.keys(child.nodes).sort()).toEqual(['audit', 'big', 'done', 'small', 'start']);
    expect(child.edges).toContainEqual({ from: 'audit', to: 'done', priority: 0 });
    expect(await child.nodes.done.handler(makeCtx())).toEqual({ status: 'ok', output: 'child-finish' });
    const parent = buildFlowDefinition(mod.OrderFlow);
    expect(Object.keys(parent.nodes)).not.toContain('audit');
    expect(await parent.nodes.done.handler(makeCtx())).toEqual({ status: 'ok', output: 'parent-finish' });
  });

  it('carries the flow option schedules', async () => {
    const { mod } = await get();
    const def = buildFlowDefinition(mod.NightlyReportFlow);
    expect(def.schedules).toEqual([{ scheduleId: 'nightly-report', cron: '0 2 * * *', timezone: 'Europe/Berlin', input: { kind: 'daily' } }]);
    expect(Object.isFrozen(def.schedules)).toBe(true);
  });

  it('carries the parallel options and takes @Node(options) without an id', async () => {
    const { mod } = await get();
    expectParallelFlow(buildFlowDefinition(mod.ParallelFlow), mod);
  });

  it('carries a catch in @Node options and a @Compensate method, bound to the instance', async () => {
    const { mod } = await get();
    const instance = new mod.SagaFlow();
    const def = buildFlowDefinition(mod.SagaFlow, instance);
    const charge = describeGraph(def).nodes.find((n) => n.id === 'charge')!;
    expect(charge).toMatchObject({ catch: { to: 'declined', codes: ['CARD_DECLINED'] }, compensate: true });
    expect(await def.nodes.charge!.compensate!(makeCtx({}, { outputs: { charge: 'ch-1' } }))).toEqual({ status: 'ok' });
    expect(instance.refunds).toEqual(['ch-1']);
  });

  it('reports every decorator mistake at once', async () => {
    const { mod } = await get();
    let err: unknown;
    try {
      buildFlowDefinition(mod.BrokenFlow);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FlowDefinitionError);
    const problems = (err as FlowDefinitionError).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('duplicate node id "a": methods "a" and "b"'),
        expect.stringContaining('more than one @Entry'),
        expect.stringContaining('method "orphan" has @Entry/@Edge but no @Node'),
        expect.stringContaining('to "nowhere" is not a node'),
      ]),
    );
    expect((err as FlowDefinitionError).message).toContain('broken@1.0.0');
  });
});

describe('decorators under the forms agree', () => {
  it('gives the same graph (ignoring condition source text) for every compiled form', async () => {
    const graphs: GraphDescription[] = [];
    for (const form of forms) graphs.push(describeGraph(buildFlowDefinition((await load(form)).mod.OrderFlow)));
    graphs.push(describeGraph(buildFlowDefinition(native.OrderFlow)));
    const strip = (g: GraphDescription) => ({ ...g, edges: g.edges.map(({ when: _w, ...e }) => e) });
    for (const g of graphs) expect(strip(g)).toEqual(strip(graphs[0]));
  });

  it("works under vitest's own transform too", () => {
    expectOrderFlow(buildFlowDefinition(native.OrderFlow), native);
    expectParallelFlow(buildFlowDefinition(native.ParallelFlow), native);
  });
});
