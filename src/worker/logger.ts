/**
 * The one logger of the worker and the runtime: JSON lines when the output is not a terminal (a
 * container, a log shipper), readable lines on a terminal — `FLOW_LOG_FORMAT` (json | pretty)
 * decides otherwise, `FLOW_LOG_LEVEL` (debug | info | warn | error, default info) the least
 * severe level written. Debug and info go to stdout, warnings and errors to stderr.
 *
 * A JSON line: `{"time":"…","level":"info","msg":"…","component":"worker",…}` then the line's
 * fields. Every line about a run carries `runId`, `flow` (its flow id), `version` and, when a node
 * is concerned, `node` (`runFields`).
 *
 * A `logger` passed by the user (`console`, pino, winston: anything with debug/info/warn/error
 * taking a message and an object) replaces it wholesale; `withFields` adds the component's fields
 * to whichever is in use.
 */
import { environment } from '../config.js';
import type { FlowRunRecord } from '../storage/types.js';
import type { WorkerLogger } from './types.js';

/** What the engine's components log through: the `WorkerLogger` shape (a pino or winston logger fits). */
export type FlowLogger = WorkerLogger;
type Level = 'debug' | 'info' | 'warn' | 'error';
const SEVERITY: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface FlowLoggerOptions {
  /** Default: FLOW_LOG_FORMAT, else `json` unless the stream is a terminal. */
  format?: 'json' | 'pretty';
  /** Default: FLOW_LOG_LEVEL, else `info`. */
  level?: Level;
  /** Where lines go (default: stdout for debug and info, stderr for warn and error). */
  write?: (level: Level, line: string) => void;
}

/** The default logger (see the module comment). Options are read once, here. */
export function createFlowLogger(options: FlowLoggerOptions = {}): FlowLogger {
  const min = SEVERITY[options.level ?? environment.logLevel];
  const forced = options.format ?? environment.logFormat;
  const write = options.write ?? ((level, line) => (SEVERITY[level] >= SEVERITY.warn ? process.stderr : process.stdout).write(`${line}\n`));
  const formatOf = (level: Level) => forced ?? ((SEVERITY[level] >= SEVERITY.warn ? process.stderr : process.stdout).isTTY ? 'pretty' : 'json');
  const log = (level: Level) => (message: string, meta?: Record<string, unknown>) => {
    if (SEVERITY[level] < min) return;
    write(level, formatOf(level) === 'json' ? jsonLine(level, message, meta) : prettyLine(level, message, meta));
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/** `logger` with `fields` added to every line (a line's own fields win). */
export function withFields(logger: FlowLogger, fields: Record<string, unknown>): FlowLogger {
  const wrap = (level: Level) => (message: string, meta?: Record<string, unknown>) => logger[level](message, { ...fields, ...meta });
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
}

/** The fields of every line about a run. */
export function runFields(run: Pick<FlowRunRecord, 'runId' | 'flowId' | 'flowVersion'>, nodeId?: string | null): Record<string, unknown> {
  return { runId: run.runId, flow: run.flowId, version: run.flowVersion, ...(nodeId ? { node: nodeId } : {}) };
}

function jsonLine(level: Level, msg: string, meta?: Record<string, unknown>): string {
  const seen = new WeakSet<object>();
  return JSON.stringify({ time: new Date().toISOString(), level, msg, ...meta }, (_key, value: unknown) => {
    if (value instanceof Error) return { name: value.name, message: value.message, ...('code' in value ? { code: value.code } : {}) };
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'object' && value !== null) {
      if (seen.has(value)) return '[Circular]';
      seen.add(value);
    }
    return value;
  });
}

function prettyLine(level: Level, msg: string, meta?: Record<string, unknown>): string {
  const { component, ...rest } = meta ?? {};
  const fields = Object.entries(rest)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : (safeJson(v) ?? String(v))}`)
    .join(' ');
  const time = new Date().toISOString().slice(11, 23);
  return `${time} ${level.toUpperCase().padEnd(5)} [hazel-flow${component ? ` ${String(component)}` : ''}] ${msg}${fields ? `  ${fields}` : ''}`;
}

function safeJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Error ? v.message : v));
  } catch {
    return undefined;
  }
}
