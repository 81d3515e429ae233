/**
 * The runtime's scheduled prune: every `everyMs`, `engine.applyRetention()` deletes the finished
 * runs each flow's `retention` lets go (and, with `olderThanMs`, those of every other flow
 * finished longer ago than that), and the sent events past the engine's `eventRetentionMs`, in
 * short batches that never block a worker. One prune at a
 * time: a slow one delays the next instead of overlapping it. The first comes a minute after the
 * start (or after `everyMs`, when shorter), not while the runtime is still starting its work.
 */
import type { FlowEngine } from '../flow-engine.js';
import { FlowError } from '../errors.js';

/** How often the runtime prunes when flows have a retention but no `prune.everyMs` was given: hourly. */
export const DEFAULT_PRUNE_EVERY_MS = 60 * 60 * 1000;
const FIRST_PRUNE_AFTER_MS = 60_000;
/** The longest `everyMs`: what a timer can wait (2^31 − 1 ms, about 24.8 days). */
export const MAX_PRUNE_EVERY_MS = 2 ** 31 - 1;

export interface PruneScheduleOptions {
  /** Milliseconds between two prunes (default hourly). */
  everyMs?: number;
  /** Runs of flows without a `retention` of their own, finished longer ago than this (ms), are deleted too. Default: kept. */
  olderThanMs?: number;
  /** Runs per batch (default 500). */
  batchSize?: number;
}

export interface PruneSchedule {
  /** Stops the schedule; resolves once a prune in progress has finished. */
  stop(): Promise<void>;
}

type Log = (message: string, meta?: Record<string, unknown>) => void;

/** Checks `options` and fills in `everyMs`; the runtime calls it before it opens anything. */
export function checkPruneOptions(options: PruneScheduleOptions): PruneScheduleOptions & { everyMs: number } {
  if (options === null || typeof options !== 'object')
    throw new FlowError('INVALID_ARGUMENT', 'prune must be an object like { everyMs, olderThanMs }, or false');
  const { everyMs = DEFAULT_PRUNE_EVERY_MS, olderThanMs, batchSize } = options;
  if (!Number.isInteger(everyMs) || everyMs < 1 || everyMs > MAX_PRUNE_EVERY_MS) {
    throw new FlowError('INVALID_ARGUMENT', `prune.everyMs must be an integer from 1 to ${MAX_PRUNE_EVERY_MS} (milliseconds), got ${String(everyMs)}`);
  }
  if (olderThanMs !== undefined && !(typeof olderThanMs === 'number' && Number.isFinite(olderThanMs) && olderThanMs >= 0)) {
    throw new FlowError('INVALID_ARGUMENT', `prune.olderThanMs must be a number of milliseconds >= 0, got ${String(olderThanMs)}`);
  }
  if (batchSize !== undefined && !(Number.isInteger(batchSize) && batchSize >= 1 && batchSize <= 10_000)) {
    throw new FlowError('INVALID_ARGUMENT', `prune.batchSize must be an integer from 1 to 10000, got ${String(batchSize)}`);
  }
  return { everyMs, olderThanMs, batchSize };
}

export function startPruneSchedule(engine: FlowEngine, options: PruneScheduleOptions, log: { info: Log; error: Log }): PruneSchedule {
  const { everyMs, olderThanMs, batchSize } = checkPruneOptions(options);
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let failing = false;

  const prune = async () => {
    try {
      const { deleted, events } = await engine.applyRetention({ defaultOlderThanMs: olderThanMs, batchSize });
      if (deleted > 0) log.info(`pruned ${deleted} finished run(s)`, { deleted });
      if (events > 0) log.info(`pruned ${events} sent event(s) past their retention`, { events });
      failing = false;
    } catch (err) {
      // Said once per streak of failures (a store down for an hour is not sixty lines).
      if (!failing) log.error(`pruning finished runs failed; retrying every ${everyMs} ms`, { code: err instanceof FlowError ? err.code : 'INTERNAL_ERROR' });
      failing = true;
    }
  };
  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      timer = null;
      running = prune().finally(() => {
        running = null;
        schedule(everyMs);
      });
    }, ms);
    timer.unref();
  };
  schedule(Math.min(everyMs, FIRST_PRUNE_AFTER_MS));

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}
