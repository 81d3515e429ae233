/**
 * /v1/runs: start, tick, resume, cancel, get, timeline, list. Every id and filter reaches the
 * store as a bound parameter (the stores never build SQL from values), and every body is
 * validated by schema before the engine sees it, so a bad request writes nothing.
 */
import type { FastifyInstance } from 'fastify';
import type { FlowEngine } from '../../engine/engine.js';
import type { FlowRunStatus } from '../../definitions/types.js';
import { RunNotFoundError } from '../../errors.js';
import { runDto, runSummaryDto, eventDto } from './dto.js';
import { cancelRunBody, listRunsQuery, runIdParams, startRunBody } from './schemas.js';

interface StartBody {
  flowId: string;
  version: string;
  input?: unknown;
  tenantId?: string;
  idempotencyKey?: string;
  initialState?: Record<string, unknown>;
}

interface ListQuery {
  status?: string;
  flowId?: string;
  flowVersion?: string;
  tenantId?: string;
  limit?: string;
  cursor?: string;
}

type RunParams = { runId: string };

export function registerRunRoutes(app: FastifyInstance, engine: FlowEngine): void {
  app.post<{ Body: StartBody }>('/v1/runs/start', { schema: { body: startRunBody } }, async (req, reply) => {
    const { flowId, version, input, tenantId, idempotencyKey, initialState } = req.body;
    const result = await engine.startRun({ flowId, version, input: input ?? null, tenantId, idempotencyKey, initialState });
    // 201 for a new run; 200 when the idempotency key returned an existing one.
    return reply.code(result.created ? 201 : 200).send(result);
  });

  app.post<{ Params: RunParams }>('/v1/runs/:runId/tick', { schema: { params: runIdParams } }, async (req) => {
    // engine.tick() sleeps through a retry backoff (the seed's loop relies on it); over HTTP that
    // could hold a request for minutes, so a run not yet due comes back unchanged: its
    // nextAttemptAt says when to tick again.
    const run = await engine.getRun(req.params.runId);
    if (!run) throw new RunNotFoundError(req.params.runId);
    if (run.status === 'RUNNING' && run.dueInMs > 0) return { run: runDto(run) };
    return { run: runDto(await engine.tick(req.params.runId)) };
  });

  // The whole body is the payload (any JSON value); no body resumes with null.
  app.post<{ Params: RunParams; Body: unknown }>('/v1/runs/:runId/resume', { schema: { params: runIdParams } }, async (req) => {
    return { run: runDto(await engine.resumeRun(req.params.runId, req.body)) };
  });

  app.post<{ Params: RunParams; Body: { reason?: string } | undefined }>(
    '/v1/runs/:runId/cancel',
    {
      schema: { params: runIdParams, body: cancelRunBody },
      // The reason is optional, so is the body: validate an absent one as {}.
      preValidation: async (req) => {
        if (req.body === undefined || req.body === null) req.body = {};
      },
    },
    async (req) => {
      return { run: runDto(await engine.cancelRun(req.params.runId, req.body?.reason)) };
    },
  );

  app.get<{ Params: RunParams }>('/v1/runs/:runId', { schema: { params: runIdParams } }, async (req) => {
    const run = await engine.getRun(req.params.runId);
    if (!run) throw new RunNotFoundError(req.params.runId);
    return { run: runDto(run) };
  });

  app.get<{ Params: RunParams }>('/v1/runs/:runId/timeline', { schema: { params: runIdParams } }, async (req) => {
    const events = await engine.getTimeline(req.params.runId);
    return { runId: req.params.runId, events: events.map(eventDto) };
  });

  app.get<{ Querystring: ListQuery }>('/v1/runs', { schema: { querystring: listRunsQuery } }, async (req) => {
    const q = req.query;
    const page = await engine.listRuns({
      status: q.status ? (q.status.split(',') as FlowRunStatus[]) : undefined,
      flowId: q.flowId,
      flowVersion: q.flowVersion,
      tenantId: q.tenantId,
      limit: q.limit === undefined ? undefined : Number(q.limit),
      cursor: q.cursor,
    });
    return { runs: page.runs.map(runSummaryDto), nextCursor: page.nextCursor };
  });
}
