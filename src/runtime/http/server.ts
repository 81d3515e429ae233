/**
 * The HTTP server: Fastify with the REST API, the dashboard, /health and /openapi.json.
 * Fastify brings schema validation, a body size limit and content-type parsing; this module
 * adds the gates every request passes and turns every failure — Fastify's own included — into
 * `{ error: { code, message } }`. The gates, in order:
 * 1. without a token, only loopback `Host` names (a DNS-rebound page sends its own name);
 * 2. an `Origin` header must name this server (another site's page is refused, even no-cors);
 * 3. with a token, `Authorization: Bearer <token>` (except /health and the dashboard's files);
 * 4. a POST must carry a JSON body (`Content-Type: application/json`): a form or a bodyless
 *    no-cors fetch from another page is refused before it can change anything.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { FastifySchemaValidationError } from 'fastify/types/schema.js';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import type { FlowEngine } from '../../flow-engine.js';
import { FlowError } from '../../errors.js';
import type { WorkerStatus } from '../../worker/types.js';
import { parseExactJson } from '../exact-json.js';
import { assertValidApiToken, bearerTokenChecker, isLoopbackHostHeader, isSameOrigin } from './auth.js';
import { registerDashboard, isPublicAssetPath } from './dashboard-assets.js';
import { HttpError, errorBody, toHttpError } from './errors.js';
import { flowDto } from './dto.js';
import { RequestGate, heavyRequestLimits, type HeavyRequestLimits } from './gate.js';
import { StoreProbe } from './health.js';
import { buildOpenApiDocument } from './openapi.js';
import { registerRunRoutes } from './routes-runs.js';
import { registerScheduleRoutes } from './routes-schedules.js';
import { registerVersionRoutes } from './routes-versions.js';
import { registerOperationsRoutes } from './routes-operations.js';
import { assertValidTraceUrl } from './trace-link.js';
import type { FlowLogger } from '../../worker/logger.js';

/** Default request body limit: the engine's default largest JSON value (1 MiB) plus room for the envelope. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024 + 16 * 1024;

/** Default time a client has to send a whole request, headers and body (then 408 and the connection closes). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** Default time /health waits for the store to answer before reporting it down. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 2_000;

/** Default time /health waits for the store before it answers that the store is busy (see health.ts). */
export const DEFAULT_HEALTH_BUSY_AFTER_MS = 50;

/** How long a probe's answer stands on an embedded store, whose probes queue behind its work (see health.ts). */
const EMBEDDED_HEALTH_FRESH_MS = 1000;

/** Longest path parameter the router passes on; longer ones are a 414 (the schemas allow 200 for a run id). */
const MAX_PARAM_LENGTH = 500;

export interface ApiServerOptions {
  engine: FlowEngine;
  /**
   * When set, every route except /health and the dashboard's static files needs
   * `Authorization: Bearer <token>`. At least 16 visible ASCII characters; '' = no token.
   */
  apiToken?: string;
  /**
   * Which `Host` names requests may use: 'loopback' (localhost, 127.x, ::1) or 'any'.
   * Default: 'any' with a token, 'loopback' without one (the runtime passes 'any' with `allowInsecureBind`).
   */
  allowedHosts?: 'loopback' | 'any';
  /** Largest request body in bytes (default {@link DEFAULT_BODY_LIMIT}); larger ones get 413. */
  bodyLimit?: number;
  /** Time a client has to send a whole request (default {@link DEFAULT_REQUEST_TIMEOUT_MS}); then 408. */
  requestTimeoutMs?: number;
  /** Time the store has to answer /health's probe before it is reported down (default {@link DEFAULT_HEALTH_TIMEOUT_MS}). */
  healthTimeoutMs?: number;
  /**
   * Time a /health waits for the probe before it answers at once that the store is busy
   * (`status: 'degraded'`, storage `busy`; default {@link DEFAULT_HEALTH_BUSY_AFTER_MS}).
   */
  healthBusyAfterMs?: number;
  /**
   * How many heavy requests (a page of runs, a timeline) run at once and wait their turn; beyond
   * that, 503 BUSY with Retry-After. Default: `{ concurrency: 1, queue: 16 }` on an embedded store
   * (PGlite, whose queries run on this process's event loop), no bound on the others; false: none.
   */
  heavyRequests?: Partial<HeavyRequestLimits> | false;
  /** The in-process worker's status for /health; absent or null = no worker here. */
  workerStatus?: () => WorkerStatus | null;
  /** Fastify logger option (default: off; the runtime prints its own start-up lines). */
  logger?: FastifyServerOptions['logger'];
  /** Serve the dashboard at / (default true). */
  dashboard?: boolean;
  /**
   * Link each run to its trace: a URL template whose `{traceId}` (and `{spanId}`) the run's
   * traceparent fills, e.g. `https://jaeger.example.com/trace/{traceId}`. The run resource's
   * `traceUrl` and the dashboard's run page show it. Default: none.
   */
  traceUrl?: string;
  /** Where the server logs a request that failed unexpectedly and a store that stops answering /health (default: stderr). */
  log?: Pick<FlowLogger, 'error'>;
}

export const API_VERSION = '1.0.0';

export async function buildApiServer(options: ApiServerOptions): Promise<FastifyInstance> {
  const { engine } = options;
  assertValidApiToken(options.apiToken);
  assertValidTraceUrl(options.traceUrl);
  const token = options.apiToken || undefined;
  const checkToken = token ? bearerTokenChecker(token) : null;
  const loopbackOnly = (options.allowedHosts ?? (token ? 'any' : 'loopback')) === 'loopback';
  const requestTimeout = positiveInteger('requestTimeoutMs', options.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS);
  const healthTimeout = positiveInteger('healthTimeoutMs', options.healthTimeoutMs, DEFAULT_HEALTH_TIMEOUT_MS);
  const healthBusyAfter = positiveInteger('healthBusyAfterMs', options.healthBusyAfterMs, DEFAULT_HEALTH_BUSY_AFTER_MS);
  const limits = heavyRequestLimits(options.heavyRequests, engine.storage.embedded === true);
  const heavy = limits ? new RequestGate(limits) : null;
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // A client that sends its headers or body slowly (or never finishes) is cut off with a 408
    // instead of holding a connection forever. Node checks every `connectionsCheckingInterval`.
    requestTimeout,
    http: {
      requestTimeout,
      headersTimeout: Math.min(60_000, requestTimeout),
      connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(requestTimeout / 4))),
    },
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Wrong types are errors, not silently coerced ("5" is not a number), and unknown body
    // fields are rejected instead of dropped (a typo like "inptu" must not start a run without input).
    // Union types: a repeatable query parameter is one string or an array of them (`outcome`).
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, allowUnionTypes: true } },
    schemaErrorFormatter: formatSchemaErrors,
    // Errors the router raises before any route or hook (an undecodable or overlong path).
    frameworkErrors: (err, req, reply) => {
      if (refuseUnauthorized(req, reply)) return;
      const { status, body } = toHttpError(err);
      const path = req.url.split('?')[0];
      const shown = path.length > 120 ? `${path.slice(0, 117)}...` : path;
      if (body.error.code === 'URI_TOO_LONG') body.error.message = `Path ${shown} has a segment over ${MAX_PARAM_LENGTH} characters`;
      else if (body.error.code === 'BAD_URL') body.error.message = `Path ${shown} is not a valid URL (bad percent-encoding)`;
      void (reply as FastifyReply).code(status).send(body);
    },
    // Requests Node's HTTP parser rejects (malformed, headers too large, too slow): same error shape.
    clientErrorHandler: writeClientError,
  });
  // JSON only: Fastify also parses text/plain by default, which would let `curl -d hi` resume a
  // run with the string "hi". And JSON through `parseExactJson`: a number JavaScript cannot hold
  // as written (2^53 and beyond, 1e400) is refused instead of rounded, and `__proto__` is an ordinary key.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      const text = body as string;
      if (text.trim() === '') throw new HttpError(400, 'MALFORMED_JSON', 'Body is empty: send a JSON value (e.g. {} or null)');
      done(null, parseExactJson(text, 'Body'));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  const startedAt = Date.now();

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    return payload;
  });

  function refuseUnauthorized(req: FastifyRequest, reply: FastifyReply): boolean {
    if (!checkToken || checkToken(req.headers.authorization)) return false;
    reply.header('www-authenticate', 'Bearer');
    void reply.code(401).send(errorBody('UNAUTHORIZED', req.headers.authorization ? 'Invalid API token' : 'Missing Authorization: Bearer <token> header'));
    return true;
  }

  app.addHook('onRequest', async (req, reply) => {
    if (loopbackOnly && !isLoopbackHostHeader(req.headers.host)) {
      return reply
        .code(403)
        .send(
          errorBody(
            'FORBIDDEN_HOST',
            'Without an API token this server answers only requests to localhost, 127.0.0.1 or [::1]; set FLOW_API_TOKEN to serve other host names',
          ),
        );
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !isSameOrigin(origin, req.headers.host)) {
      return reply.code(403).send(errorBody('FORBIDDEN_ORIGIN', 'Requests from other web pages are refused (the Origin header is not this server)'));
    }
    if (!(req.url === '/health' || req.url.startsWith('/health?') || isPublicAssetPath(req.url)) && refuseUnauthorized(req, reply)) return reply;
    if ((req.method === 'POST' || req.method === 'PUT') && req.routeOptions.url !== undefined && !isJsonContentType(req.headers['content-type'])) {
      const given = req.headers['content-type'] ? `got ${req.headers['content-type'].split(';')[0]}` : 'no body was sent';
      return reply
        .code(415)
        .send(
          errorBody(
            'UNSUPPORTED_MEDIA_TYPE',
            `A ${req.method} needs a JSON body with Content-Type: application/json (${given}); send {} when there is nothing else to say`,
          ),
        );
    }
  });

  app.setErrorHandler(async (err, req, reply) => {
    const { status, body, internal, headers } = toHttpError(err);
    if (headers) void reply.headers(headers);
    if (internal) req.log.error({ err }, 'request failed');
    if (internal && !options.logger) {
      // A request about a run names it, as every log line about a run does.
      const runId = (req.params as { runId?: unknown } | undefined)?.runId;
      if (options.log)
        options.log.error('request failed', { method: req.method, url: req.url.split('?')[0], ...(typeof runId === 'string' ? { runId } : {}), error: err });
      else console.error(`[hazel-flow] ${req.method} ${req.url} failed:`, err);
    }
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler(async (req, reply) => reply.code(404).send(errorBody('NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`)));

  registerRunRoutes(app, engine, heavy, options.traceUrl);
  registerScheduleRoutes(app, engine);
  registerVersionRoutes(app, engine);
  registerOperationsRoutes(app, engine);

  app.get('/v1/flows', async () => ({ flows: (await engine.listFlows()).map(flowDto) }));

  // Public (no token): says whether the store answers, never how it failed; answers promptly
  // even when the store is busy (see health.ts).
  const probe = new StoreProbe(engine.storage, healthTimeout, healthBusyAfter, engine.storage.embedded === true ? EMBEDDED_HEALTH_FRESH_MS : 0);
  let storeWasDown = false;
  app.get('/health', async (_req, reply) => {
    const health = await probe.check();
    const failure = health.status === 'down' ? health : null;
    if (failure && !storeWasDown && !options.logger) {
      if (options.log) options.log.error('/health: the store does not answer', { code: failure.code, error: failure.cause });
      else console.error('[hazel-flow] /health: the store does not answer:', failure.cause);
    }
    storeWasDown = failure !== null;
    const storage = { kind: engine.storage.kind, durable: engine.storage.durable, status: health.status };
    return reply.code(failure ? 503 : 200).send({
      status: failure ? 'unavailable' : health.status === 'busy' ? 'degraded' : 'ok',
      storage: failure ? { ...storage, error: { code: failure.code, message: `Internal error (${failure.code})` } } : storage,
      worker: workerHealth(options.workerStatus?.() ?? null),
      flows: engine.flowKeys().length,
      uptimeMs: Date.now() - startedAt,
    });
  });

  const openApi = buildOpenApiDocument(API_VERSION);
  app.get('/openapi.json', async () => openApi);

  if (options.dashboard !== false) registerDashboard(app);
  return app;
}

function isJsonContentType(value: string | undefined): boolean {
  return value !== undefined && value.split(';')[0].trim().toLowerCase() === 'application/json';
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1)
    throw new FlowError('INVALID_ARGUMENT', `${name} must be a positive integer (milliseconds), got ${String(value)}`, {});
  return value;
}

function writeClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'REQUEST_TIMEOUT', 'The request was not received in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'HEADERS_TOO_LARGE', 'The request headers are too large']
        : [400, 'BAD_REQUEST', 'The request is not valid HTTP'];
  const body = JSON.stringify(errorBody(code, message));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** The worker's status as /health shows it: its last error by code only (its text can name hosts, users, databases). */
function workerHealth(status: WorkerStatus | null) {
  if (!status) return { status: 'disabled' };
  const lastError = status.lastError;
  const code = lastError?.code ?? 'INTERNAL_ERROR';
  return {
    status: status.state.toLowerCase(),
    inFlight: status.inFlight,
    concurrency: status.concurrency,
    counters: status.counters,
    lastPollAt: status.lastPollAt?.toISOString() ?? null,
    lastError: lastError ? { code, message: `Internal error (${code})`, at: lastError.at.toISOString() } : null,
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
