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
    initialState: { type: 'object', description: 'Initial ctx.state (default {}). Keys the engine reserves (`_resumePayload`) are refused with INVALID_ARGUMENT.' },
  },
} as const;

/** The body of a POST that takes no arguments (tick): `{}`. Every POST carries a JSON body (see server.ts). */
export const emptyBody = {
  type: 'object',
  additionalProperties: false,
  properties: {},
  description: 'Always {}: every POST carries a JSON body.',
} as const;

export const resumeRunQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    nodeId: { type: 'string', minLength: 1, maxLength: 200, description: 'Resume only the branch waiting at this node (a run that waits at several nodes).' },
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

const branchStatusDescription =
  'READY: due to begin (at or after dueAt when set). RUNNING: an attempt is in flight (for a map: items are). ' +
  'RETRY: a failed attempt will be retried at dueAt. WAITING: parked by a `wait` result, until its timer (dueAt) or a resume ' +
  '(POST /v1/runs/{runId}/resume?nodeId=<nodeId>). JOINING: arrived at a `join` node, waiting for the other branches that can still reach it. ' +
  'FAILED: the branch that failed the run (kept on a FAILED run).';

const branchCoreProperties = {
  branchId: { type: 'string', description: '`b<seq>`: the timeline sequence number of the event that created the branch (`b1` is the run’s first branch). Events carry it as `branchId`.' },
  nodeId: { type: 'string', description: 'The node the branch is at.' },
  status: { type: 'string', enum: ['READY', 'RUNNING', 'RETRY', 'WAITING', 'JOINING', 'FAILED'], description: branchStatusDescription },
  attempt: { type: 'integer', description: 'Attempts begun at this node by this branch (0 before the first).' },
  dueAt: nullable({ ...isoDate, description: 'When a READY/RETRY branch may begin, or when a WAITING branch’s timer fires (null: now, or no timer).' }),
  waitReason: nullable({ type: 'string', description: 'Why a WAITING branch waits (the `reason` of its `wait` result).' }),
} as const;

const mapCoreProperties = {
  total: { type: 'integer', description: 'Items the `forEach` returned.' },
  concurrency: { type: 'integer', description: 'At most this many items run at once.' },
  done: { type: 'integer', description: 'Items finished (their outputs are stored).' },
  started: { type: 'integer', description: 'Items [0, started) have been begun at least once; those not listed in `items` are done.' },
} as const;

/** A live branch as run lists show it (`RunSummary.branches`). */
export const branchSummarySchema = {
  type: 'object',
  description: 'A live branch of a run (compact): where it is, in what status, and a map’s progress counts.',
  properties: {
    ...branchCoreProperties,
    map: nullable({ type: 'object', description: 'Progress of a `forEach` node’s map (null elsewhere).', properties: mapCoreProperties }),
  },
} as const;

export const mapItemSchema = {
  type: 'object',
  description: 'A begun but unfinished item of a map.',
  properties: {
    index: { type: 'integer', description: 'The item’s position in the array `forEach` returned (events carry it as `itemIndex`).' },
    status: { type: 'string', enum: ['READY', 'RUNNING', 'RETRY', 'FAILED'], description: 'RETRY: its failed attempt is retried at dueAt. FAILED: failed after its retries (it fails the node).' },
    attempt: { type: 'integer', description: 'Attempts begun for this item.' },
    dueAt: nullable(isoDate),
    error: nullable(errorRecordSchema),
  },
} as const;

/** A live branch in full (`Run.branches`). */
export const branchSchema = {
  type: 'object',
  description:
    'One live branch (token) of a run. A run without `split: \'all\'` nodes has exactly one; a split starts one per edge taken, ' +
    'a `join` gathers them. The list holds the branches alive now (RUNNING/WAITING runs; a FAILED run keeps the branch that failed it), never history: ' +
    'the timeline tells that (BRANCH_STARTED, BRANCH_ENDED, BRANCH_ABORTED, JOIN_ARRIVED, JOIN_COMPLETED, MAP_STARTED).',
  properties: {
    ...branchCoreProperties,
    recoveries: { type: 'integer', description: 'Interrupted attempts in a row at this node (poison-pill guard).' },
    error: nullable({ ...errorRecordSchema, description: 'The last failed attempt’s error (RETRY), or why the branch FAILED.' }),
    joined: nullable({ type: 'array', items: { type: 'string' }, description: 'At a join node: the ids of the branches it gathered.' }),
    map: nullable({
      type: 'object',
      description: 'Progress of a `forEach` node’s map (null elsewhere).',
      properties: { ...mapCoreProperties, items: { type: 'array', items: mapItemSchema, description: 'Begun but unfinished items (at most `concurrency`).' } },
    }),
    resumePayload: { description: 'Present only on a branch resumed and not yet re-run: the payload its next attempt sees at ctx.state._resumePayload.' },
  },
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
  branches: { type: 'array', items: branchSummarySchema, description: 'The run’s live branches, compact (see Run.branches).' },
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
    branches: {
      type: 'array',
      items: branchSchema,
      description:
        'The live branches: one per place the run is at now (several after a `split: \'all\'`). currentNodeId is the first one’s node. ' +
        'Empty once the run COMPLETED or was CANCELLED. Resume one WAITING branch with POST /v1/runs/{runId}/resume?nodeId=<its nodeId>.',
    },
  },
} as const;

export const eventSchema = {
  type: 'object',
  properties: {
    seq: { type: 'integer' },
    at: isoDate,
    type: {
      type: 'string',
      description:
        'RUN_STARTED, NODE_STARTED, NODE_FINISHED, NODE_FAILED, NODE_INTERRUPTED, NODE_RETRY_SCHEDULED, RUN_WAITING, RUN_RESUMED, RUN_COMPLETED, RUN_ABORTED, RUN_CANCELLED; ' +
        'and for parallel runs: BRANCH_STARTED (a split started this branch; payload { from, splitNodeId }), BRANCH_ENDED (no outgoing edge matched), ' +
        'BRANCH_ABORTED (a join \'any\' fired without it, or a sibling failed the run; payload { reason, by? }), ' +
        'JOIN_ARRIVED (payload { joinNodeId, waitingFor: branch ids that can still arrive }), JOIN_COMPLETED (payload { joined }), ' +
        'MAP_STARTED (a forEach node began its map; payload { items, concurrency }).',
    },
    nodeId: nullable({ type: 'string' }),
    branchId: nullable({ type: 'string', description: 'The branch the event belongs to (see Run.branches); null for run-wide events.' }),
    itemIndex: nullable({ type: 'integer', description: 'The map item the event belongs to (a forEach node’s item attempts); null otherwise.' }),
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
    status: { type: 'string', enum: ['ok', 'unavailable'], description: "'unavailable' (HTTP 503) when the store does not answer." },
    storage: {
      type: 'object',
      properties: {
        kind: { type: 'string' },
        durable: { type: 'boolean' },
        status: { type: 'string', enum: ['up', 'down'] },
        error: { type: 'object', description: 'When down: the code only; the message is masked.', properties: { code: { type: 'string' }, message: { type: 'string' } } },
      },
    },
    worker: {
      type: 'object',
      properties: {
        status: { type: 'string' },
        lastError: nullable({ type: 'object', description: 'The code only; the message is masked.', properties: { code: { type: 'string' }, message: { type: 'string' }, at: isoDate } }),
      },
    },
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
