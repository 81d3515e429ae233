/**
 * Structural checks on a flow definition. Definitions arrive from decorators, the builder or as
 * hand-written objects (possibly from plain JS), so nothing here trusts the static types: every
 * field is checked at runtime, and every problem is reported at once so that one run of the
 * program shows the author the whole list instead of one fix-and-retry cycle per mistake.
 */
import { FlowDefinitionError } from '../errors.js';
import { MAX_RETRY_DELAY_MS, type FlowDefinition } from './types.js';

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
  return `${id}@${version}`;
}

/** Problems with one node's options (shared by nodes of hand-written, built and decorated definitions). */
export function nodeOptionProblems(where: string, node: Loose): string[] {
  const problems: string[] = [];
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
  return problems;
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
  if (!isNonEmptyString(def.version)) problems.push(`version must be a non-empty string (got ${show(def.version)})`);

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

  if (!Array.isArray(def.edges)) {
    problems.push(`edges must be an array (got ${show(def.edges)})`);
  } else {
    def.edges.forEach((edge: unknown, i: number) => problems.push(...edgeProblems(edge, i, nodes ? nodeIds : undefined)));
  }
  return problems;
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
