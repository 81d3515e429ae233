/**
 * JSON Schemas of the REST API. The request schemas are what Fastify validates (wrong types are a
 * 400 before any engine call); the response schemas only document (openapi.ts): responses are
 * built by `dto.ts` and serialized with plain JSON.stringify, so arbitrary state/outputs pass through.
 */
import { RUN_STATUSES, MAX_PAGE_SIZE } from '../../storage/run-filter.js';

const statusAlternatives = RUN_STATUSES.join('|');

export const runIdParams = {
  type: 'object',
  required: ['runId'],
  properties: { runId: { type: 'string', minLength: 1, maxLength: 200, description: 'Run id (as returned by start).' } },
} as const;

export const startRunBody = {
  type: 'object',
  required: ['flowId', 'version'],
  additionalProperties: false,
  properties: {
    flowId: { type: 'string', minLength: 1, maxLength: 200 },
    version: { type: 'string', minLength: 1, maxLength: 100 },
    input: { description: 'Any JSON value; the run sees it as ctx.input (default null).' },
    tenantId: { type: 'string', minLength: 1, maxLength: 200 },
    idempotencyKey: { type: 'string', minLength: 1, maxLength: 500, description: 'Starting twice with the same key returns the first run.' },
    initialState: { type: 'object', description: 'Initial ctx.state (default {}).' },
  },
} as const;

export const cancelRunBody = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', maxLength: 2000 } },
} as const;

export const listRunsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: {
      type: 'string',
      pattern: `^(${statusAlternatives})(,(${statusAlternatives}))*$`,
      description: 'One status or a comma-separated list.',
    },
    flowId: { type: 'string', minLength: 1, maxLength: 200 },
    flowVersion: { type: 'string', minLength: 1, maxLength: 100 },
    tenantId: { type: 'string', minLength: 1, maxLength: 200 },
    // A string with a pattern rather than a coerced integer: "abc" must be a 400, not silently NaN.
    limit: { type: 'string', pattern: '^[0-9]{1,4}$', description: `Page size, 1 to ${MAX_PAGE_SIZE} (default 50).` },
    cursor: { type: 'string', minLength: 1, maxLength: 500, description: 'nextCursor of the previous page.' },
  },
} as const;

const isoDate = { type: 'string', format: 'date-time' } as const;
const nullable = <T extends object>(schema: T) => ({ anyOf: [schema, { type: 'null' }] });

export const errorRecordSchema = {
  type: 'object',
  properties: { code: { type: 'string' }, message: { type: 'string' }, retryable: { type: 'boolean' } },
} as const;

const runSummaryProperties = {
  runId: { type: 'string' },
  flowId: { type: 'string' },
  flowVersion: { type: 'string' },
  tenantId: nullable({ type: 'string' }),
  status: { type: 'string', enum: [...RUN_STATUSES] },
  currentNodeId: nullable({ type: 'string' }),
  createdAt: isoDate,
  updatedAt: isoDate,
  idempotencyKey: nullable({ type: 'string' }),
  attempt: { type: 'integer', description: 'Attempts begun at the current node.' },
  nextAttemptAt: nullable(isoDate),
  waitReason: nullable({ type: 'string' }),
  error: nullable(errorRecordSchema),
} as const;

export const runSummarySchema = { type: 'object', properties: runSummaryProperties } as const;

export const runSchema = {
  type: 'object',
  properties: {
    ...runSummaryProperties,
    inputJson: {},
    stateJson: { type: 'object' },
    outputsJson: { type: 'object' },
    attemptsJson: { type: 'object', additionalProperties: { type: 'integer' } },
    version: { type: 'integer' },
  },
} as const;

export const eventSchema = {
  type: 'object',
  properties: {
    seq: { type: 'integer' },
    at: isoDate,
    type: { type: 'string' },
    nodeId: nullable({ type: 'string' }),
    attempt: nullable({ type: 'integer' }),
    durationMs: nullable({ type: 'integer' }),
    error: nullable(errorRecordSchema),
    payloadJson: {},
  },
} as const;

export const flowSchema = {
  type: 'object',
  properties: {
    flowId: { type: 'string' },
    version: { type: 'string' },
    fingerprint: { type: 'string' },
    registered: { type: 'boolean', description: 'Whether this server can execute it.' },
    createdAt: isoDate,
    definitionJson: { type: 'object', description: 'The graph: entry, nodes (with options), edges (priority, conditional, when).' },
  },
} as const;

export const healthSchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok'] },
    storage: { type: 'object', properties: { kind: { type: 'string' }, durable: { type: 'boolean' } } },
    worker: { type: 'object', properties: { status: { type: 'string' } } },
    flows: { type: 'integer' },
    uptimeMs: { type: 'integer' },
  },
} as const;

export const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } },
  },
} as const;
