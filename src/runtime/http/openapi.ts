/**
 * The OpenAPI 3.1 document served at /openapi.json, assembled from the same schemas the routes
 * validate with (schemas.ts), so the document cannot drift from what the server accepts.
 */
import {
  branchSchema,
  branchSummarySchema,
  cancelRunBody,
  childRunSchema,
  emptyBody,
  errorSchema,
  eventSchema,
  flowSchema,
  healthSchema,
  listRunsQuery,
  mapItemSchema,
  resumeRunQuery,
  runSchema,
  runSummarySchema,
  sendEventBody,
  sendEventResponseSchema,
  startRunBody,
  timelineQuery,
} from './schemas.js';
import { scheduleSchema, schedulePaths } from './routes-schedules.js';
import { versionPaths } from './routes-versions.js';
import { operationsPaths } from './routes-operations.js';

const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const errorResponse = (description: string) => ({ description, ...json(ref('Error')) });

const runIdParam = { name: 'runId', in: 'path', required: true, schema: { type: 'string' } };
const runResponse = { description: 'The run after the operation', ...json({ type: 'object', properties: { run: ref('Run') } }) };
const common = {
  '400': errorResponse(
    'Malformed JSON (MALFORMED_JSON), a number JavaScript cannot hold exactly (INVALID_NUMBER: integers beyond ±(2^53−1), 1e400), wrong types (INVALID_REQUEST) or arguments (INVALID_ARGUMENT)',
  ),
  '401': errorResponse('Missing or wrong bearer token'),
  '403': errorResponse(
    'Another web page sent it (FORBIDDEN_ORIGIN: Origin is not this server), or, without a token, a Host that is not loopback (FORBIDDEN_HOST)',
  ),
};
const postErrors = {
  ...common,
  '413': errorResponse('Body over the size limit'),
  '415': errorResponse('Not a JSON body: every POST needs Content-Type: application/json and a body ({} when there is nothing to say)'),
};
const runErrors = { ...common, '404': errorResponse('Unknown run') };
const runPostErrors = { ...postErrors, '404': errorResponse('Unknown run') };
const busy = {
  '503': errorResponse(
    'BUSY: too many large reads at once on a server whose store runs in its own process (PGlite); retry after the Retry-After header’s seconds',
  ),
};

function queryParameters(schema: typeof listRunsQuery | typeof resumeRunQuery | typeof timelineQuery) {
  return Object.entries(schema.properties).map(([name, s]) => ({
    name,
    in: 'query',
    required: false,
    schema: s,
    description: (s as { description?: string }).description,
  }));
}

export function buildOpenApiDocument(version: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: '@hazeljs/flow runtime API',
      version,
      description:
        'Start, drive, resume, cancel and inspect durable flow runs, send the events they wait for, and schedule runs by cron or interval. Every error is `{ error: { code, message } }`. ' +
        'Every POST carries a JSON body (`Content-Type: application/json`); requests from other web pages (an `Origin` that is not this server) are refused.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Required when the server has an API token (FLOW_API_TOKEN).' } },
      schemas: {
        Run: runSchema,
        RunSummary: runSummarySchema,
        Branch: branchSchema,
        BranchSummary: branchSummarySchema,
        MapItem: mapItemSchema,
        ChildRun: childRunSchema,
        Event: eventSchema,
        Flow: flowSchema,
        Health: healthSchema,
        Error: errorSchema,
        Schedule: scheduleSchema,
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/runs/start': {
        post: {
          summary: 'Start a run of a registered flow',
          requestBody: { required: true, ...json(startRunBody) },
          responses: {
            '201': {
              description: 'Started',
              ...json({ type: 'object', properties: { runId: { type: 'string' }, status: { type: 'string' }, created: { type: 'boolean' } } }),
            },
            '200': { description: 'The idempotency key matched an existing run' },
            ...postErrors,
            '404': errorResponse('Unknown flow or version'),
            '409': errorResponse('Idempotency key used by another flow'),
            '422': errorResponse('Input cannot be stored as JSON (e.g. contains U+0000) or is over the value size limit'),
          },
        },
      },
      '/v1/runs/{runId}/tick': {
        post: {
          summary: 'Execute one attempt of the current node (a run still in retry backoff comes back unchanged; see nextAttemptAt)',
          parameters: [runIdParam],
          requestBody: { required: true, ...json(emptyBody) },
          responses: { '200': runResponse, ...runPostErrors, '409': errorResponse('Another worker holds the run (LOCK_BUSY)') },
        },
      },
      '/v1/runs/{runId}/resume': {
        post: {
          summary: 'Resume a WAITING run; the body (any JSON value, null for none) lands at ctx.state._resumePayload',
          description:
            'With `?nodeId=`, resumes only the branch of the run that waits at that node; without it, the run’s waiting node. ' +
            'A branch waiting for an event can be resumed too (as if the event came); one waiting for a child run cannot (the child answers it).',
          parameters: [runIdParam, ...queryParameters(resumeRunQuery)],
          requestBody: { required: true, ...json({ description: 'The payload: any JSON value (null for none).' }) },
          responses: {
            '200': runResponse,
            ...runPostErrors,
            '409': errorResponse(
              'The run (or the branch at nodeId) is not WAITING (INVALID_RUN_STATE), several branches wait and no nodeId says which (AMBIGUOUS_RESUME), or another resume of the same wait came first (INVALID_RUN_STATE). A worker holding the run is no error: the resume waits in the run’s inbox (hasInbox) for it',
            ),
            '422': errorResponse('Payload cannot be stored'),
          },
        },
      },
      '/v1/runs/{runId}/cancel': {
        post: {
          summary: 'Cancel a RUNNING or WAITING run',
          parameters: [runIdParam],
          requestBody: { required: true, ...json(cancelRunBody) },
          responses: { '200': runResponse, ...runPostErrors, '409': errorResponse('The run already finished: COMPLETED, FAILED or CANCELLED') },
        },
      },
      '/v1/runs/{runId}': {
        get: {
          summary: 'Get a run, with its parent (parentRunId) and its child runs (children)',
          parameters: [runIdParam],
          responses: { '200': runResponse, ...runErrors },
        },
      },
      '/v1/runs/{runId}/timeline': {
        get: {
          summary: 'The run’s audit timeline, in order, a page at a time',
          description:
            'One page: the events after `after` (a `seq`), at most `limit` (default and most 1000; without parameters, the first 1000). ' +
            'Read the next page with `after=<nextCursor>`; `nextCursor` is null when the page reached the end. Events appended meanwhile come on later pages, ' +
            'never twice: to follow a live run, ask again with the last `seq` you have. An `after` past the run’s last event is 400 INVALID_ARGUMENT.',
          parameters: [runIdParam, ...queryParameters(timelineQuery)],
          responses: {
            '200': {
              description: 'A page of events',
              ...json({
                type: 'object',
                properties: {
                  runId: { type: 'string' },
                  events: { type: 'array', items: ref('Event') },
                  nextCursor: { type: ['integer', 'null'], description: 'Pass as `after` for the next page; null: no more events (yet)' },
                },
              }),
            },
            ...runErrors,
            ...busy,
          },
        },
      },
      '/v1/runs': {
        get: {
          summary: 'List runs, newest first (parentRunId: the children of one run; outcome: by business outcome)',
          parameters: queryParameters(listRunsQuery),
          responses: {
            '200': {
              description: 'A page',
              ...json({ type: 'object', properties: { runs: { type: 'array', items: ref('RunSummary') }, nextCursor: { type: ['string', 'null'] } } }),
            },
            ...common,
            ...busy,
          },
        },
      },
      '/v1/events': {
        post: {
          summary: 'Send an event: every run branch waiting for its name (and key) gets it once, at ctx.state._resumePayload',
          description:
            'The event is stored first, then delivered to the inbox of each waiting run; the runs move on when their holder (a worker; without one, a tick) applies it. ' +
            'A run created before the event that reaches a wait for it later still receives it, for as long as events are kept (the engine’s eventRetentionMs, 7 days by default). ' +
            'Nothing is written when the name, key or payload is refused.',
          requestBody: { required: true, ...json(sendEventBody) },
          responses: {
            '202': { description: 'Stored, and delivered to `delivered` waiting run branches', ...json(sendEventResponseSchema) },
            ...postErrors,
            '400': errorResponse(
              'A name or key the engine does not accept (INVALID_ARGUMENT), wrong types or unknown properties (INVALID_REQUEST), malformed JSON (MALFORMED_JSON), ' +
                'a number JavaScript cannot hold exactly (INVALID_NUMBER)',
            ),
            '422': errorResponse('The payload cannot be stored as JSON (e.g. a string with U+0000) or is over the value size limit (SERIALIZATION_ERROR)'),
          },
        },
      },
      ...schedulePaths(common, postErrors),
      ...versionPaths(postErrors, errorResponse),
      ...operationsPaths(common),
      '/v1/flows': {
        get: {
          summary: 'Flows known to the store, with their graphs, each version’s unfinished runs and its stranded runs (due, and served by no process)',
          responses: { '200': { description: 'Flows', ...json({ type: 'object', properties: { flows: { type: 'array', items: ref('Flow') } } }) }, ...common },
        },
      },
      '/health': {
        get: {
          summary: 'Liveness, storage and worker status (no token needed; error messages masked)',
          security: [],
          responses: {
            '200': { description: 'Healthy, or degraded: the store is alive but busy (it did not answer within 50 ms)', ...json(ref('Health')) },
            '503': { description: 'The store does not answer', ...json(ref('Health')) },
          },
        },
      },
    },
  };
}
