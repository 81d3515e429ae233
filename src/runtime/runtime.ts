/**
 * `runFlowRuntime`: one call that turns a list of flows into a running service — engine, store,
 * worker, REST API and dashboard — and one `close()` that stops it in the right order.
 */
import type { FastifyInstance } from 'fastify';
import type { FlowDefinition } from '../definitions/types.js';
import { FlowEngine, type FlowEngineOptions } from '../flow-engine.js';
import { DEFAULT_DATA_DIR, environment } from '../config.js';
import { FlowError } from '../errors.js';
import type { FlowStorage } from '../storage/types.js';
import type { WorkerOptions } from '../worker/types.js';
import type { FlowWorker } from '../worker/worker.js';
import { assertSafeBind, assertValidApiToken } from './http/auth.js';
import type { HeavyRequestLimits } from './http/gate.js';
import { buildApiServer } from './http/server.js';
import { assertValidTraceUrl } from './http/trace-link.js';
import { createFlowLogger, withFields, type FlowLogger } from '../worker/logger.js';
import { checkPruneOptions, startPruneSchedule, type PruneSchedule, type PruneScheduleOptions } from './prune-schedule.js';
import { chooseStorage } from '../storage/choose.js';

export interface FlowRuntimeOptions {
  /** The flows this service executes (from `flow(...).build()` or `buildFlowDefinition(Class)`). */
  flows: FlowDefinition[];
  /** TCP port (default: PORT, else 3000; 0 picks a free one). */
  port?: number;
  /** Address to bind (default: HOST, else 127.0.0.1). A non-loopback address needs `apiToken` or `allowInsecureBind`. */
  host?: string;
  /** Postgres connection string (default: DATABASE_URL). Without one the embedded PGlite store is used (storage/choose.ts). */
  databaseUrl?: string;
  /** An explicit store; wins over `databaseUrl`. */
  storage?: FlowStorage;
  /** PGlite data folder when no Postgres is configured (default: FLOW_DATA_DIR, else ./.flow-data). */
  dataDir?: string;
  /** Passed to every handler as `ctx.services`. */
  services?: Record<string, unknown>;
  /**
   * Bearer token required by the API (default: FLOW_API_TOKEN). Unset or '' = no authentication
   * (then only loopback Host names are answered). At least 16 visible ASCII characters: no whitespace.
   */
  apiToken?: string;
  /**
   * Allow a non-loopback bind without a token, e.g. behind an authenticating proxy (default false).
   * Requests then may use any Host name.
   */
  allowInsecureBind?: boolean;
  /** Run a worker in this process (default true), or its options; false = API only (workers run elsewhere). */
  worker?: boolean | WorkerOptions;
  /** Largest request body in bytes (default 1 MiB + 16 KiB). */
  bodyLimit?: number;
  /** Time a client has to send a whole request, headers and body (default 30 000 ms); then 408. */
  requestTimeoutMs?: number;
  /** Serve the dashboard at / (default true). */
  dashboard?: boolean;
  /**
   * Delete finished runs on a schedule (`engine.applyRetention`): every `everyMs` (default hourly),
   * each flow's runs past its own `retention`, and with `olderThanMs` those of every other flow
   * finished longer ago than that. Default: FLOW_PRUNE_EVERY / FLOW_PRUNE_OLDER_THAN; without
   * them, hourly when a flow has a `retention`, else never. false: never.
   */
  prune?: PruneScheduleOptions | false;
  /** Bound on heavy requests (a page of runs, a timeline): see `ApiServerOptions.heavyRequests`. */
  heavyRequests?: Partial<HeavyRequestLimits> | false;
  /**
   * Link runs to their traces in the dashboard and the API (`run.traceUrl`): a URL template whose
   * `{traceId}` a run's traceparent fills, e.g. `https://jaeger.example.com/trace/{traceId}`
   * (default: FLOW_TRACE_URL; none without it).
   */
  traceUrl?: string;
  /**
   * Where the runtime and its worker log (a pino or winston logger fits; the worker's own `logger`
   * option wins for the worker). Default: the structured logger — JSON lines when the output is
   * not a terminal, readable lines on one (FLOW_LOG_FORMAT, FLOW_LOG_LEVEL).
   */
  logger?: FlowLogger;
  /** Further engine options (clock, maxJsonBytes, maxRecoveries). */
  engine?: Omit<FlowEngineOptions, 'storage' | 'databaseUrl' | 'services'>;
}

export interface FlowRuntime {
  /** Base URL of the server, e.g. http://127.0.0.1:3000 */
  url: string;
  engine: FlowEngine;
  /** The in-process worker, or null when disabled. */
  worker: FlowWorker | null;
  server: FastifyInstance;
  /** Stops accepting requests, lets the worker finish its in-flight steps, closes the store. Idempotent. */
  close(): Promise<void>;
}

export async function runFlowRuntime(options: FlowRuntimeOptions): Promise<FlowRuntime> {
  if (!options || !Array.isArray(options.flows)) throw new FlowError('INVALID_ARGUMENT', 'runFlowRuntime: flows must be an array of flow definitions');
  const host = options.host ?? environment.host;
  const port = options.port ?? environment.port;
  const apiToken = options.apiToken ?? environment.apiToken;
  // Checked before anything is opened: a refused start must leave nothing behind.
  assertValidApiToken(apiToken);
  assertSafeBind(host, apiToken, options.allowInsecureBind ?? false);
  const traceUrl = options.traceUrl ?? environment.traceUrl;
  const logger = options.logger ?? createFlowLogger();
  const logOf = (component: string) => (options.logger ? logger : withFields(logger, { component }));
  assertValidTraceUrl(traceUrl);
  const prune = pruneSchedule(options);

  const storage = chooseStorage({ storage: options.storage, databaseUrl: options.databaseUrl, dataDir: options.dataDir, defaultDataDir: DEFAULT_DATA_DIR });
  const engine = new FlowEngine({ ...options.engine, storage, services: options.services });
  let worker: FlowWorker | null = null;
  let server: FastifyInstance | undefined;
  try {
    for (const def of options.flows) await engine.registerDefinition(def);
    if (options.worker !== false) {
      const workerOptions = options.worker === true || options.worker === undefined ? {} : options.worker;
      worker = engine.startWorker({ logger: logOf('worker'), ...workerOptions });
    }
    server = await buildApiServer({
      engine,
      apiToken,
      allowedHosts: apiToken || options.allowInsecureBind ? 'any' : 'loopback',
      bodyLimit: options.bodyLimit,
      requestTimeoutMs: options.requestTimeoutMs,
      dashboard: options.dashboard,
      heavyRequests: options.heavyRequests,
      workerStatus: () => worker?.status() ?? null,
      traceUrl,
      log: logOf('http'),
    });
    await server.listen({ host, port });
  } catch (err) {
    await server?.close().catch(() => {});
    await engine.close().catch(() => {});
    throw err;
  }

  const address = server.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const url = `http://${urlHost(host)}:${boundPort}`;
  const pruning: PruneSchedule | null = prune ? startPruneSchedule(engine, prune, logOf('prune')) : null;
  let closing: Promise<void> | undefined;
  const app = server;
  return {
    url,
    engine,
    worker,
    server: app,
    close: () =>
      (closing ??= (async () => {
        // Stop pruning and taking requests first (in-flight ones finish), then the worker drains, then the store closes.
        await pruning?.stop();
        await app.close();
        await engine.close();
      })()),
  };
}

/** The prune schedule asked for (see `FlowRuntimeOptions.prune`), checked; null for none. */
function pruneSchedule(options: FlowRuntimeOptions): (PruneScheduleOptions & { everyMs: number }) | null {
  if (options.prune === false) return null;
  if (options.prune !== undefined) return checkPruneOptions(options.prune);
  const everyMs = environment.pruneEveryMs;
  const olderThanMs = environment.pruneOlderThanMs;
  const retention = options.flows.some((def) => def?.retention !== undefined);
  if (everyMs === undefined && olderThanMs === undefined && !retention) return null;
  return checkPruneOptions({ everyMs, olderThanMs });
}

/** A URL a browser on this machine can open: wildcard binds are reached through localhost. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return 'localhost';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
