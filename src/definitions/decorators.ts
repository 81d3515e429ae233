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
import type { EdgeDefinition, FlowContext, FlowDefinition, FlowOptions, NodeDefinition, NodeOptions } from './types.js';
import { definitionProblems, flowOptionsArgumentProblems, optionsArgumentProblems } from './validate.js';

/** Usable as a legacy (`experimentalDecorators`) or a standard method decorator. */
export interface FlowMethodDecorator {
  (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor): void;
  (value: (this: any, ...args: any[]) => any, context: ClassMethodDecoratorContext): void;
}

/** Usable as a legacy or a standard class decorator. */
export interface FlowClassDecorator {
  (target: abstract new (...args: any[]) => object): void;
  (target: abstract new (...args: any[]) => object, context: ClassDecoratorContext): void;
}

/** 0.5.x's name for the options of `@Node`: the same options as everywhere else. */
export type NodeDecoratorOptions = NodeOptions;

interface MethodRecord {
  /** One entry per @Node on the method (more than one is reported); `problems` are those of its arguments. */
  nodes: { id?: string; opts: NodeOptions; problems: string[] }[];
  entries: number;
  edges: Omit<EdgeDefinition, 'from'>[];
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

const newRecord = (): MethodRecord => ({ nodes: [], entries: 0, edges: [] });

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

/** Marks a class as flow `flowId` at `version`; `options`: the flow's own options (`{ retention, onFailure }`). */
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
 */
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

/** An edge from this method's node to `to`, taken when `when(ctx)` holds; highest `priority` (default 0) wins. */
export function Edge(to: string, when?: (ctx: FlowContext) => boolean, priority?: number): FlowMethodDecorator {
  return methodDecorator('Edge', (rec) => {
    // priority is always filled in, as 0.5.x did (and it fingerprints the same as omitted).
    const edge: Omit<EdgeDefinition, 'from'> = { to, priority: priority ?? 0 };
    if (when !== undefined) edge.when = when;
    // Decorators apply bottom-up; unshift keeps the edges in the order they are written.
    rec.edges.unshift(edge);
  });
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
 */
export function buildFlowDefinition<T extends object>(Class: new () => T, instance?: T): FlowDefinition;
export function buildFlowDefinition<T extends object>(Class: abstract new (...args: any[]) => T, instance: T): FlowDefinition;
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
  for (const key of members) {
    const rec = resolved.get(key) as MethodRecord;
    const member = String(key);
    if (rec.nodes.length === 0) {
      problems.push(`method "${member}" has @Entry/@Edge but no @Node`);
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
