/**
 * The environment variables this package reads, and the defaults they stand in for: read here and
 * nowhere else in src/. Each is read when it is asked for, not at import, so that what a caller or
 * a test sets before a call is what the call sees. An explicit option always wins over its variable.
 *
 * Which store, when none is given: one rule for the library and the runtime, in storage/choose.ts
 * (`chooseStorage`): Postgres at DATABASE_URL, else PGlite in FLOW_DATA_DIR, else — for the
 * runtime — PGlite in DEFAULT_DATA_DIR, for the library memory.
 */
import { FlowError } from './errors.js';

/** The runtime's PGlite folder when neither `dataDir` nor FLOW_DATA_DIR is given (relative to the working directory; the library uses memory then). */
export const DEFAULT_DATA_DIR = '.flow-data';
/** The runtime's TCP port when neither `port` nor PORT is given. */
export const DEFAULT_PORT = 3000;
/** The address the runtime binds when neither `host` nor HOST is given: loopback only. */
export const DEFAULT_HOST = '127.0.0.1';
/** The server the CLI's API commands talk to when neither --url nor FLOW_URL is given. */
export const DEFAULT_API_URL = `http://${DEFAULT_HOST}:${DEFAULT_PORT}`;
/** 0.5.x's variable that `createFlowEngineFromEnv` looks at. */
export const DEFAULT_FLOW_PEER_VAR = 'AGENT_OS_FLOW_PEER';

/** The variables, each read at the moment it is asked for. */
export const environment = {
  /** DATABASE_URL: the Postgres connection string of every entry point given none (unset or empty: none). */
  get databaseUrl(): string | undefined {
    return process.env.DATABASE_URL || undefined;
  },
  /** FLOW_DATA_DIR: the PGlite folder of every entry point given no store, connection string or folder (unset or empty: none). */
  get dataDir(): string | undefined {
    return process.env.FLOW_DATA_DIR || undefined;
  },
  /** PORT: the runtime's TCP port (unset or empty: DEFAULT_PORT); anything but an integer from 0 to 65535 is refused. */
  get port(): number {
    return parsePort(process.env.PORT) ?? DEFAULT_PORT;
  },
  /** HOST: the address the runtime binds (unset: DEFAULT_HOST). */
  get host(): string {
    return process.env.HOST ?? DEFAULT_HOST;
  },
  /** FLOW_API_TOKEN: the bearer token the API requires and the CLI sends (unset or empty: none). */
  get apiToken(): string | undefined {
    return process.env.FLOW_API_TOKEN || undefined;
  },
  /** FLOW_ALLOW_INSECURE_BIND=1: `npm start` and `hazel-flow serve` may bind a public address without a token. */
  get allowInsecureBind(): boolean {
    return process.env.FLOW_ALLOW_INSECURE_BIND === '1';
  },
  /** FLOW_URL: the server the CLI's API commands talk to (unset: DEFAULT_API_URL). */
  get apiUrl(): string {
    return process.env.FLOW_URL ?? DEFAULT_API_URL;
  },
  /**
   * FLOW_PRUNE_EVERY: how often the runtime deletes finished runs past their retention (a
   * duration, see `parseDurationMs`; unset or empty: hourly when a flow has a `retention` or
   * FLOW_PRUNE_OLDER_THAN is set, else never).
   */
  get pruneEveryMs(): number | undefined {
    return parseDurationMs('FLOW_PRUNE_EVERY', process.env.FLOW_PRUNE_EVERY);
  },
  /** FLOW_PRUNE_OLDER_THAN: the runtime's retention for flows without one of their own (a duration; unset or empty: kept). */
  get pruneOlderThanMs(): number | undefined {
    return parseDurationMs('FLOW_PRUNE_OLDER_THAN', process.env.FLOW_PRUNE_OLDER_THAN);
  },
  /** FLOW_TRACE_URL: the runtime's trace link template, `{traceId}` filled from a run's traceparent (unset or empty: no link). */
  get traceUrl(): string | undefined {
    return process.env.FLOW_TRACE_URL || undefined;
  },
  /** FLOW_LOG_LEVEL: the least severe level the default logger writes: debug, info (default), warn or error; anything else is refused. */
  get logLevel(): 'debug' | 'info' | 'warn' | 'error' {
    const value = process.env.FLOW_LOG_LEVEL || 'info';
    if (value === 'debug' || value === 'info' || value === 'warn' || value === 'error') return value;
    throw new FlowError('INVALID_ARGUMENT', `FLOW_LOG_LEVEL must be debug, info, warn or error, got ${JSON.stringify(value)}`);
  },
  /** FLOW_LOG_FORMAT: json or pretty for the default logger (unset or empty: JSON lines unless the output is a terminal). */
  get logFormat(): 'json' | 'pretty' | undefined {
    const value = process.env.FLOW_LOG_FORMAT || undefined;
    if (value === undefined || value === 'json' || value === 'pretty') return value;
    throw new FlowError('INVALID_ARGUMENT', `FLOW_LOG_FORMAT must be json or pretty, got ${JSON.stringify(value)}`);
  },
  /** PGHOST, PGPORT, PGDATABASE: pg's own fallbacks for a pool given no connection string (used in messages only). */
  get pg(): { host?: string; port?: string; database?: string } {
    return { host: process.env.PGHOST, port: process.env.PGPORT, database: process.env.PGDATABASE };
  },
};

/** Whether `env[name]` (default: this process's AGENT_OS_FLOW_PEER) is exactly "1". */
export function flowPeerRequested(env: NodeJS.ProcessEnv = process.env, name: string = DEFAULT_FLOW_PEER_VAR): boolean {
  return env[name] === '1';
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration as milliseconds: a number with a unit — `500ms`, `30s`, `15m`, `12h`, `7d` — or a
 * bare number of milliseconds. Undefined for unset or empty; anything else is refused (an
 * INVALID_ARGUMENT naming `name`), as is a duration over 100 years.
 */
export function parseDurationMs(name: string, text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  const ms = m ? Math.round(Number(m[1]) * DURATION_UNITS_MS[m[2] ?? 'ms']!) : NaN;
  if (!Number.isSafeInteger(ms) || ms > 100 * 365 * DURATION_UNITS_MS.d!) {
    throw new FlowError('INVALID_ARGUMENT', `${name} must be a duration like 30s, 15m, 12h or 7d (a bare number is milliseconds), got ${JSON.stringify(text)}`);
  }
  return ms;
}

function parsePort(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new FlowError('INVALID_ARGUMENT', `PORT must be an integer from 0 to 65535, got ${JSON.stringify(text)}`);
  return port;
}
