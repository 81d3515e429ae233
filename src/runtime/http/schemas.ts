/**
 * JSON Schemas of the REST API. The request schemas are what Fastify validates (wrong types are a
 * 400 before any engine call); the response schemas only document (openapi.ts): responses are
 * built by `dto.ts` and serialized with plain JSON.stringify, so arbitrary state/outputs pass through.
 */
import { RUN_STATUSES, MAX_PAGE_SIZE } from '../../storage/run-filter.js';
import { MAX_OUTCOME_LENGTH } from '../../core/outcome.js';
import { DEFAULT_TIMELINE_PAGE_SIZE, MAX_TIMELINE_PAGE_SIZE } from '../../storage/timeline-page.js';

const statusAlternatives = RUN_STATUSES.join('|');

/** Outcomes one list request may ask for (`?outcome=` repeated). */
export const MAX_OUTCOME_FILTERS = 50;
const outcomeText = { type: 'string', minLength: 1, maxLength: MAX_OUTCOME_LENGTH } as const;

/** Child runs a run resource lists (the first page of `listRuns({ parentRunId })`). */
export const RUN_CHILDREN_PAGE = 100;

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
    traceparent: {
      type: 'string',
      maxLength: 100,
      description:
        'The W3C trace context the run’s steps continue (00-<trace id>-<span id>-<flags>); default: the request’s `traceparent` header when valid, else a new trace.',
    },
    priority: { type: 'integer', minimum: -2147483647, maximum: 2147483647, description: 'Claim order: higher first (default 0). See docs/flow-control.md.' },
    delayMs: { type: 'number', minimum: 0, description: 'Start the run this many ms from now (not with startAt).' },
    startAt: { type: 'string', format: 'date-time', description: 'Start the run at this time, ISO 8601 (not with delayMs).' },
    initialState: {
      type: 'object',
      description: 'Initial ctx.state (default {}). Keys the engine reserves (`_resumePayload`) are refused with INVALID_ARGUMENT.',
    },
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
    parentRunId: {
      type: 'string',
      minLength: 1,
      maxLength: 200,
      description: "Only the child runs of this run (started by its nodes with `{ status: 'child' }`).",
    },
    scheduleId: { type: 'string', minLength: 1, maxLength: 200, description: 'Only the runs this schedule started.' },
    outcome: {
      // One type with both forms' keywords (each applies to its own form) rather than anyOf, whose
      // first error would name the wrong form ("must be string" for a list of outcomes).
      type: ['string', 'array'],
      minLength: 1,
      maxLength: MAX_OUTCOME_LENGTH,
      maxItems: MAX_OUTCOME_FILTERS,
      items: outcomeText,
      description:
        `Only runs with this business outcome (the \`outcome\` a node's result set). Repeat it for any of several (\`?outcome=refunded&outcome=declined\`, at most ${MAX_OUTCOME_FILTERS}); ` +
        'a value is taken whole (a comma is part of it). Runs without an outcome never match.',
    },
    // A string with a pattern rather than a coerced integer: "abc" must be a 400, not silently NaN.
    limit: { type: 'string', pattern: '^[0-9]{1,4}$', description: `Page size, 1 to ${MAX_PAGE_SIZE} (default 50).` },
    cursor: { type: 'string', minLength: 1, maxLength: 500, description: 'nextCursor of the previous page.' },
  },
} as const;

/** GET /v1/runs/:runId/timeline: one page of the timeline (strings with patterns, as for `limit` above). */
export const timelineQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    after: {
      type: 'string',
      pattern: '^[0-9]{1,15}$',
      description: 'The `seq` of the last event already read (`nextCursor` of the previous page); the page starts after it. Default 0: from the first event.',
    },
    limit: {
      type: 'string',
      pattern: '^[0-9]{1,4}$',
      description: `Events on the page, 1 to ${MAX_TIMELINE_PAGE_SIZE} (default ${DEFAULT_TIMELINE_PAGE_SIZE}).`,
    },
  },
} as const;

/**
 * POST /v1/events. Types and unknown properties are checked here (INVALID_REQUEST); what a name
 * or key may contain is the engine's rule (INVALID_ARGUMENT with the reason), as for `sendEvent`.
 */
export const sendEventBody = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: {
      type: 'string',
      description:
        'The event’s name: 1 to 200 characters among letters, digits and `_ . : / -` (e.g. `payment.received`). Other names are refused with INVALID_ARGUMENT.',
    },
    key: {
      type: 'string',
      description:
        'Optional key (1 to 512 characters, no U+0000), e.g. an order id. A wait that gave a key gets only events of its name with that key; ' +
        'a wait that gave none gets every event of its name.',
    },
    payload: { description: 'Any JSON value (default null): each run it resumes sees it at ctx.state._resumePayload.' },
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
  '(POST /v1/runs/{runId}/resume?nodeId=<nodeId>), or the event in `event` (POST /v1/events; dueAt is then its timeout), ' +
  'or the child run in `child` (a `child` result). JOINING: arrived at a `join` node, waiting for the other branches that can still reach it. ' +
  'FAILED: the branch that failed the run (kept on a FAILED run).';

const childRefProperties = {
  runId: { type: 'string' },
  flowId: { type: 'string', description: 'Run resource only.' },
  flowVersion: { type: 'string', description: 'Run resource only.' },
  status: { type: 'string', enum: [...RUN_STATUSES], description: 'Run resource only: the child run’s status.' },
} as const;

const branchCoreProperties = {
  branchId: {
    type: 'string',
    description: '`b<seq>`: the timeline sequence number of the event that created the branch (`b1` is the run’s first branch). Events carry it as `branchId`.',
  },
  nodeId: { type: 'string', description: 'The node the branch is at.' },
  status: { type: 'string', enum: ['READY', 'RUNNING', 'RETRY', 'WAITING', 'JOINING', 'FAILED'], description: branchStatusDescription },
  attempt: { type: 'integer', description: 'Attempts begun at this node by this branch (0 before the first).' },
  dueAt: nullable({ ...isoDate, description: 'When a READY/RETRY branch may begin, or when a WAITING branch’s timer fires (null: now, or no timer).' }),
  waitReason: nullable({ type: 'string', description: 'Why a WAITING branch waits (the `reason` of its `wait` result).' }),
  event: nullable({
    type: 'object',
    description:
      'WAITING for an event (a `wait` result with `event`): its name and key (null: any key). Send it with POST /v1/events; dueAt is the wait’s timeout (null: none).',
    properties: { name: { type: 'string' }, key: nullable({ type: 'string' }) },
  }),
  child: nullable({
    type: 'object',
    description: 'WAITING for a child run (a `child` result): its id (GET /v1/runs/{runId}); in the run resource also its flow and status.',
    properties: childRefProperties,
  }),
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
    status: {
      type: 'string',
      enum: ['READY', 'RUNNING', 'RETRY', 'WAITING', 'FAILED'],
      description:
        'RETRY: its failed attempt is retried at dueAt. WAITING: for the child run in `child`. FAILED: failed after its retries (it fails the node).',
    },
    attempt: { type: 'integer', description: 'Attempts begun for this item.' },
    dueAt: nullable(isoDate),
    error: nullable(errorRecordSchema),
    child: nullable({
      type: 'object',
      description: 'The child run a WAITING item waits for (its handler returned `child`), with its flow and status.',
      properties: childRefProperties,
    }),
  },
} as const;

/** A live branch in full (`Run.branches`). */
export const branchSchema = {
  type: 'object',
  description:
    "One live branch (token) of a run. A run without `split: 'all'` nodes has exactly one; a split starts one per edge taken, " +
    'a `join` gathers them. The list holds the branches alive now (RUNNING/WAITING runs; a FAILED run keeps the branch that failed it), never history: ' +
    'the timeline tells that (BRANCH_STARTED, BRANCH_ENDED, BRANCH_ABORTED, JOIN_ARRIVED, JOIN_COMPLETED, MAP_STARTED).',
  properties: {
    ...branchCoreProperties,
    waitTimedOut: {
      type: 'boolean',
      description: 'The event wait’s timeoutMs passed without the event: the next attempt sees ctx.meta.waitTimedOut === true.',
    },
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
  traceparent: nullable({ type: 'string', description: 'The W3C trace context every step’s span belongs to (see `startRun({ traceparent })`).' }),
  outcome: nullable({
    type: 'string',
    description: 'The business outcome (`refunded`, `declined`…): the last one a node’s ok result set (null until one does), kept whatever the run ends with.',
  }),
  parentRunId: nullable({ type: 'string', description: 'The run whose node started this one as a child run (null for a top-level run).' }),
  parentNodeId: nullable({ type: 'string', description: 'The parent’s node that started it.' }),
  failureOf: nullable({
    type: 'string',
    description: 'A run of an onFailure flow: the failed run it handles (its input is { runId, flowId, version, error } of that run). Not a parent.',
  }),
  failureHandlerRunId: nullable({ type: 'string', description: 'A run that ended FAILED: the run of its flow’s onFailure flow, started in the same write.' }),
  priority: { type: 'integer', description: 'Claim order: higher first (docs/flow-control.md).' },
  flowControl: nullable({
    type: 'object',
    additionalProperties: true,
    description: 'The run’s flow control limits with the keys its key functions gave at start (`concurrency`, `rateLimit`, `debounce`); null: none.',
  }),
  hasInbox: {
    type: 'boolean',
    description:
      'Answers (a resume, an event, a child’s end) wait in the run’s inbox for its holder (a worker, a tick) to apply; until then the branches they answer still show WAITING.',
  },
  compensated: nullable({
    type: 'boolean',
    description:
      'Set when the run ended by undoing what it did (it failed, or was cancelled with compensate): true when every compensation succeeded, false when one failed for good.',
  }),
  scheduleId: nullable({ type: 'string', description: 'The schedule that started this run (null for any other run).' }),
  scheduledAt: nullable({ ...isoDate, description: 'The schedule’s tick that started it (null for any other run).' }),
  forkedFrom: nullable({
    type: 'object',
    description: 'A run made by POST /v1/runs/{runId}/fork: the run it was forked from and the node it runs on from (null for any other run).',
    properties: { runId: { type: 'string' }, nodeId: { type: 'string' } },
  }),
  branches: { type: 'array', items: branchSummarySchema, description: 'The run’s live branches, compact (see Run.branches).' },
} as const;

export const childRunSchema = {
  type: 'object',
  description: 'A child run, as its parent’s resource lists it.',
  properties: {
    runId: { type: 'string' },
    flowId: { type: 'string' },
    flowVersion: { type: 'string' },
    status: { type: 'string', enum: [...RUN_STATUSES] },
    parentNodeId: nullable({ type: 'string', description: 'The parent’s node that started it.' }),
  },
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
    compensation: {
      description:
        'Null, or { finished, phase }: the finished nodes the run could undo (in finishing order) and, while or after it undoes them, its compensation (cause, error, steps left, failures).',
    },
    version: { type: 'integer' },
    lastSeq: {
      type: 'integer',
      description:
        'The `seq` of the run’s last timeline event: how long its timeline is (GET /v1/runs/{runId}/timeline pages it; `after=lastSeq - n` reads the last n events).',
    },
    traceUrl: nullable({
      type: 'string',
      description: 'A link to the run’s trace, when the server has a trace URL template (the runtime’s traceUrl, FLOW_TRACE_URL); null otherwise.',
    }),
    branches: {
      type: 'array',
      items: branchSchema,
      description:
        "The live branches: one per place the run is at now (several after a `split: 'all'`). currentNodeId is the first one’s node. " +
        'Empty once the run COMPLETED or was CANCELLED. Resume one WAITING branch with POST /v1/runs/{runId}/resume?nodeId=<its nodeId>.',
    },
    children: {
      type: 'array',
      items: childRunSchema,
      description: `The run’s child runs, newest first: the first ${RUN_CHILDREN_PAGE} (childrenNextCursor pages on with GET /v1/runs?parentRunId=<runId>&cursor=…).`,
    },
    childrenNextCursor: nullable({
      type: 'string',
      description: 'Set when the run has more children than `children` lists: the cursor of GET /v1/runs?parentRunId=<runId>.',
    }),
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
        "BRANCH_ABORTED (a join 'any' fired without it, or a sibling failed the run; payload { reason, by? }), " +
        'JOIN_ARRIVED (payload { joinNodeId, waitingFor: branch ids that can still arrive }), JOIN_COMPLETED (payload { joined }), ' +
        'MAP_STARTED (a forEach node began its map; payload { items, concurrency }); ' +
        'EVENT_RECEIVED (an event answered the branch’s event wait; payload { eventId, name, key }), ' +
        'CHILD_STARTED (the node or item started a child run; payload { childRunId, flowId, version }), ' +
        'CHILD_FINISHED (that child run ended; payload { childRunId, status }); ' +
        'FAILURE_HANDLER_STARTED (the run ended FAILED and started its flow’s onFailure run; payload { handlerRunId, flowId, version }), ' +
        'FAILURE_HANDLER_SKIPPED (the run ended FAILED and its onFailure run was not started; payload { flowId, version, reason }); ' +
        'RUN_MIGRATED (the run moved to another version; payload { fromVersion, toVersion, nodeMap }), RUN_RETRIED (a FAILED or CANCELLED run went back to RUNNING; payload { status, fromNodeIds }), ' +
        'RUN_FORKED (the first event of a fork; payload { runId, nodeId, version, outputs }: the source, the node, and the outputs it kept). ' +
        'NODE_FINISHED’s payload (null when empty): { next?: the node(s) the branch goes on to, cached?: true (an idempotency record’s result), items?: a map’s item count, ' +
        'outcome?: the business outcome the result set as the run’s }.',
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
    unfinishedRuns: { type: 'integer', description: 'Its RUNNING and WAITING runs.' },
    strandedRuns: {
      type: 'integer',
      description:
        'Its runs due now that no process serves (the version is registered nowhere): left behind by a deploy. Migrate them, or serve the version again.',
    },
    definitionJson: { type: 'object', description: 'The graph: entry, nodes (with options), edges (priority, conditional, when).' },
    flowControl: nullable({
      type: 'object',
      additionalProperties: true,
      description:
        'Its flow control limits as registered in the serving process (`concurrency`, `rateLimit`, `debounce`; `keyed`: the limit has a key function); null: none.',
    }),
  },
} as const;

export const sendEventResponseSchema = {
  type: 'object',
  properties: {
    eventId: { type: 'string', description: 'The stored event’s id (EVENT_RECEIVED events name it).' },
    delivered: {
      type: 'integer',
      description:
        'Waiting run branches the event was delivered to now (each gets it once). They move on when their holder (a worker, or a tick) applies it. ' +
        'Runs created before the event that reach a wait for it later receive it then (events are kept for the engine’s eventRetentionMs, 7 days by default).',
    },
  },
} as const;

export const healthSchema = {
  type: 'object',
  properties: {
    status: {
      type: 'string',
      enum: ['ok', 'degraded', 'unavailable'],
      description: "'degraded' (HTTP 200) when the store is alive but busy (storage.status 'busy'); 'unavailable' (HTTP 503) when it does not answer.",
    },
    storage: {
      type: 'object',
      properties: {
        kind: { type: 'string' },
        durable: { type: 'boolean' },
        status: { type: 'string', enum: ['up', 'busy', 'down'] },
        error: {
          type: 'object',
          description: 'When down: the code only; the message is masked.',
          properties: { code: { type: 'string' }, message: { type: 'string' } },
        },
      },
    },
    worker: {
      type: 'object',
      properties: {
        status: { type: 'string' },
        lastError: nullable({
          type: 'object',
          description: 'The code only; the message is masked.',
          properties: { code: { type: 'string' }, message: { type: 'string' }, at: isoDate },
        }),
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
