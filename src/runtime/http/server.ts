/**
 * The HTTP server: Fastify with the REST API, the dashboard, /health and /openapi.json.
 * Fastify brings schema validation, a body size limit and content-type parsing; this module
 * adds the bearer-token gate and turns every failure into `{ error: { code, message } }`.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { FastifySchemaValidationError } from 'fastify/types/schema.js';
import type { FlowEngine } from '../../engine/engine.js';
import type { WorkerStatus } from '../../worker/types.js';
import { bearerTokenChecker } from './auth.js';
import { registerDashboard, isPublicAssetPath } from './dashboard-assets.js';
import { errorBody, toHttpError } from './errors.js';
import { flowDto } from './dto.js';
import { buildOpenApiDocument } from './openapi.js';
import { registerRunRoutes } from './routes-runs.js';

/** Default request body limit: the engine's default largest JSON value (1 MiB) plus room for the envelope. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024 + 16 * 1024;

export interface ApiServerOptions {
  engine: FlowEngine;
  /** When set, every route except /health and the dashboard's static files needs `Authorization: Bearer <token>`. */
  apiToken?: string;
  /** Largest request body in bytes (default {@link DEFAULT_BODY_LIMIT}); larger ones get 413. */
  bodyLimit?: number;
  /** The in-process worker's status for /health; absent or null = no worker here. */
  workerStatus?: () => WorkerStatus | null;
  /** Fastify logger option (default: off; the runtime prints its own start-up lines). */
  logger?: FastifyServerOptions['logger'];
  /** Serve the dashboard at / (default true). */
  dashboard?: boolean;
}

export const API_VERSION = '1.0.0';

export async function buildApiServer(options: ApiServerOptions): Promise<FastifyInstance> {
  const { engine } = options;
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // Wrong types are errors, not silently coerced ("5" is not a number), and unknown body
    // fields are rejected instead of dropped (a typo like "inptu" must not start a run without input).
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    schemaErrorFormatter: formatSchemaErrors,
  });
  // JSON only: Fastify also parses text/plain by default, which would let `curl -d hi` resume a
  // run with the string "hi". Other content types get 415.
  app.removeContentTypeParser('text/plain');
  const startedAt = Date.now();

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    return payload;
  });

  if (options.apiToken) {
    const check = bearerTokenChecker(options.apiToken);
    app.addHook('onRequest', async (req, reply) => {
      if (req.url === '/health' || req.url.startsWith('/health?') || isPublicAssetPath(req.url)) return;
      if (!check(req.headers.authorization)) {
        reply.header('www-authenticate', 'Bearer');
        return reply.code(401).send(
          errorBody('UNAUTHORIZED', req.headers.authorization ? 'Invalid API token' : 'Missing Authorization: Bearer <token> header'),
        );
      }
    });
  }

  app.setErrorHandler(async (err, req, reply) => {
    const { status, body, internal } = toHttpError(err);
    if (internal) req.log.error({ err }, 'request failed');
    if (internal && !options.logger) console.error(`[hazel-flow] ${req.method} ${req.url} failed:`, err);
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler(async (req, reply) =>
    reply.code(404).send(errorBody('NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`)),
  );

  registerRunRoutes(app, engine);

  app.get('/v1/flows', async () => ({ flows: (await engine.listFlows()).map(flowDto) }));

  app.get('/health', async () => ({
    status: 'ok',
    storage: { kind: engine.storage.kind, durable: engine.storage.durable },
    worker: workerHealth(options.workerStatus?.() ?? null),
    flows: engine.registry.keys().length,
    uptimeMs: Date.now() - startedAt,
  }));

  const openApi = buildOpenApiDocument(API_VERSION);
  app.get('/openapi.json', async () => openApi);

  if (options.dashboard !== false) registerDashboard(app);
  return app;
}

function workerHealth(status: WorkerStatus | null) {
  if (!status) return { status: 'disabled' };
  return {
    status: status.state.toLowerCase(),
    inFlight: status.inFlight,
    concurrency: status.concurrency,
    counters: status.counters,
    lastPollAt: status.lastPollAt?.toISOString() ?? null,
    lastError: status.lastError ? { ...status.lastError, at: status.lastError.at.toISOString() } : null,
  };
}

/** Ajv's messages, with the offending property named ("body has unknown property \"inptu\""). */
function formatSchemaErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const e = errors[0];
  const where = `${dataVar}${e.instancePath.replace(/\//g, '.')}`;
  let message: string;
  if (e.keyword === 'additionalProperties') message = `${where} has unknown property ${JSON.stringify(e.params.additionalProperty)}`;
  else if (e.keyword === 'required') message = `${where} must have property ${JSON.stringify(e.params.missingProperty)}`;
  else message = `${where} ${e.message ?? 'is invalid'}`;
  return new Error(message);
}
