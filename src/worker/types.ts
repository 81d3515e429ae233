/**
 * Public types of the worker: its options (each with its default), its lifecycle and the status
 * snapshot. Kept apart from the implementation so they read as the worker's documentation.
 */

/** Where the worker writes what it does. `console` fits; so does a pino/winston logger. */
export interface WorkerLogger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

export interface WorkerOptions {
  /**
   * Runs advanced at once by this worker. On Postgres (`pg`) a run in flight pins no connection:
   * the run locks live on the store's lock session and commits are grouped, so a worker can hold
   * many more runs than its pool has connections (with Prisma, each holds an interactive
   * transaction: size its pool above this). Default 8.
   */
  concurrency?: number;
  /**
   * Longest sleep between two looks for due runs when nothing wakes the worker earlier, in ms.
   * Polling is the correctness path: wake-ups (LISTEN/NOTIFY, in-process) only shorten the sleep,
   * and a crashed worker's runs are found again within about this long. Default 1000.
   */
  pollIntervalMs?: number;
  /** Most due runs fetched by one poll (never more than the free slots). Default: `concurrency`. */
  batchSize?: number;
  /**
   * On `stop()`, how long in-flight steps may take to finish, in ms. Past it, their handlers'
   * `ctx.signal` is aborted and their runs are let go without committing the attempt: the next
   * worker records NODE_INTERRUPTED and runs it again. Keep it below your orchestrator's kill
   * grace period (Kubernetes: 30 s). Default 10000.
   */
  stopTimeoutMs?: number;
  /**
   * Steps a claim may take before the worker lets go of the run (it stays due and is claimed
   * again, here or elsewhere). Bounds how long one busy run keeps a slot from the others. Default 100.
   */
  maxStepsPerClaim?: number;
  /**
   * Where to log. Default: the structured logger (`createFlowLogger`): JSON lines when the output
   * is not a terminal, readable lines on one; FLOW_LOG_LEVEL (default info) and FLOW_LOG_FORMAT.
   * Lines about a run carry `runId`, `flow`, `version` and `node`.
   */
  logger?: WorkerLogger;
  /**
   * Span per claim and per node attempt through `@opentelemetry/api` when that package can be
   * imported (an optional peer dependency; without it this does nothing). Default true.
   */
  openTelemetry?: boolean;
  /**
   * How often the worker refreshes its row in the workers' registry (`engine.listWorkers()`), in
   * ms. Missing 3 refreshes shows it `silent`; silent for 30, its row is deleted. Default 10000
   * (silent after 30 s, gone after 5 minutes).
   */
  heartbeatIntervalMs?: number;
}

/**
 * The worker's lifecycle, in order:
 * - `STARTING` — connecting to the store (and migrating it); retried with backoff while the
 *   database is unreachable; a non-retryable failure (say, a schema newer than the code) goes
 *   straight to `STOPPED` with `lastError` set.
 * - `RUNNING` — claiming due runs and advancing them.
 * - `STOPPING` — `stop()` was called: no new claims; the poll in progress is abandoned.
 * - `DRAINING` — in-flight runs finish their current step (up to `stopTimeoutMs`), then the
 *   remaining attempts' signals are aborted and their runs let go, uncommitted.
 * - `STOPPED` — nothing in flight, every run lock released; `worker.stopped` has resolved.
 */
export type WorkerState = 'STARTING' | 'RUNNING' | 'STOPPING' | 'DRAINING' | 'STOPPED';

/** Monotonic counts since the worker started. */
export interface WorkerCounters {
  /** Looks for due runs (`findDueRuns` calls). */
  polls: number;
  /** Wake-ups received (a run was started, resumed or scheduled somewhere). */
  wakes: number;
  /** Runs this worker locked and advanced. */
  claimed: number;
  /** Due runs another holder locked first, or announced runs with nothing to do here by the time of the lock (skipped, not an error). */
  lockMisses: number;
  /** Node attempts executed (committed). */
  steps: number;
  /** Claims that ended with the run COMPLETED. */
  completed: number;
  /** Claims that ended with the run FAILED. */
  failed: number;
  /** Claims that ended with the run WAITING (for a resume or a timer). */
  waiting: number;
  /** Claims that ended because the run was cancelled (or changed) under the worker. */
  stale: number;
  /** Attempts given up at stop after `stopTimeoutMs` (left for the next worker). */
  abandoned: number;
  /** Unexpected failures (storage errors, bugs); each was logged and the run left claimable. */
  errors: number;
}

export interface WorkerStatus {
  /** This worker's id in the workers' registry (`engine.listWorkers()`). */
  workerId: string;
  state: WorkerState;
  /** Runs being advanced right now. */
  inFlight: number;
  /** Their ids. */
  inFlightRunIds: string[];
  concurrency: number;
  counters: WorkerCounters;
  /** `flowId@version` of the flows this worker claims runs of (those registered in this process). */
  flowKeys: string[];
  startedAt: Date | null;
  /** When the last look for due runs finished. */
  lastPollAt: Date | null;
  /** The most recent unexpected error, for health checks. */
  lastError: { message: string; code?: string; at: Date } | null;
}
