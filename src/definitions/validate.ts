/**
 * Structural checks on a flow definition. Definitions arrive from decorators, the builder or as
 * hand-written objects (possibly from plain JS), so nothing here trusts the static types: every
 * field is checked at runtime, and every problem is reported at once so that one run of the
 * program shows the author the whole list instead of one fix-and-retry cycle per mistake.
 */
import { FlowDefinitionError } from '../errors.js';
import {
  MAX_RETENTION_MS,
  MAX_RETRY_DELAY_MS,
  TRANSACTION_ISOLATIONS,
  type FlowDefinition,
  type FlowOptions,
  type NodeOptions,
  type TransactionIsolation,
} from './types.js';
import { flowKey } from './flow-key.js';
import { scheduleProblems } from './schedule-spec.js';
import { flowControlProblems } from './flow-control.js';

type Loose = Record<string, unknown>;

const isObject = (v: unknown): v is Loose => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const show = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'number' || typeof v === 'boolean' || v == null) return String(v);
  if (typeof v === 'symbol' || typeof v === 'bigint') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
};

/** `flowId@version` when readable, for error messages. */
export function flowKeyOf(def: unknown): string {
  const d = isObject(def) ? def : {};
  const id = typeof d.flowId === 'string' && d.flowId ? d.flowId : '<no flowId>';
  const version = typeof d.version === 'string' && d.version ? d.version : '<no version>';
  return flowKey(id, version);
}

/** Typed as a record of every option, so that adding an option to `NodeOptions` without listing it here fails to compile. */
const OPTION_KEYS: Record<keyof NodeOptions, true> = {
  name: true,
  retry: true,
  timeoutMs: true,
  idempotencyKey: true,
  split: true,
  join: true,
  forEach: true,
  concurrency: true,
  catch: true,
  compensate: true,
  transaction: true,
};

/** Every option a node may have. Any other key on a node (besides `id` and `handler`) is reported. */
export const NODE_OPTION_KEYS: readonly (keyof NodeOptions)[] = Object.freeze(Object.keys(OPTION_KEYS) as (keyof NodeOptions)[]);
const NODE_KEYS = new Set<string>(['id', 'handler', ...NODE_OPTION_KEYS]);
const EDGE_KEYS = new Set(['to', 'from', 'when', 'priority']);
/** Other words for an option that a user plausibly reaches for. */
const ALIASES: Record<string, keyof NodeOptions> = {
  retries: 'retry',
  timeout: 'timeoutMs',
  label: 'name',
  parallel: 'split',
  map: 'forEach',
  each: 'forEach',
  items: 'forEach',
  key: 'idempotencyKey',
  transactional: 'transaction',
  tx: 'transaction',
};

/** Edit distance where swapping two neighbouring letters counts as one edit ("spilt" -> "split" is 1). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The option `key` was most likely meant to be, when that is obvious; otherwise undefined. */
export function suggestOption(key: string): keyof NodeOptions | undefined {
  const lower = key.toLowerCase();
  const sameLetters = NODE_OPTION_KEYS.find((k) => k.toLowerCase() === lower);
  if (sameLetters) return sameLetters;
  if (Object.prototype.hasOwnProperty.call(ALIASES, lower)) return ALIASES[lower];
  const distances = NODE_OPTION_KEYS.map((k) => ({ k, d: editDistance(lower, k.toLowerCase()) }));
  const best = Math.min(...distances.map((x) => x.d));
  const closest = distances.filter((x) => x.d === best);
  // One or two slips, and never more than a third of the word: "spilt" -> "split", but not "foo" -> "join".
  if (closest.length === 1 && best <= Math.min(2, Math.floor(key.length / 3))) return closest[0].k;
  const prefixed = lower.length >= 4 ? NODE_OPTION_KEYS.filter((k) => k.toLowerCase().startsWith(lower)) : [];
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** The problem for an option key nobody reads: a typo must be an error, not silently ignored. */
export function unknownOptionProblem(where: string, key: PropertyKey): string {
  if (typeof key === 'symbol') return `${where}: unknown option ${String(key)}`;
  const name = String(key);
  if (EDGE_KEYS.has(name)) {
    return `${where}: unknown option "${name}" (it belongs to an edge: @Edge(to, when, priority) or .edge(from, to, when, priority))`;
  }
  const guess = suggestOption(name);
  if (guess) return `${where}: unknown option "${name}" (did you mean "${guess}"?)`;
  return `${where}: unknown option "${name}" (the options are ${NODE_OPTION_KEYS.join(', ')})`;
}

/** Own enumerable keys (strings and symbols): what an object spread would carry over. */
const ownKeys = (o: object): (string | symbol)[] => Reflect.ownKeys(o).filter((k) => Object.prototype.propertyIsEnumerable.call(o, k));

/**
 * Problems with the options argument of `@Node(id, options)` / `.node(id, handler, options)`
 * before it is merged into a node: not an object, or a key the merge would silently drop
 * (`id`, `handler`). Every other key is checked on the node itself.
 */
export function optionsArgumentProblems(where: string, opts: unknown): string[] {
  if (opts === undefined || opts === null) return [];
  if (!isObject(opts)) return [`${where}: options must be an object (got ${show(opts)})`];
  const problems: string[] = [];
  if (Object.prototype.hasOwnProperty.call(opts, 'id')) {
    problems.push(`${where}: unknown option "id" (the node id is not an option: pass it as the first argument)`);
  }
  if (Object.prototype.hasOwnProperty.call(opts, 'handler')) {
    problems.push(`${where}: unknown option "handler" (the handler is the decorated method, or node()'s second argument)`);
  }
  return problems;
}

/** Typed as a record of every flow option, as `OPTION_KEYS` is for nodes. */
const FLOW_OPTION_KEYS: Record<keyof FlowOptions, true> = {
  retention: true,
  onFailure: true,
  schedules: true,
  concurrency: true,
  rateLimit: true,
  debounce: true,
};

/**
 * Problems with the options argument of `flow(id, version, options)` / `@Flow(id, version,
 * options)`: not an object, or a key that is not a flow option. The values are checked on the
 * definition itself (`definitionProblems`).
 */
export function flowOptionsArgumentProblems(where: string, opts: unknown): string[] {
  if (opts === undefined) return [];
  if (!isObject(opts)) return [`${where}: options must be an object like { retention, onFailure } (got ${show(opts)})`];
  return ownKeys(opts)
    .filter((key) => typeof key === 'symbol' || !Object.prototype.hasOwnProperty.call(FLOW_OPTION_KEYS, key))
    .map(
      (key) =>
        `${where}: unknown flow option ${typeof key === 'symbol' ? String(key) : JSON.stringify(key)} (the flow options are ${Object.keys(FLOW_OPTION_KEYS).join(', ')})`,
    );
}

/** Problems with a definition's flow options (`retention`, `onFailure`). */
function flowOptionProblems(def: Loose): string[] {
  return [...retentionProblems(def.retention), ...onFailureProblems(def), ...flowControlProblems(def)];
}

function retentionProblems(retention: unknown): string[] {
  if (retention === undefined) return [];
  if (!isObject(retention)) return [`retention must be an object like { finishedRunsMs } (got ${show(retention)})`];
  const problems = ownKeys(retention)
    .filter((key) => key !== 'finishedRunsMs')
    .map((key) => `retention: unknown option ${typeof key === 'symbol' ? String(key) : JSON.stringify(key)} (the only one is finishedRunsMs)`);
  const ms = retention.finishedRunsMs;
  if (!(isFiniteNumber(ms) && ms > 0 && ms <= MAX_RETENTION_MS)) {
    problems.push(`retention.finishedRunsMs must be a number of milliseconds > 0 and at most ${MAX_RETENTION_MS} (100 years) (got ${show(ms)})`);
  }
  return problems;
}

/** Problems with a flow's declared schedules (`schedules`): each checked as `engine.schedules.set` would, ids unique. */
function declaredScheduleProblems(schedules: unknown): string[] {
  if (schedules === undefined) return [];
  if (!Array.isArray(schedules)) return [`schedules must be an array of { scheduleId, cron | every, … } (got ${show(schedules)})`];
  const seen = new Set<unknown>();
  return schedules.flatMap((s: unknown, i) => {
    const id = isObject(s) ? s.scheduleId : undefined;
    const problems = scheduleProblems(s, false).map((p) => `schedules[${i}]: ${p}`);
    if (id !== undefined && seen.has(id)) problems.push(`schedules[${i}]: scheduleId ${JSON.stringify(id)} is declared twice`);
    seen.add(id);
    return problems;
  });
}

/**
 * `onFailure: { flowId, version }`. A flow may not be its own failure handler: its handler run
 * would handle a failure of the flow it is part of (a handler's own failure starts no handler
 * anyway: see engine/failure-handler.ts), which is always a mistake in the definition.
 */
function onFailureProblems(def: Loose): string[] {
  const handler = def.onFailure;
  if (handler === undefined) return [];
  if (!isObject(handler)) return [`onFailure must be an object like { flowId, version } (got ${show(handler)})`];
  const problems = ownKeys(handler)
    .filter((key) => key !== 'flowId' && key !== 'version')
    .map((key) => `onFailure: unknown option ${typeof key === 'symbol' ? String(key) : JSON.stringify(key)} (the options are flowId, version)`);
  if (!isNonEmptyString(handler.flowId)) problems.push(`onFailure.flowId must be a non-empty string (got ${show(handler.flowId)})`);
  else if (handler.flowId.includes('@')) problems.push(`onFailure.flowId must not contain "@" (got ${show(handler.flowId)})`);
  if (!isNonEmptyString(handler.version)) problems.push(`onFailure.version must be a non-empty string (got ${show(handler.version)})`);
  if (problems.length === 0 && handler.flowId === def.flowId && handler.version === def.version) {
    problems.push(`onFailure names the flow itself (${flowKey(String(handler.flowId), String(handler.version))}): a flow cannot be its own failure handler`);
  }
  return problems;
}

/** Problems with one node's options (shared by nodes of hand-written, built and decorated definitions). */
export function nodeOptionProblems(where: string, node: Loose): string[] {
  const problems: string[] = [];
  for (const key of ownKeys(node)) {
    if (typeof key === 'symbol' || !NODE_KEYS.has(key)) problems.push(unknownOptionProblem(where, key));
  }
  if (node.name !== undefined && !isNonEmptyString(node.name)) {
    problems.push(`${where}: name must be a non-empty string (got ${show(node.name)})`);
  }
  if (node.timeoutMs !== undefined && !(isFiniteNumber(node.timeoutMs) && node.timeoutMs > 0)) {
    problems.push(`${where}: timeoutMs must be a finite number > 0 (got ${show(node.timeoutMs)})`);
  }
  if (node.idempotencyKey !== undefined && typeof node.idempotencyKey !== 'function') {
    problems.push(`${where}: idempotencyKey must be a function (ctx) => string (got ${show(node.idempotencyKey)})`);
  }
  if (node.retry !== undefined) problems.push(...retryProblems(where, node.retry));
  if (node.split !== undefined && node.split !== 'all' && node.split !== 'first') {
    problems.push(`${where}: split must be 'all' or 'first' (got ${show(node.split)})`);
  }
  if (node.join !== undefined && node.join !== 'all' && node.join !== 'any') {
    problems.push(`${where}: join must be 'all' or 'any' (got ${show(node.join)})`);
  }
  if (node.forEach !== undefined && typeof node.forEach !== 'function') {
    problems.push(`${where}: forEach must be a function (ctx) => unknown[] (got ${show(node.forEach)})`);
  }
  if (node.compensate !== undefined && typeof node.compensate !== 'function') {
    problems.push(`${where}: compensate must be a function (ctx) => NodeResult (got ${show(node.compensate)})`);
  }
  if (node.catch !== undefined) problems.push(...catchProblems(where, node.catch));
  if (node.transaction !== undefined) problems.push(...transactionProblems(where, node.transaction));
  if (node.concurrency !== undefined) {
    if (!(Number.isSafeInteger(node.concurrency) && (node.concurrency as number) >= 1)) {
      problems.push(`${where}: concurrency must be an integer >= 1 (got ${show(node.concurrency)})`);
    } else if (node.forEach === undefined) {
      problems.push(`${where}: concurrency without forEach has no effect (it limits how many items of a forEach node run at once)`);
    }
  }
  return problems;
}

/** The shape of a node's `catch` (whether its target exists is checked with the edges). */
function catchProblems(where: string, c: unknown): string[] {
  if (isNonEmptyString(c)) return [];
  if (!isObject(c)) return [`${where}: catch must be a node id or { to, codes? } (got ${show(c)})`];
  const p = ownKeys(c)
    .filter((key) => key !== 'to' && key !== 'codes')
    .map((key) => `${where}: catch: unknown option ${typeof key === 'symbol' ? String(key) : JSON.stringify(key)} (the options are to, codes)`);
  if (!isNonEmptyString(c.to)) p.push(`${where}: catch.to must be a node id (got ${show(c.to)})`);
  if (c.codes !== undefined && !(Array.isArray(c.codes) && c.codes.length > 0 && c.codes.every(isNonEmptyString))) {
    p.push(`${where}: catch.codes must be a non-empty array of error codes (got ${show(c.codes)})`);
  }
  return p;
}

function retryProblems(where: string, retry: unknown): string[] {
  if (!isObject(retry)) return [`${where}: retry must be an object (got ${show(retry)})`];
  const p: string[] = [];
  const { maxAttempts, backoff, baseDelayMs, maxDelayMs, jitter } = retry;
  if (!(Number.isInteger(maxAttempts) && (maxAttempts as number) >= 1)) {
    p.push(`${where}: retry.maxAttempts must be an integer >= 1 (got ${show(maxAttempts)})`);
  }
  if (backoff !== 'fixed' && backoff !== 'exponential') {
    p.push(`${where}: retry.backoff must be 'fixed' or 'exponential' (got ${show(backoff)})`);
  }
  const baseOk = isFiniteNumber(baseDelayMs) && baseDelayMs >= 0 && baseDelayMs <= MAX_RETRY_DELAY_MS;
  if (!baseOk) p.push(`${where}: retry.baseDelayMs must be a number from 0 to ${MAX_RETRY_DELAY_MS} (one year) (got ${show(baseDelayMs)})`);
  if (maxDelayMs !== undefined) {
    if (!isFiniteNumber(maxDelayMs) || maxDelayMs < 0 || maxDelayMs > MAX_RETRY_DELAY_MS) {
      p.push(`${where}: retry.maxDelayMs must be a number from 0 to ${MAX_RETRY_DELAY_MS} (one year) (got ${show(maxDelayMs)})`);
    } else if (baseOk && maxDelayMs < (baseDelayMs as number)) {
      p.push(`${where}: retry.maxDelayMs (${maxDelayMs}) must be >= retry.baseDelayMs (${String(baseDelayMs)})`);
    }
  }
  if (jitter !== undefined && typeof jitter !== 'boolean') {
    p.push(`${where}: retry.jitter must be a boolean (got ${show(jitter)})`);
  }
  return p;
}

/** Every problem found in `def` (empty when valid). Callers that detect extra problems of their own merge them in. */
export function definitionProblems(def: unknown): string[] {
  if (!isObject(def)) return [`a flow definition must be an object (got ${show(def)})`];
  const problems: string[] = [];
  if (!isNonEmptyString(def.flowId)) problems.push(`flowId must be a non-empty string (got ${show(def.flowId)})`);
  else if (def.flowId.includes('@'))
    problems.push(`flowId must not contain "@", which separates it from the version in flowId@version (got ${show(def.flowId)})`);
  if (!isNonEmptyString(def.version)) problems.push(`version must be a non-empty string (got ${show(def.version)})`);
  problems.push(...flowOptionProblems(def));
  problems.push(...declaredScheduleProblems(def.schedules));

  const nodes = isObject(def.nodes) ? def.nodes : undefined;
  if (!nodes) problems.push(`nodes must be an object keyed by node id (got ${show(def.nodes)})`);
  const nodeIds = new Set(nodes ? Object.keys(nodes) : []);
  if (nodes && nodeIds.size === 0) problems.push('the flow has no nodes');

  for (const [key, node] of Object.entries(nodes ?? {})) {
    const where = `node "${key}"`;
    if (!isObject(node)) {
      problems.push(`${where}: must be an object (got ${show(node)})`);
      continue;
    }
    // The engine looks nodes up by key and records them by `id`; a mismatch would make the two disagree.
    if (node.id !== key) problems.push(`${where}: id must equal its key "${key}" (got ${show(node.id)})`);
    if (key.trim() === '') problems.push(`a node id must be a non-empty string (got "${key}")`);
    if (typeof node.handler !== 'function') problems.push(`${where}: handler must be a function (got ${show(node.handler)})`);
    problems.push(...nodeOptionProblems(where, node));
  }

  if (Array.isArray(def.entry)) {
    problems.push(`a flow has exactly one entry node (got more than one: ${def.entry.map(show).join(', ')})`);
  } else if (!isNonEmptyString(def.entry)) {
    problems.push(`entry must name the first node (got ${show(def.entry)})`);
  } else if (nodes && !nodeIds.has(def.entry)) {
    problems.push(`entry "${def.entry}" is not a node of this flow`);
  }

  for (const [key, node] of Object.entries(nodes ?? {})) {
    const to = isObject(node) && node.catch !== undefined ? catchTargetOf(node.catch) : undefined;
    if (to === undefined) continue;
    if (!nodeIds.has(to)) problems.push(`node "${key}": catch target "${to}" is not a node of this flow`);
    else if (to === key) problems.push(`node "${key}": catch target is the node itself (a failure would run it again with no end: use retry)`);
  }

  if (!Array.isArray(def.edges)) {
    problems.push(`edges must be an array (got ${show(def.edges)})`);
  } else {
    def.edges.forEach((edge: unknown, i: number) => problems.push(...edgeProblems(edge, i, nodes ? nodeIds : undefined)));
  }
  if (nodes && Array.isArray(def.edges)) problems.push(...splitJoinProblems(nodes, [...def.edges, ...catchEdges(nodes)]));
  return problems;
}

/**
 * The graph rules of split and join:
 * - an edge of a `split: 'all'` node takes no priority (every edge whose `when` holds is taken, so
 *   a priority would suggest an order that does not exist);
 * - a `split: 'all'` node has at most one edge to each node (two would start two branches at the
 *   same node, both writing its output);
 * - a `join` node is reachable from some `split: 'all'` node (otherwise it has nothing to gather).
 * Only well-formed edges between known nodes are considered; the others are reported already.
 */
function splitJoinProblems(nodes: Loose, edges: unknown[]): string[] {
  const p: string[] = [];
  const isNode = (id: unknown): id is string => typeof id === 'string' && Object.prototype.hasOwnProperty.call(nodes, id) && isObject(nodes[id]);
  const splits = new Set(Object.keys(nodes).filter((id) => isNode(id) && (nodes[id] as Loose).split === 'all'));
  const next = new Map<string, string[]>();
  const targetsOfSplit = new Map<string, Map<string, number>>();
  edges.forEach((edge, i) => {
    if (!isObject(edge) || !isNode(edge.from) || !isNode(edge.to)) return;
    const { from, to } = edge;
    const out = next.get(from);
    if (out) out.push(to);
    else next.set(from, [to]);
    // A catch is followed like an edge (for joins), but it is not one of the split's edges.
    if (!splits.has(from) || edge.isCatch === true) return;
    if (isFiniteNumber(edge.priority) && edge.priority !== 0) {
      p.push(
        `edge #${i} (${show(from)} -> ${show(to)}): priority ${edge.priority} has no effect: node "${from}" has split: 'all', which takes every edge whose when holds; remove the priority`,
      );
    }
    const counts = targetsOfSplit.get(from) ?? new Map<string, number>();
    counts.set(to, (counts.get(to) ?? 0) + 1);
    targetsOfSplit.set(from, counts);
  });
  for (const [from, counts] of targetsOfSplit) {
    for (const [to, n] of counts) {
      if (n > 1) {
        p.push(
          `node "${from}": split: 'all' with ${n} edges to "${to}" would start ${n} branches at "${to}" at once; use one edge (combine the conditions in its when)`,
        );
      }
    }
  }
  // Every node a split's branches can reach (one step or more).
  const fed = new Set<string>();
  const queue = [...splits].flatMap((s) => next.get(s) ?? []);
  while (queue.length > 0) {
    const id = queue.pop() as string;
    if (fed.has(id)) continue;
    fed.add(id);
    queue.push(...(next.get(id) ?? []));
  }
  for (const [id, node] of Object.entries(nodes)) {
    if (!isObject(node) || (node.join !== 'all' && node.join !== 'any') || fed.has(id)) continue;
    p.push(`node "${id}": join: '${node.join}' but no split: 'all' node leads to it (a join that no split can feed)`);
  }
  return p;
}

/** A well-formed `catch`'s target; undefined when malformed (reported by `catchProblems`). */
function catchTargetOf(c: unknown): string | undefined {
  if (isNonEmptyString(c)) return c;
  return isObject(c) && isNonEmptyString(c.to) ? c.to : undefined;
}

/** Each node's `catch` as an edge: a caught branch arrives at its target like any other (joins included). */
function catchEdges(nodes: Loose): Array<{ from: string; to: string; isCatch: true }> {
  return Object.entries(nodes).flatMap(([from, node]) => {
    const to = isObject(node) ? catchTargetOf(node.catch) : undefined;
    return to === undefined ? [] : [{ from, to, isCatch: true as const }];
  });
}

function edgeProblems(edge: unknown, index: number, nodeIds: Set<string> | undefined): string[] {
  if (!isObject(edge)) return [`edge #${index}: must be an object (got ${show(edge)})`];
  const where = `edge #${index} (${show(edge.from)} -> ${show(edge.to)})`;
  const p: string[] = [];
  for (const end of ['from', 'to'] as const) {
    const id = edge[end];
    if (!isNonEmptyString(id)) p.push(`${where}: ${end} must be a node id (got ${show(id)})`);
    else if (nodeIds && !nodeIds.has(id)) p.push(`${where}: ${end} "${id}" is not a node of this flow`);
  }
  if (edge.when !== undefined && typeof edge.when !== 'function') {
    p.push(`${where}: when must be a function (ctx) => boolean (got ${show(edge.when)})`);
  }
  if (edge.priority !== undefined && !isFiniteNumber(edge.priority)) {
    p.push(`${where}: priority must be a finite number (got ${show(edge.priority)})`);
  }
  return p;
}

/** Throws one `FlowDefinitionError` listing every problem of `def`; returns it typed when valid. */
export function validateDefinition(def: unknown): asserts def is FlowDefinition {
  const problems = definitionProblems(def);
  if (problems.length > 0) throw new FlowDefinitionError(flowKeyOf(def), problems);
}

/** Problems with a node's `transaction` option: `true`, `false` or `{ isolation? }` with a level Postgres has. */
function transactionProblems(where: string, option: unknown): string[] {
  if (typeof option === 'boolean') return [];
  const levels = TRANSACTION_ISOLATIONS.map((l) => `'${l}'`).join(', ');
  if (!isObject(option)) return [`${where}: transaction must be true or { isolation: ${levels} } (got ${show(option)})`];
  const problems = ownKeys(option)
    .filter((key) => key !== 'isolation')
    .map((key) => `${where}: transaction has no option ${show(String(key))} (it takes isolation)`);
  const isolation = (option as Record<string, unknown>).isolation;
  if (isolation !== undefined && !TRANSACTION_ISOLATIONS.includes(isolation as TransactionIsolation)) {
    problems.push(`${where}: transaction.isolation must be one of ${levels} (got ${show(isolation)})`);
  }
  return problems;
}
