/**
 * Versions in operation: POST /v1/runs/:runId/retry, POST /v1/runs/:runId/fork and
 * POST /v1/flows/:flowId/migrate — each route's schema, handler and OpenAPI path together here.
 * Types and unknown properties are checked by schema (INVALID_REQUEST); what the engine refuses
 * (an unknown node, the same version twice, a run in another state) is its typed error, raised
 * before anything is written.
 */
import type { FastifyInstance } from 'fastify';
import type { FlowEngine } from '../../flow-engine.js';
import { runResource } from './routes-runs.js';
import { runIdParams } from './schemas.js';

const nodeId = { type: 'string', minLength: 1, maxLength: 200 } as const;
const statePatch = { type: 'object', description: 'Deep-merged into the run’s state before it goes on.' } as const;

export const retryRunBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    fromNodeId: { ...nodeId, description: 'Go back to this node instead of the node(s) the run stopped at.' },
    statePatch,
  },
} as const;

export const forkRunBody = {
  type: 'object',
  required: ['fromNodeId'],
  additionalProperties: false,
  properties: {
    fromNodeId: { ...nodeId, description: 'The node the fork runs on from: one the source run has started.' },
    statePatch,
    version: { type: 'string', minLength: 1, maxLength: 100, description: 'Run the fork on this version (registered on this server; default the source’s).' },
  },
} as const;

const flowIdParams = {
  type: 'object',
  required: ['flowId'],
  properties: { flowId: { type: 'string', minLength: 1, maxLength: 200, description: 'Flow id.' } },
} as const;

export const migrateRunsBody = {
  type: 'object',
  required: ['fromVersion', 'toVersion'],
  additionalProperties: false,
  properties: {
    fromVersion: { type: 'string', minLength: 1, maxLength: 100, description: 'The version the runs are on.' },
    toVersion: { type: 'string', minLength: 1, maxLength: 100, description: 'The version they move to (registered on this server).' },
    nodeMap: {
      type: 'object',
      additionalProperties: { type: 'string', minLength: 1, maxLength: 200 },
      description: 'Old node id → new node id, for nodes renamed in toVersion.',
    },
    runIds: {
      type: 'array',
      items: { type: 'string', minLength: 1, maxLength: 200 },
      maxItems: 10_000,
      description: 'Only these runs (default: every unfinished run).',
    },
    dryRun: { type: 'boolean', description: 'Decide, change nothing (default false).' },
  },
} as const;

const migrateResultSchema = {
  type: 'object',
  properties: {
    migrated: { type: 'array', items: { type: 'string' }, description: 'Runs moved to toVersion.' },
    blocked: {
      type: 'array',
      description: 'Runs left untouched, each with why (a node toVersion lacks, a map or join that would not mean the same, held by a worker).',
      items: { type: 'object', properties: { runId: { type: 'string' }, reason: { type: 'string' } } },
    },
  },
} as const;

export function registerVersionRoutes(app: FastifyInstance, engine: FlowEngine): void {
  app.post<{ Params: { runId: string }; Body: { fromNodeId?: string; statePatch?: Record<string, unknown> } }>(
    '/v1/runs/:runId/retry',
    { schema: { params: runIdParams, body: retryRunBody } },
    async (req) => runResource(engine, await engine.retryRun(req.params.runId, req.body)),
  );

  app.post<{ Params: { runId: string }; Body: { fromNodeId: string; statePatch?: Record<string, unknown>; version?: string } }>(
    '/v1/runs/:runId/fork',
    { schema: { params: runIdParams, body: forkRunBody } },
    async (req, reply) => reply.code(201).send(await engine.forkRun(req.params.runId, req.body)),
  );

  app.post<{
    Params: { flowId: string };
    Body: { fromVersion: string; toVersion: string; nodeMap?: Record<string, string>; runIds?: string[]; dryRun?: boolean };
  }>('/v1/flows/:flowId/migrate', { schema: { params: flowIdParams, body: migrateRunsBody } }, async (req) =>
    engine.migrateRuns({ flowId: req.params.flowId, ...req.body }),
  );
}

const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });

/** The OpenAPI paths of these routes (openapi.ts), with the errors every route shares. */
export function versionPaths(postErrors: Record<string, unknown>, errorResponse: (description: string) => unknown) {
  const runIdParam = { name: 'runId', in: 'path', required: true, schema: { type: 'string' } };
  return {
    '/v1/runs/{runId}/retry': {
      post: {
        summary: 'Put a FAILED or CANCELLED run back to RUNNING, same run id, from the node(s) it stopped at (or fromNodeId)',
        description:
          'Finished nodes are not run again; attempts start from 1 under each node’s retry policy; the run’s error goes and RUN_RETRIED is recorded. ' +
          'A run whose compensation ran (what it did was undone) starts over at the entry node. Workers (or ticks) drive it on.',
        parameters: [runIdParam],
        requestBody: { required: true, ...json(retryRunBody) },
        responses: {
          '200': { description: 'The run, RUNNING', ...json({ type: 'object', properties: { run: { $ref: '#/components/schemas/Run' } } }) },
          ...postErrors,
          '400': errorResponse('fromNodeId is not a node of the run’s flow, or statePatch is not an object (INVALID_ARGUMENT, INVALID_REQUEST)'),
          '404': errorResponse('Unknown run (RUN_NOT_FOUND), or its flow version is not registered on this server (FLOW_NOT_FOUND)'),
          '409': errorResponse('The run is not FAILED or CANCELLED (INVALID_RUN_STATE): of concurrent retries one wins'),
        },
      },
    },
    '/v1/runs/{runId}/fork': {
      post: {
        summary:
          'A new run that starts where the run first started fromNodeId (its input, the outputs finished by then, its state with statePatch), on version if given',
        description: 'The new run has forkedFrom { runId, nodeId } and a RUN_FORKED event; the source is untouched, whatever its status.',
        parameters: [runIdParam],
        requestBody: { required: true, ...json(forkRunBody) },
        responses: {
          '201': { description: 'The fork', ...json({ type: 'object', properties: { runId: { type: 'string' } } }) },
          ...postErrors,
          '400': errorResponse('fromNodeId is not a node of the flow, or the run never started it (INVALID_ARGUMENT)'),
          '404': errorResponse('Unknown run (RUN_NOT_FOUND), or the version is not registered on this server (FLOW_NOT_FOUND)'),
        },
      },
    },
    '/v1/flows/{flowId}/migrate': {
      post: {
        summary:
          'Move the unfinished runs of fromVersion (or runIds) to toVersion where their position exists there; the others are reported blocked, untouched',
        description:
          'Each moved run keeps its outputs and state, follows the new graph from where it is, and gets a RUN_MIGRATED event { fromVersion, toVersion, nodeMap }. ' +
          'A run held by a worker is never moved under it: it is blocked ("held by a worker, try again"). dryRun writes nothing and gives the same answer.',
        parameters: [{ name: 'flowId', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: { required: true, ...json(migrateRunsBody) },
        responses: {
          '200': { description: 'What moved and what did not', ...json(migrateResultSchema) },
          ...postErrors,
          '400': errorResponse('The same version twice, or a nodeMap naming a node either version lacks (INVALID_ARGUMENT)'),
          '404': errorResponse(
            'toVersion not registered on this server, fromVersion unknown to the store (FLOW_NOT_FOUND), or an unknown run in runIds (RUN_NOT_FOUND)',
          ),
        },
      },
    },
  };
}
