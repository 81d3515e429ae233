/**
 * The OpenAPI 3.1 document served at /openapi.json, assembled from the same schemas the routes
 * validate with (schemas.ts), so the document cannot drift from what the server accepts.
 */
import {
  cancelRunBody,
  errorSchema,
  eventSchema,
  flowSchema,
  healthSchema,
  listRunsQuery,
  runSchema,
  runSummarySchema,
  startRunBody,
} from './schemas.js';

const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const errorResponse = (description: string) => ({ description, ...json(ref('Error')) });

const runIdParam = { name: 'runId', in: 'path', required: true, schema: { type: 'string' } };
const runResponse = { description: 'The run after the operation', ...json({ type: 'object', properties: { run: ref('Run') } }) };
const common = { '401': errorResponse('Missing or wrong bearer token'), '400': errorResponse('Malformed JSON or wrong types') };
const runErrors = { ...common, '404': errorResponse('Unknown run') };

function queryParameters(schema: typeof listRunsQuery) {
  return Object.entries(schema.properties).map(([name, s]) => ({ name, in: 'query', required: false, schema: s, description: (s as { description?: string }).description }));
}

export function buildOpenApiDocument(version: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: '@hazeljs/flow runtime API',
      version,
      description: 'Start, drive, resume, cancel and inspect durable flow runs. Errors are `{ error: { code, message } }`.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Required when the server has an API token (FLOW_API_TOKEN).' } },
      schemas: { Run: runSchema, RunSummary: runSummarySchema, Event: eventSchema, Flow: flowSchema, Health: healthSchema, Error: errorSchema },
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/runs/start': {
        post: {
          summary: 'Start a run of a registered flow',
          requestBody: { required: true, ...json(startRunBody) },
          responses: {
            '201': { description: 'Started', ...json({ type: 'object', properties: { runId: { type: 'string' }, status: { type: 'string' }, created: { type: 'boolean' } } }) },
            '200': { description: 'The idempotency key matched an existing run' },
            ...common,
            '404': errorResponse('Unknown flow or version'),
            '409': errorResponse('Idempotency key used by another flow'),
            '413': errorResponse('Body over the size limit'),
            '422': errorResponse('Input cannot be stored as JSON (e.g. contains U+0000) or is over the value size limit'),
          },
        },
      },
      '/v1/runs/{runId}/tick': {
        post: { summary: 'Execute one attempt of the current node (a run still in retry backoff comes back unchanged; see nextAttemptAt)', parameters: [runIdParam], responses: { '200': runResponse, ...runErrors, '409': errorResponse('Another worker holds the run (LOCK_BUSY)') } },
      },
      '/v1/runs/{runId}/resume': {
        post: {
          summary: 'Resume a WAITING run; the body (any JSON) lands at ctx.state._resumePayload',
          parameters: [runIdParam],
          requestBody: { required: false, ...json({}) },
          responses: { '200': runResponse, ...runErrors, '409': errorResponse('The run is not WAITING, or is busy'), '413': errorResponse('Body over the size limit'), '422': errorResponse('Payload cannot be stored') },
        },
      },
      '/v1/runs/{runId}/cancel': {
        post: {
          summary: 'Cancel a RUNNING or WAITING run',
          parameters: [runIdParam],
          requestBody: { required: false, ...json(cancelRunBody) },
          responses: { '200': runResponse, ...runErrors, '409': errorResponse('The run already COMPLETED or FAILED') },
        },
      },
      '/v1/runs/{runId}': { get: { summary: 'Get a run', parameters: [runIdParam], responses: { '200': runResponse, ...runErrors } } },
      '/v1/runs/{runId}/timeline': {
        get: {
          summary: 'The run’s audit timeline, in order',
          parameters: [runIdParam],
          responses: { '200': { description: 'Events', ...json({ type: 'object', properties: { runId: { type: 'string' }, events: { type: 'array', items: ref('Event') } } }) }, ...runErrors },
        },
      },
      '/v1/runs': {
        get: {
          summary: 'List runs, newest first',
          parameters: queryParameters(listRunsQuery),
          responses: {
            '200': { description: 'A page', ...json({ type: 'object', properties: { runs: { type: 'array', items: ref('RunSummary') }, nextCursor: { type: ['string', 'null'] } } }) },
            ...common,
          },
        },
      },
      '/v1/flows': {
        get: { summary: 'Flows known to the store, with their graphs', responses: { '200': { description: 'Flows', ...json({ type: 'object', properties: { flows: { type: 'array', items: ref('Flow') } } }) }, ...common } },
      },
      '/health': {
        get: { summary: 'Liveness, storage and worker status (no token needed)', security: [], responses: { '200': { description: 'Healthy', ...json(ref('Health')) } } },
      },
    },
  };
}
