/**
 * @Flow / @Entry / @Node / @Edge and buildFlowDefinition.
 *
 * Users compile these either as TypeScript `experimentalDecorators` (legacy: a method decorator
 * gets (prototype, key, descriptor), a class decorator gets (ctor)) or as standard TC39
 * decorators (esbuild/tsx default: (value, context)). Each decorator tells the two apart by its
 * arguments at run time.
 *
 * Where the metadata lives, and why:
 * - Legacy: per prototype, by member name (WeakMap keyed by the prototype).
 * - Standard with `context.metadata` (esbuild always; TypeScript only when `Symbol.metadata`
 *   exists, which Node 20 lacks): per metadata object, by member name. The class exposes that
 *   object as `Class[Symbol.metadata]`; a subclass gets its own object, so no pollution.
 * - Standard without `context.metadata` (TypeScript output on Node 20): the method decorator
 *   never sees the class, and method `addInitializer` callbacks only run when an instance is
 *   constructed. The one thing it does see is the method function itself, so the record is keyed
 *   by that function; buildFlowDefinition finds it by walking the prototype chain.
 * We deliberately do not polyfill the global `Symbol.metadata`: a library should not patch builtins.
 * Keying by name (where possible) also survives another decorator that wraps the method later.
 */
import { FlowDefinitionError } from '../errors.js';
import { copyFlowOptions, freezeDefinition } from './builder.js';
import { flowKey } from './flow-key.js';
import type { AnyFlowContext, EdgeDefinition, ResumeSlot, FlowContext, FlowDefinition, FlowOptions, NodeDefinition, NodeOptions } from './types.js';
import { definitionProblems, flowOptionsArgumentProblems, optionsArgumentProblems } from './validate.js';

/** Usable as a legacy (`experimentalDecorators`) or a standard method decorator. */
export interface FlowMethodDecorator {
  (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor): void;
  (value: (this: any, ...args: any[]) => any, context: ClassMethodDecoratorContext): void;
}

/**
 * Usable as a legacy or a standard class decorator. Typed (`@Flow<TInput, TState, TServices>`),
 * it accepts only a class whose handler methods take a context of those types: a method whose
 * `ctx` has another input, state or services type is a compile error naming it.
 */
export interface FlowClassDecorator<TInput = unknown, TState = unknown, TServices = unknown> {
  <C extends abstract new (...args: any[]) => object>(target: C & ContextMismatch<InstanceType<C>, TInput, TState, TServices>): void;
  <C extends abstract new (...args: any[]) => object>(
    target: C & ContextMismatch<InstanceType<C>, TInput, TState, TServices>,
    context: ClassDecoratorContext,
  ): void;
}

/**
 * The flow contexts the methods of `T` take: the first parameter of each method that has one
 * and whose type is a flow context (helpers taking anything else are not handlers).
 */
export type HandlerContextsOf<T> = {
  [K in keyof T]: T[K] extends () => unknown
    ? never
    : T[K] extends (ctx: infer P, ...rest: never[]) => unknown
      ? P extends AnyFlowContext
        ? P
        : never
      : never;
}[keyof T];

/**
 * `unknown` when every handler method of `T` takes a context of the flow's types (the methods'
 * own `TOutputs` are theirs to declare); otherwise an object naming the methods that do not.
 */
type ContextMismatch<T, TInput, TState, TServices> = [MismatchedMethods<T, TInput, TState, TServices>] extends [never]
  ? unknown
  : { 'these methods take a context of other types than @Flow declares': MismatchedMethods<T, TInput, TState, TServices> };

type MismatchedMethods<T, TInput, TState, TServices> = {
  [K in keyof T]: T[K] extends () => unknown
    ? never
    : T[K] extends (ctx: infer P, ...rest: never[]) => unknown
      ? P extends AnyFlowContext
        ? [Fits<TInput, P['input']>, unknown extends TState ? true : Fits<TState & ResumeSlot, P['state']>, Fits<TServices, P['services']>] extends [
            true,
            true,
            true,
          ]
          ? never
          : K
        : never
      : never;
}[keyof T];

/** Whether what the engine gives (`Given`, a type the flow declares) fits what a method takes; an undeclared type (`unknown`) fits anything. */
type Fits<Given, Taken> = unknown extends Given ? true : [Given] extends [Taken] ? true : false;

/** The types the handler methods' contexts give a decorated class's flow: `unknown` where they disagree or say nothing. */
type ContextTypesOf<T> = {
  input: OrUnknown<HandlerContextsOf<T> extends FlowContext<infer I, unknown, unknown, unknown> ? I : never>;
  state: OrUnknown<HandlerContextsOf<T> extends { state: infer S } ? S : never>;
  services: OrUnknown<HandlerContextsOf<T> extends { services?: infer V } ? V : never>;
};
type OrUnknown<T> = [T] extends [never] ? unknown : T;

/**
 * The definition of a @Flow class with instances `T`: its input, state and services types are
 * those of the contexts its handler methods take (`unknown` if they take untyped ones), so that
 * `engine.startRun({ flow, input })` checks the input of a typed class too.
 */
export type ClassFlowDefinition<T> = FlowDefinition<ContextTypesOf<T>['input'], ContextTypesOf<T>['state'], ContextTypesOf<T>['services']>;

/** 0.5.x's name for the options of `@Node`: the same options as everywhere else. */
export type NodeDecoratorOptions = NodeOptions;

interface MethodRecord {
  /** One entry per @Node on the method (more than one is reported); `problems` are those of its arguments. */
  nodes: { id?: string; opts: NodeOptions; problems: string[] }[];
  entries: number;
  edges: Omit<EdgeDefinition, 'from'>[];
  /** Nodes this method undoes (`@Compensate(nodeId)`). */
  compensates: string[];
}

/** A class's @Flow marks: its id, version and options (copied), and the problems of its arguments. */
const flowClasses = new WeakMap<Function, { flowId: string; version: string; options: FlowOptions; problems: string[] }[]>();
/** Legacy: prototype -> member -> record; standard with metadata: metadata object -> member -> record. */
const scoped = new WeakMap<object, Map<PropertyKey, MethodRecord>>();
/** Standard without metadata: method function -> record. */
const byFunction = new WeakMap<Function, MethodRecord>();

/**
 * The class's own standard-decorator metadata objects. esbuild stores it under Symbol.metadata,
 * or Symbol.for('Symbol.metadata') when that is missing; TypeScript under Symbol.metadata, which
 * on Node 20 exists only if a polyfill made one. Matching by description finds all of these, even
 * a polyfill symbol created after this module loaded; only objects we recorded are ever used.
 */
const ownMetadataObjects = (ctor: Function): unknown[] =>
  Object.getOwnPropertySymbols(ctor)
    .filter((s) => s.description === 'Symbol.metadata')
    .map((s) => (ctor as unknown as Record<symbol, unknown>)[s]);

const isStandardContext = (v: unknown): v is DecoratorContext => typeof v === 'object' && v !== null && typeof (v as { kind?: unknown }).kind === 'string';

const newRecord = (): MethodRecord => ({ nodes: [], entries: 0, edges: [], compensates: [] });

function recordIn(scope: object, key: PropertyKey): MethodRecord {
  let members = scoped.get(scope);
  if (!members) scoped.set(scope, (members = new Map()));
  let rec = members.get(key);
  if (!rec) members.set(key, (rec = newRecord()));
  return rec;
}

function misuse(decorator: string, member: string, why: string): never {
  throw new FlowDefinitionError(`@${decorator} on "${member}"`, [`@${decorator}() ${why}`]);
}

/** Finds (or creates) the record for the decorated method, whichever decorator form called us. */
function methodRecord(decorator: string, args: unknown[]): MethodRecord {
  const [first, second, third] = args;
  if (isStandardContext(second)) {
    const ctx = second as ClassMethodDecoratorContext;
    const member = String(ctx.name);
    if (ctx.kind !== 'method') misuse(decorator, member, `can only decorate methods (got a ${ctx.kind})`);
    if (ctx.static) misuse(decorator, member, 'can only decorate instance methods, not static ones');
    if (ctx.private) misuse(decorator, member, 'cannot decorate private (#) methods');
    if (typeof ctx.metadata === 'object' && ctx.metadata !== null) return recordIn(ctx.metadata, ctx.name);
    let rec = byFunction.get(first as Function);
    if (!rec) byFunction.set(first as Function, (rec = newRecord()));
    return rec;
  }
  if ((typeof second === 'string' || typeof second === 'symbol') && typeof first === 'object' && first !== null) {
    const value = (third as PropertyDescriptor | undefined)?.value;
    if (typeof value !== 'function') misuse(decorator, String(second), 'can only decorate methods');
    return recordIn(first, second);
  }
  if (typeof first === 'function' && (typeof second === 'string' || typeof second === 'symbol')) {
    misuse(decorator, String(second), 'can only decorate instance methods, not static ones');
  }
  throw new TypeError(`@${decorator}() was applied to something that is not a class method`);
}

function methodDecorator(name: string, apply: (rec: MethodRecord) => void): FlowMethodDecorator {
  return ((...args: unknown[]): void => apply(methodRecord(name, args))) as FlowMethodDecorator;
}

/**
 * Marks a class as flow `flowId` at `version`; `options`: the flow's own options (`{ retention, onFailure }`).
 * `@Flow<TInput, TState, TServices>(…)` is the typed form: see `FlowClassDecorator`.
 */
export function Flow<TInput = unknown, TState = unknown, TServices = unknown>(
  flowId: string,
  version: string,
  options?: FlowOptions,
): FlowClassDecorator<TInput, TState, TServices>;
export function Flow(flowId: string, version: string, options?: FlowOptions): FlowClassDecorator {
  const problems = flowOptionsArgumentProblems('@Flow', options);
  const usable = typeof options === 'object' && options !== null && !Array.isArray(options) ? copyFlowOptions(options) : {};
  return ((target: unknown, context?: unknown): void => {
    if (typeof target !== 'function' || (context !== undefined && (context as DecoratorContext).kind !== 'class')) {
      throw new TypeError('@Flow() can only decorate a class');
    }
    const marks = flowClasses.get(target) ?? [];
    marks.push({ flowId, version, options: usable, problems });
    flowClasses.set(target, marks);
  }) as FlowClassDecorator;
}

/** Marks the node where runs start (the method must also carry @Node). */
export function Entry(): FlowMethodDecorator {
  return methodDecorator('Entry', (rec) => void rec.entries++);
}

const isOptionsObject = (v: unknown): v is NodeOptions => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Makes the method a node: `@Node()`, `@Node(id)`, `@Node(id, options)` or `@Node(options)`
 * (0.5.x's `Node(nodeIdOrOptions?, options?)`). Without an id the node id is the method name.
 * Callbacks in the options (`idempotencyKey`, `forEach`, `compensate`) may take a typed context
 * (`TContext`, inferred from their parameter).
 */
export function Node<TContext extends AnyFlowContext = FlowContext>(
  nodeIdOrOptions?: string | NodeOptions<TContext>,
  options?: NodeOptions<TContext>,
): FlowMethodDecorator;
export function Node(nodeIdOrOptions?: string | NodeOptions, options?: NodeOptions): FlowMethodDecorator {
  const problems: string[] = [];
  let id: string | undefined;
  let opts: unknown = options;
  if (isOptionsObject(nodeIdOrOptions)) {
    opts = nodeIdOrOptions;
    if (options !== undefined) problems.push('@Node(options, options): give the options once, as @Node(options) or @Node(id, options)');
  } else if (nodeIdOrOptions !== undefined && nodeIdOrOptions !== null) {
    id = nodeIdOrOptions as string;
  }
  problems.push(...optionsArgumentProblems('@Node', opts));
  const usable = isOptionsObject(opts) ? opts : {};
  return methodDecorator('Node', (rec) => void rec.nodes.push({ id, opts: usable, problems }));
}

/**
 * An edge from this method's node to `to`, taken when `when(ctx)` holds; highest `priority`
 * (default 0) wins. `when` may take a typed context (`TContext`, inferred from its parameter).
 */
export function Edge<TContext extends AnyFlowContext = FlowContext>(to: string, when?: (ctx: TContext) => boolean, priority?: number): FlowMethodDecorator;
export function Edge(to: string, when?: (ctx: FlowContext) => boolean, priority?: number): FlowMethodDecorator {
  return methodDecorator('Edge', (rec) => {
    // priority is always filled in, as 0.5.x did (and it fingerprints the same as omitted).
    const edge: Omit<EdgeDefinition, 'from'> = { to, priority: priority ?? 0 };
    if (when !== undefined) edge.when = when;
    // Decorators apply bottom-up; unshift keeps the edges in the order they are written.
    rec.edges.unshift(edge);
  });
}

/**
 * Makes the method the `compensate` handler of node `nodeId` (the decorator form of the node
 * option), run with `this` bound to the instance like the node's own handler.
 */
export function Compensate(nodeId: string): FlowMethodDecorator {
  return methodDecorator('Compensate', (rec) => void rec.compensates.push(nodeId));
}

/** The record for member `key` declared directly on class `ctor` (not inherited), if any. */
function ownRecord(ctor: Function, key: PropertyKey): MethodRecord | undefined {
  const proto = ctor.prototype as object;
  const fromLegacy = scoped.get(proto)?.get(key);
  if (fromLegacy) return fromLegacy;
  for (const meta of ownMetadataObjects(ctor)) {
    const rec = meta && typeof meta === 'object' ? scoped.get(meta)?.get(key) : undefined;
    if (rec) return rec;
  }
  const value = Object.getOwnPropertyDescriptor(proto, key)?.value;
  return typeof value === 'function' ? byFunction.get(value) : undefined;
}

/**
 * Builds the definition of a @Flow class. Handlers run with `this` bound to `instance`
 * (default: `new Class()`; pass your own to inject services). A subclass sees its own and its
 * parents' decorated methods; a re-decorated override replaces the parent's decorations of that
 * method, an undecorated override keeps them (and runs the override). The nearest @Flow wins.
 * The definition is typed by the contexts its methods take (`ClassFlowDefinition`).
 */
export function buildFlowDefinition<T extends object>(Class: new () => T, instance?: T): ClassFlowDefinition<T>;
export function buildFlowDefinition<T extends object>(Class: abstract new (...args: any[]) => T, instance: T): ClassFlowDefinition<T>;
export function buildFlowDefinition(Class: abstract new (...args: any[]) => object, instance?: object): FlowDefinition {
  if (typeof Class !== 'function') throw new TypeError('buildFlowDefinition() expects a class decorated with @Flow');
  const problems: string[] = [];
  const chain: Function[] = [];
  for (let c: unknown = Class; typeof c === 'function' && c !== Function.prototype; c = Object.getPrototypeOf(c)) chain.push(c);

  const flowMarks = chain.map((c) => flowClasses.get(c)).find((m) => m !== undefined);
  const className = Class.name || '<anonymous>';
  if (!flowMarks) problems.push(`class ${className} has no @Flow(flowId, version) decorator`);
  else if (flowMarks.length > 1) problems.push(`class ${Class.name} has more than one @Flow decorator`);
  const { flowId, version, options, problems: flowArgumentProblems } = flowMarks?.[0] ?? { flowId: '', version: '', options: {}, problems: [] };
  problems.push(...flowArgumentProblems);

  const target = instance ?? new (Class as new () => object)();
  if (!(target instanceof Class)) problems.push(`the instance given is not an instance of ${Class.name}`);

  // Nearest class wins per member; members are listed base class first, in declaration order.
  const resolved = new Map<PropertyKey, MethodRecord>();
  for (const c of chain) {
    for (const key of Reflect.ownKeys(c.prototype as object)) {
      if (resolved.has(key)) continue;
      const rec = ownRecord(c, key);
      if (rec) resolved.set(key, rec);
    }
  }
  const order = [...chain].reverse().flatMap((c) => Reflect.ownKeys(c.prototype as object));
  const members = [...new Set(order)].filter((k) => resolved.has(k));

  const nodes: Record<string, NodeDefinition> = {};
  const nodeOwner = new Map<string, string>();
  const entries: string[] = [];
  const edges: EdgeDefinition[] = [];
  const compensations: Array<{ member: string; key: PropertyKey; nodeIds: string[]; alsoNode: boolean }> = [];
  for (const key of members) {
    const rec = resolved.get(key) as MethodRecord;
    const member = String(key);
    if (rec.compensates.length > 0) compensations.push({ member, key, nodeIds: rec.compensates, alsoNode: rec.nodes.length > 0 });
    if (rec.nodes.length === 0) {
      if (rec.entries > 0 || rec.edges.length > 0 || rec.compensates.length === 0) problems.push(`method "${member}" has @Entry/@Edge but no @Node`);
      continue;
    }
    if (rec.nodes.length > 1) problems.push(`method "${member}" has more than one @Node decorator`);
    const { id: explicitId, opts, problems: argumentProblems } = rec.nodes[0];
    problems.push(...argumentProblems.map((p) => `method "${member}": ${p}`));
    const id = explicitId ?? (typeof key === 'string' ? key : undefined);
    if (id === undefined) {
      problems.push(`method ${member} has a symbol name: give its @Node an explicit id`);
      continue;
    }
    if (nodeOwner.has(id)) {
      // Reported, but its entry and edges still go through the checks below: every problem at once.
      problems.push(`duplicate node id "${id}": methods "${nodeOwner.get(id)}" and "${member}" both use it`);
    } else {
      nodeOwner.set(id, member);
      const method = (target as Record<PropertyKey, unknown>)[key];
      const handler = typeof method === 'function' ? method.bind(target) : method;
      const node = { ...opts, id, handler } as NodeDefinition;
      if (opts.retry && typeof opts.retry === 'object') node.retry = { ...opts.retry };
      nodes[id] = node;
    }
    if (rec.entries > 1) problems.push(`method "${member}" has more than one @Entry decorator`);
    if (rec.entries > 0) entries.push(id);
    for (const e of rec.edges) edges.push({ from: id, ...e });
  }
  for (const c of compensations) {
    if (c.alsoNode) problems.push(`method "${c.member}" has both @Node and @Compensate: a compensation is a method of its own`);
    for (const nodeId of c.nodeIds) {
      const node = nodes[nodeId];
      if (!node) problems.push(`method "${c.member}": @Compensate("${nodeId}"): "${nodeId}" is not a node of this flow`);
      else if (node.compensate) problems.push(`node "${nodeId}" has more than one compensate handler (method "${c.member}" and another)`);
      else node.compensate = ((target as Record<PropertyKey, Function>)[c.key] as Function).bind(target) as NodeDefinition['compensate'];
    }
  }
  if (entries.length > 1) problems.push(`more than one @Entry: nodes ${entries.map((e) => `"${e}"`).join(', ')}`);
  // An @Entry on a method already reported above (no @Node, symbol name) is not also "missing".
  const entryMarked = members.some((k) => (resolved.get(k) as MethodRecord).entries > 0);
  if (!entryMarked) problems.push('no @Entry: mark the first node with @Entry()');

  const def: FlowDefinition = { flowId, version, entry: entries[0] ?? '', nodes, edges, ...copyFlowOptions(options) };
  // Skip the validator's own "entry must name the first node" when we already said why.
  const general = definitionProblems(def).filter((p) => !(entries.length === 0 && p.startsWith('entry ')));
  problems.push(...(flowMarks ? general : general.filter((p) => !/^(flowId|version) /.test(p))));
  if (problems.length > 0) {
    // The sentence 0.5.x threw for the same mistake leads the message.
    const headline = !flowMarks
      ? `Class ${className} is not decorated with @Flow(flowId, version)`
      : entries.length !== 1
        ? `Flow ${flowKey(flowId, version)} must have exactly one @Entry() node`
        : undefined;
    throw new FlowDefinitionError(flowMarks ? `${flowKey(flowId, version)} (class ${className})` : `class ${className}`, problems, headline);
  }
  return freezeDefinition(def);
}
