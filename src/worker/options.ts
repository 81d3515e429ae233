/**
 * Worker options with their defaults applied and checked once, at `startWorker`, so that a typo
 * fails at once with a message naming the option instead of surfacing as a stuck worker.
 */
import { InvalidArgumentError } from '../errors.js';
import type { WorkerLogger, WorkerOptions } from './types.js';
import { createFlowLogger, withFields } from './logger.js';

export const WORKER_DEFAULTS = {
  concurrency: 8,
  pollIntervalMs: 1000,
  stopTimeoutMs: 10_000,
  maxStepsPerClaim: 100,
  heartbeatIntervalMs: 10_000,
} as const;

export interface ResolvedWorkerOptions {
  concurrency: number;
  pollIntervalMs: number;
  batchSize: number;
  stopTimeoutMs: number;
  maxStepsPerClaim: number;
  logger: WorkerLogger;
  openTelemetry: boolean;
  heartbeatIntervalMs: number;
}

const KNOWN = new Set(['concurrency', 'pollIntervalMs', 'batchSize', 'stopTimeoutMs', 'maxStepsPerClaim', 'logger', 'openTelemetry', 'heartbeatIntervalMs']);

/** `fields`: what the default logger adds to each line (the worker's id). */
export function resolveWorkerOptions(options: WorkerOptions, fields: Record<string, unknown> = {}): ResolvedWorkerOptions {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('startWorker: options must be an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new InvalidArgumentError(`startWorker: unknown option "${key}" (known: ${[...KNOWN].join(', ')})`);
  }
  const concurrency = integer('concurrency', options.concurrency, WORKER_DEFAULTS.concurrency, 1);
  // The default: the structured logger (logger.ts), JSON lines unless on a terminal, each line with `component: 'worker'`.
  const logger = options.logger ?? withFields(createFlowLogger(), { component: 'worker', ...fields });
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    if (typeof logger[level] !== 'function') throw new InvalidArgumentError(`startWorker: logger.${level} must be a function`);
  }
  if (options.openTelemetry !== undefined && typeof options.openTelemetry !== 'boolean') {
    throw new InvalidArgumentError('startWorker: openTelemetry must be a boolean');
  }
  return {
    concurrency,
    pollIntervalMs: integer('pollIntervalMs', options.pollIntervalMs, WORKER_DEFAULTS.pollIntervalMs, 1),
    batchSize: integer('batchSize', options.batchSize, concurrency, 1),
    stopTimeoutMs: integer('stopTimeoutMs', options.stopTimeoutMs, WORKER_DEFAULTS.stopTimeoutMs, 0),
    maxStepsPerClaim: integer('maxStepsPerClaim', options.maxStepsPerClaim, WORKER_DEFAULTS.maxStepsPerClaim, 1),
    logger,
    openTelemetry: options.openTelemetry ?? true,
    heartbeatIntervalMs: integer('heartbeatIntervalMs', options.heartbeatIntervalMs, WORKER_DEFAULTS.heartbeatIntervalMs, 10),
  };
}

function integer(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(`startWorker: ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}
