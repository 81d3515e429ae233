/**
 * Operating the engine over HTTP: `GET /metrics` (Prometheus text, `engine.metrics()`) and
 * `GET /v1/workers` (the workers' registry, with the runs due for flows no live worker serves) —
 * each route's handler and OpenAPI path together here. Both need the API token when one is set
 * (a scraper sends `Authorization: Bearer <token>`; Prometheus: `authorization.credentials`).
 */
import type { FastifyInstance } from 'fastify';
import { flowKey } from '../../definitions/flow-key.js';
import type { FlowEngine } from '../../flow-engine.js';
import type { DueRunCount, WorkerRecord } from '../../storage/types.js';

export function registerOperationsRoutes(app: FastifyInstance, engine: FlowEngine): void {
  app.get('/metrics', async (_req, reply) => {
    const text = await engine.metrics();
    return reply.header('content-type', engine.metricsRegistry.contentType).send(text);
  });

  app.get('/v1/workers', async () => {
    const [workers, unserved] = await Promise.all([engine.listWorkers(), engine.unservedDueRuns()]);
    return { workers: workers.map(workerDto), unserved: unserved.map(unservedDto) };
  });
}

export function workerDto(w: WorkerRecord) {
  return {
    workerId: w.workerId,
    status: w.status,
    host: w.host,
    pid: w.pid,
    startedAt: w.startedAt.toISOString(),
    lastSeenAt: w.lastSeenAt.toISOString(),
    heartbeatMs: w.heartbeatMs,
    flowKeys: w.flowKeys,
    concurrency: w.concurrency,
    inFlight: w.inFlight,
  };
}

export function unservedDto(d: DueRunCount) {
  return { flowKey: flowKey(d.flowId, d.flowVersion), flowId: d.flowId, version: d.flowVersion, due: d.due, oldestDueSeconds: d.oldestDueSeconds };
}

const workerSchema = {
  type: 'object',
  properties: {
    workerId: { type: 'string' },
    status: { type: 'string', enum: ['live', 'silent'], description: 'silent: it missed 3 refreshes in a row (crashed, frozen or cut off); dropped after 30.' },
    host: { type: 'string' },
    pid: { type: 'integer' },
    startedAt: { type: 'string', format: 'date-time' },
    lastSeenAt: { type: 'string', format: 'date-time', description: 'Its last refresh, by the database clock.' },
    heartbeatMs: { type: 'integer', description: 'How often it refreshes.' },
    flowKeys: { type: 'array', items: { type: 'string' }, description: 'flowId@version of the flows it serves.' },
    concurrency: { type: 'integer' },
    inFlight: { type: 'integer', description: 'Runs it advanced at its last refresh.' },
  },
} as const;

const unservedSchema = {
  type: 'object',
  properties: {
    flowKey: { type: 'string' },
    flowId: { type: 'string' },
    version: { type: 'string' },
    due: { type: 'integer', description: 'Runs due now.' },
    oldestDueSeconds: { type: 'number', description: 'How long the oldest has been due.' },
  },
} as const;

export function operationsPaths(errors: Record<string, unknown>) {
  return {
    '/metrics': {
      get: {
        summary: 'Prometheus metrics: runs by status, runs due and the oldest due, steps, step durations, claim lag, runs in flight, commit batch sizes',
        responses: { '200': { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errors },
      },
    },
    '/v1/workers': {
      get: {
        summary: 'The workers recorded by every process (live or silent), and the runs due for flows no live worker serves',
        responses: {
          '200': {
            description: 'Workers, oldest first; unserved flow versions, longest due first',
            content: {
              'application/json': {
                schema: { type: 'object', properties: { workers: { type: 'array', items: workerSchema }, unserved: { type: 'array', items: unservedSchema } } },
              },
            },
          },
          ...errors,
        },
      },
    },
  };
}
