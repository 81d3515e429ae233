/**
 * FlowEngine: the front door. It validates arguments, holds the definitions this process can
 * execute, and delegates the rest: driving runs to the run machinery (engine/drive.ts,
 * engine/advance.ts), persistence to a `FlowStorage`, claiming due runs to `FlowWorker`s, which it
 * serves as their `WorkerHost`. It stands above all three; none of them imports it.
 */
import { randomUUID } from 'node:crypto';
import { FlowError, InvalidArgumentError, InvalidRunStateError, RunNotFoundError } from './errors.js';
import { flowPeerRequested } from './config.js';
import { systemClock, type Clock } from './core/clock.js';
import { DEFAULT_MAX_JSON_BYTES, serializeJson, unstorableTextReason } from './core/json.js';
import type { FlowDefinition, FlowRef, FlowRunStatus, InputOf, StateOf, StatePatch } from './definitions/types.js';
import type { EventDefinition } from './definitions/typed.js';
import { flowKey } from './definitions/flow-key.js';
import { flowControlOf } from './definitions/flow-control.js';
import type {
  DueAt,
  FlowEventRecord,
  FlowRunRecord,
  FlowRunSummary,
  FlowStorage,
  JsonText,
  PruneRunsQuery,
  RunFilter,
  RunLease,
  RunPage,
} from './storage/types.js';
import type { TimelinePage, TimelinePageOptions } from './storage/types.js';
import { readTimelinePage } from './storage/timeline-page.js';
import { chooseStorage } from './storage/choose.js';
import { advanceRun, type AdvanceOptions, type AdvanceResult, type StepEnv } from './engine/advance.js';
import { CancelledAttempt, eventKeyProblem, eventNameProblem } from './engine/attempt.js';
import { AttemptsInFlight } from './engine/in-flight.js';
import { newRunOf } from './engine/start.js';
import { RunWakes } from './engine/run-wakes.js';
import { driveToRest, mustGetRun, resumeWaitingRun, tickRun } from './engine/drive.js';
import { FlowEvents } from './engine/events.js';
import { isPlainObject } from './engine/merge.js';
import { DefinitionRegistry } from './engine/registry.js';
import { assertNoReservedStateKeys } from './engine/reserved-keys.js';
import type { WorkerHost } from './worker/host.js';
import type { WorkerOptions } from './worker/types.js';
import { FlowWorker } from './worker/worker.js';
import { activeTraceparent } from './worker/telemetry.js';
import { DEFAULT_METRICS_CACHE_MS, FlowMetrics } from './worker/metrics.js';
import type { Registry } from 'prom-client';
import type { DueRunCount, WorkerRecord } from './storage/types.js';
import { parseTraceparent } from './core/trace-context.js';
import { FlowSchedules } from './schedules/api.js';
import * as versions from './engine/versions.js';
import { shownEvent } from './engine/timeline.js';
import type { ForkRunOptions, MigrateRunsOptions, MigrateRunsResult, RetryRunOptions, RetryRunsFilter } from './engine/versions.js';
import { ScheduleFirer } from './schedules/fire.js';

const DEFAULT_EVENT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
/** Events deleted per statement (and transaction) when events past their retention are pruned. */
const EVENT_PRUNE_BATCH = 1000;
/**
 * Batches of one event prune at most (100,000 events), so that one pass cannot run for ever; a
 * backlog beyond that is left to the next pass. One worker sends about 190 events a second, 11,400
 * a minute: far below the bound.
 */
const EVENT_PRUNE_MAX_BATCHES = 100;
/** Runs `pruneRuns` deletes per statement (and transaction) unless told otherwise. */
export const DEFAULT_PRUNE_BATCH_SIZE = 500;
const DEFAULT_MAX_CHILD_DEPTH = 16;

/** `cancelRun`'s options. */
export interface CancelRunOptions {
  /** Shown as the run's error message and in RUN_CANCELLED (default 'Cancelled'). */
  reason?: string;
  /** Undo what the run finished (its nodes' `compensate` handlers, newest first) before it ends CANCELLED. */
  compensate?: boolean;
}

function cancelOptions(options: string | CancelRunOptions | undefined): CancelRunOptions {
  if (options === undefined || typeof options === 'string') {
    optionalString('cancelRun', 'reason', options);
    return { reason: options };
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('cancelRun: the second argument must be a reason (string) or { reason?, compensate? }');
  }
  for (const key of Object.keys(options)) {
    if (key !== 'reason' && key !== 'compensate') throw new InvalidArgumentError(`cancelRun: unknown option "${key}" (the options are reason, compensate)`);
  }
  optionalString('cancelRun', 'reason', options.reason);
  if (options.compensate !== undefined && typeof options.compensate !== 'boolean') {
    throw new InvalidArgumentError('cancelRun: compensate must be a boolean');
  }
  return options;
}

export interface FlowEngineOptions {
  /** Where runs live. Default: Postgres at `databaseUrl`/DATABASE_URL, else PGlite in `dataDir`/FLOW_DATA_DIR, else memory (not durable); see storage/choose.ts. */
  storage?: FlowStorage;
  /** Postgres connection string; overrides the `DATABASE_URL` environment variable. */
  databaseUrl?: string;
  /** PGlite data folder, used without `storage` and a connection string; overrides FLOW_DATA_DIR. */
  dataDir?: string;
  /** Passed to every handler as `ctx.services` (clients, repositories …). */
  services?: Record<string, unknown>;
  /** Time source for durations and memory-store due times (default: system clock). Tests inject a `ManualClock`. */
  clock?: Clock;
  /** Largest JSON value (input, state, outputs, payload) in bytes (default 1 MiB). */
  maxJsonBytes?: number;
  /** Interrupted attempts tolerated at one node before the run fails with POISON_PILL (default 3). */
  maxRecoveries?: number;
  /** How long sent events are kept for runs that reach their wait later (default 7 days). */
  eventRetentionMs?: number;
  /** Deepest nesting of child runs (a child of a child … of a top-level run); deeper is refused (default 16). */
  maxChildDepth?: number;
  /**
   * How long `metrics()` reuses the gauges it read from the store (runs per status, runs due), in
   * ms, unless this process changed a run since (default 5000; 0: read at every scrape).
   */
  metricsCacheMs?: number;
}

/**
 * What `startRun` takes: the flow, named by `flowId` and `version` (untyped: any input) or given
 * as `flow` — a `FlowDefinition` or a `flowRef` — whose input type `input` is checked against.
 * `tenantId` and `idempotencyKey` take what a `FlowRunRecord` holds (`null` = none).
 */
export type StartRunArgs<F extends FlowRef<unknown, unknown> = FlowRef> = (
  | { flowId: string; version: string; flow?: undefined }
  | {
      /** The flow to start, typed: its id and version, and the type its input must have. */
      flow: F;
      flowId?: undefined;
      version?: undefined;
    }
) & {
  input: InputOf<F>;
  tenantId?: string | null;
  initialState?: StatePatch<StateOf<F>>;
  /** Starting twice with the same key returns the first run instead of creating another. */
  idempotencyKey?: string | null;
  /**
   * The W3C trace context the run's steps continue (`00-<trace id>-<span id>-<flags>`). Default:
   * the active OpenTelemetry span's, else a new trace. A malformed one is an INVALID_ARGUMENT.
   */
  traceparent?: string;
  /** Claim order: an integer, higher first (default 0); see docs/flow-control.md. */
  priority?: number;
  /** Start the run this many ms from now (by the store's clock) rather than at once. */
  delayMs?: number;
  /** Start the run at this time rather than at once (not with `delayMs`). */
  startAt?: Date | string;
};

/** What `sendEvent` takes: the event named by `name` (any payload) or given as a `defineEvent` declaration (its payload type checked). */
export type SendEventArgs<TPayload = unknown> = (
  | { name: string; event?: undefined; payload?: unknown }
  | ({ event: EventDefinition<TPayload>; name?: undefined } & (undefined extends TPayload ? { payload?: NoInfer<TPayload> } : { payload: NoInfer<TPayload> }))
) & { key?: string };

export interface StartRunResult {
  runId: string;
  status: FlowRunStatus;
  /** False when `idempotencyKey` matched an existing run, or a debounced start joined a run not begun yet. */
  created: boolean;
}

export interface FlowSummary {
  flowId: string;
  version: string;
  fingerprint: string;
  /** The graph: nodes with their options, edges with priorities and conditions. */
  definitionJson: unknown;
  /** Whether this process can execute it (its handlers are registered here). */
  registered: boolean;
  createdAt: Date;
  /** Its RUNNING and WAITING runs. */
  unfinishedRuns: number;
  /**
   * Its runs due now that no process serves (this version is registered nowhere): left behind by
   * a deploy. Migrate them (`migrateRuns`) or serve the version again.
   */
  strandedRuns: number;
  /** Its flow control limits, as registered in this process (null: none, or not registered here); keys as `keyed`. */
  flowControl: FlowControlSummary | null;
}

export interface PruneRunsOptions {
  /**
   * Runs that finished (their last write) before this time; a number: that many milliseconds ago,
   * by the store's clock.
   */
  olderThan: Date | number;
  /** Which finished runs: COMPLETED, FAILED, CANCELLED, or a list of them (default all three). RUNNING and WAITING are refused. */
  status?: FlowRunStatus | FlowRunStatus[];
  /** Only the runs of this flow (any version, unless `flowVersion` is given too). */
  flowId?: string;
  flowVersion?: string;
  /** Runs deleted per statement, each batch its own short transaction (default 500, at most 10,000). */
  batchSize?: number;
}

export interface RetentionOptions {
  /** Runs of flows without a `retention` of their own finished longer ago than this (ms) are deleted too. Default: they are kept. */
  defaultOlderThanMs?: number;
  /** See `PruneRunsOptions.batchSize`. */
  batchSize?: number;
}

export type FlowRun = FlowRunRecord;
export type FlowEvent = FlowEventRecord;

export class FlowEngine extends FlowEvents implements WorkerHost {
  readonly storage: FlowStorage;
  /** @internal the run machinery's (engine/drive.ts) */
  readonly registry = new DefinitionRegistry();
  /** Time source of durations and of a worker's sleeps (the `clock` option). */
  readonly clock: Clock;
  /** @internal the run machinery's (engine/drive.ts) */
  readonly stepEnv: StepEnv;
  /** Attempts in flight in this process, which `cancelRun` aborts. */
  private readonly inFlight = new AttemptsInFlight();
  private readonly eventRetentionMs: number;
  private readonly maxChildDepth: number;
  private initPromise?: Promise<void>;
  private closed = false;
  private readonly stopHearingCancels: () => void;
  /** Schedules: runs of a flow started by cron or interval, exactly once per tick (src/schedules/). */
  readonly schedules: FlowSchedules;
  /** @internal WorkerHost: fires due ticks (a worker's schedule loop). */
  readonly scheduleFirer: ScheduleFirer;
  /** @internal WorkerHost: the metrics a worker reports its claims to (see `metrics()`). */
  readonly flowMetrics: FlowMetrics;

  constructor(options: FlowEngineOptions = {}) {
    super();
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('FlowEngine: options must be an object');
    this.clock = options.clock ?? systemClock;
    this.storage = chooseStorage({ storage: options.storage, databaseUrl: options.databaseUrl, dataDir: options.dataDir, clock: options.clock });
    const maxJsonBytes = options.maxJsonBytes ?? DEFAULT_MAX_JSON_BYTES;
    const maxRecoveries = options.maxRecoveries ?? 3;
    if (!Number.isInteger(maxJsonBytes) || maxJsonBytes < 16) throw new InvalidArgumentError('FlowEngine: maxJsonBytes must be an integer >= 16');
    if (!Number.isInteger(maxRecoveries) || maxRecoveries < 0) throw new InvalidArgumentError('FlowEngine: maxRecoveries must be an integer >= 0');
    this.eventRetentionMs = options.eventRetentionMs ?? DEFAULT_EVENT_RETENTION_MS;
    this.maxChildDepth = options.maxChildDepth ?? DEFAULT_MAX_CHILD_DEPTH;
    if (!(Number.isFinite(this.eventRetentionMs) && this.eventRetentionMs > 0))
      throw new InvalidArgumentError('FlowEngine: eventRetentionMs must be a number > 0');
    if (!Number.isInteger(this.maxChildDepth) || this.maxChildDepth < 0) throw new InvalidArgumentError('FlowEngine: maxChildDepth must be an integer >= 0');
    this.stepEnv = {
      storage: this.storage,
      registry: this.registry,
      clock: this.clock,
      services: options.services,
      maxJsonBytes,
      maxRecoveries,
      maxChildDepth: this.maxChildDepth,
      inFlight: this.inFlight,
      hooks: this,
      wakes: new RunWakes(this.storage),
    };
    this.stopHearingCancels = this.storage.onRunsCancelled?.((runIds) => this.descendantsCancelled(runIds)) ?? (() => undefined);
    const runStarted = (run: FlowRunRecord) => this.runStarted(run);
    this.scheduleFirer = new ScheduleFirer({
      ...this.stepEnv,
      runStarted,
      cancelRun: (runId, reason) => this.cancelRun(runId, reason),
    });
    const metricsCacheMs = options.metricsCacheMs ?? DEFAULT_METRICS_CACHE_MS;
    if (!(Number.isFinite(metricsCacheMs) && metricsCacheMs >= 0)) throw new InvalidArgumentError('FlowEngine: metricsCacheMs must be a number >= 0');
    this.flowMetrics = new FlowMetrics({
      storage: this.storage,
      hooks: this,
      inFlight: () => [...this.workers].reduce((sum, w) => sum + w.status().inFlight, 0),
      cacheMs: metricsCacheMs,
    });
    this.schedules = new FlowSchedules({ ...this.stepEnv, runStarted, ready: () => this.ready(), changed: () => this.scheduleFirer.changed() });
  }

  /** Connects and applies pending migrations (also done on first use). */
  async ready(): Promise<void> {
    if (this.closed) throw new FlowError('ENGINE_CLOSED', 'This FlowEngine was closed');
    // A failed init (database not up yet) is not cached, so a later call (a worker's retry) tries again.
    this.initPromise ??= this.storage.init().catch((err: unknown) => {
      this.initPromise = undefined;
      throw err;
    });
    return this.initPromise;
  }

  /** Registers the flow (see DefinitionRegistry) and applies the schedules it declares (flow option `schedules`). */
  async registerDefinition(def: FlowDefinition): Promise<void> {
    await this.ready();
    await this.registry.register(def, this.storage);
    for (const schedule of def.schedules ?? []) await this.schedules.set({ ...schedule, flowId: def.flowId });
  }

  /**
   * Starts a run of a registered flow. Typed: `startRun({ flow: orderFlow, input })` checks
   * `input` against the flow's input type (`orderFlow` a `FlowDefinition` or a `flowRef`), as does
   * `startRun<typeof orderFlow>({ flowId, version, input })`.
   */
  async startRun<F extends FlowRef<unknown, unknown> = FlowRef>(args: StartRunArgs<F>): Promise<StartRunResult> {
    assertNoReservedStateKeys('startRun: initialState', args?.initialState);
    if (!isPlainObject(args)) throw new InvalidArgumentError('startRun: expected { flowId, version, input }');
    const { flowId, version } = flowNamed(args);
    optionalString('startRun', 'tenantId', args.tenantId ?? undefined);
    optionalString('startRun', 'idempotencyKey', args.idempotencyKey ?? undefined);
    if (args.initialState !== undefined && !isPlainObject(args.initialState)) {
      throw new InvalidArgumentError('startRun: initialState must be a plain object');
    }
    if (args.traceparent !== undefined && !parseTraceparent(args.traceparent)) {
      throw new InvalidArgumentError(
        `startRun: traceparent must be a W3C trace context like 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>, got ${JSON.stringify(args.traceparent)}`,
      );
    }
    const traceparent = args.traceparent ?? (await activeTraceparent());
    const start = startTiming(args);
    await this.ready();
    const def = this.registry.require(flowId, version);
    const limits = { maxBytes: this.stepEnv.maxJsonBytes };
    const input = serializeJson(args.input === undefined ? null : args.input, { what: 'input', ...limits });
    const state = serializeJson(args.initialState ?? {}, { what: 'initialState', ...limits });
    // Key functions run once, here: a bad one throws before anything is written.
    const flowControl = flowControlOf(def, args.input === undefined ? null : args.input);
    const debounce = flowControl?.debounce;
    if (debounce) {
      const joined = await this.storage.joinDebouncedRun({
        flowId: def.flowId,
        flowVersion: def.version,
        key: debounce.key,
        input,
        delayMs: debounce.delayMs,
        maxWaitMs: debounce.maxWaitMs,
      });
      if (joined) return { runId: joined.runId, status: joined.status, created: false };
    }
    const { run, created } = await this.storage.createRun({
      ...newRunOf(def, { input, state, tenantId: args.tenantId ?? null, idempotencyKey: args.idempotencyKey ?? null, traceparent }),
      priority: start.priority,
      startAt: start.startAt ?? (debounce ? { delayMs: debounce.delayMs } : null),
      flowControl,
    });
    if (!created && (run.flowId !== def.flowId || run.flowVersion !== def.version)) {
      throw new FlowError(
        'IDEMPOTENCY_KEY_CONFLICT',
        `idempotencyKey ${JSON.stringify(args.idempotencyKey)} already started run ${run.runId} of ${flowKey(run.flowId, run.flowVersion)}, not ${flowKey(def.flowId, def.version)}`,
      );
    }
    if (created) this.runStarted(run);
    return { runId: run.runId, status: run.status, created };
  }

  /**
   * Executes one attempt of the run's current node and commits its outcome. A run whose next
   * attempt is not yet due (retry backoff) is waited for; a WAITING run whose timer is due is
   * resumed; any other WAITING or finished run is returned unchanged.
   */
  async tick(runId: string): Promise<FlowRunRecord> {
    requireString('tick', 'runId', runId);
    await this.ready();
    return tickRun(this, runId);
  }

  /**
   * Resumes a waiting branch: its node runs again and sees the payload at
   * `ctx.state._resumePayload`. With several branches waiting, `nodeId` says which one (without
   * it, an AmbiguousResumeError lists them). Never fails because a worker holds the run: the
   * resume is written to the run's inbox and applied by whoever holds the run (here, when it is
   * free — then the resumed node has run once when this returns). Of concurrent resumes of one
   * wait exactly one is taken; the others fail with INVALID_RUN_STATE.
   */
  async resumeRun(runId: string, payload?: unknown, options: { nodeId?: string } = {}): Promise<FlowRunRecord> {
    requireString('resumeRun', 'runId', runId);
    if (!isPlainObject(options)) throw new InvalidArgumentError('resumeRun: options must be an object like { nodeId }');
    optionalString('resumeRun', 'nodeId', options.nodeId);
    const text = payload === undefined ? null : serializeJson(payload, { what: 'resume payload', maxBytes: this.stepEnv.maxJsonBytes });
    const entry = (text === null ? '{}' : `{"payload":${text}}`) as JsonText;
    await this.ready();
    return resumeWaitingRun(this, runId, { payload: entry, nodeId: options.nodeId });
  }

  /**
   * Sends an event: it is stored (for `eventRetentionMs`), and every run branch waiting for its
   * name (and key) is resumed with the payload at `ctx.state._resumePayload`, each exactly once.
   * A run that reaches a wait for it later — but was created before it was sent — receives it then.
   */
  async sendEvent<TPayload = unknown>(args: SendEventArgs<TPayload>): Promise<{ eventId: string; delivered: number }> {
    if (!isPlainObject(args)) throw new InvalidArgumentError('sendEvent: expected { name, key?, payload? }');
    const name = eventNamed(args);
    const nameProblem = eventNameProblem(name);
    if (nameProblem) throw new InvalidArgumentError(`sendEvent: name ${nameProblem}`);
    const keyProblem = args.key === undefined ? null : eventKeyProblem(args.key);
    if (keyProblem) throw new InvalidArgumentError(`sendEvent: key ${keyProblem}`);
    const payload = serializeJson(args.payload === undefined ? null : args.payload, { what: 'event payload', maxBytes: this.stepEnv.maxJsonBytes });
    await this.ready();
    const sent = await this.storage.sendEvent({ eventId: randomUUID(), name, key: args.key ?? null, payload });
    this.pruneEventsInBackground(sent.sentAt);
    return { eventId: sent.eventId, delivered: sent.delivered.length };
  }

  /**
   * At most once a minute, and one at a time: prunes the events past their retention (as of
   * `now`, the store's clock at the send) without making the send wait for it. `close()` waits
   * for it; a failure is left to the next one.
   */
  private pruneEventsInBackground(now: Date): void {
    if (this.eventPrune || now.getTime() - this.lastEventPrune < 60_000) return;
    this.lastEventPrune = now.getTime();
    this.eventPrune = this.pruneExpiredEvents(now)
      .catch(() => 0)
      .finally(() => (this.eventPrune = null));
  }

  private lastEventPrune = 0;
  private eventPrune: Promise<number> | null = null;

  /**
   * Deletes the events sent more than `eventRetentionMs` before `now`, batch after batch until one
   * comes back short (every event that was due is gone), at most `EVENT_PRUNE_MAX_BATCHES`; the
   * event loop gets a turn between batches. An event whose delivery still waits in an inbox is
   * kept (the entry reads its payload from it). Returns how many went.
   */
  private async pruneExpiredEvents(now: Date): Promise<number> {
    const before = new Date(now.getTime() - this.eventRetentionMs);
    let pruned = 0;
    for (let batch = 0; batch < EVENT_PRUNE_MAX_BATCHES && !this.closed; batch++) {
      const n = await this.storage.pruneEvents(before, EVENT_PRUNE_BATCH);
      pruned += n;
      if (n < EVENT_PRUNE_BATCH) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return pruned;
  }

  /**
   * Cancels a RUNNING or WAITING run and, in the same store write, all its unfinished descendant
   * runs; their attempts in flight in this process see `ctx.signal` abort. The second argument is
   * the reason, or `{ reason?, compensate? }`.
   *
   * With `compensate: true` the run first undoes what it finished (the `compensate` handlers of
   * its finished nodes, newest first), then ends CANCELLED with `compensated`. The cancel goes to
   * the run's inbox and its holder applies it: attempts in flight finish (what they did is undone
   * too), the other branches are aborted, their children cancelled. This call drives the
   * compensations when the run is free and returns the run as they leave it (CANCELLED, or still
   * RUNNING while a compensation waits for a retry or another process holds the run).
   */
  async cancelRun(runId: string, options?: string | CancelRunOptions): Promise<FlowRunRecord> {
    requireString('cancelRun', 'runId', runId);
    const { reason, compensate } = cancelOptions(options);
    await this.ready();
    const message = reason ?? 'Cancelled';
    const payload = serializeJson({ reason: reason ?? null }, { what: 'cancel reason' });
    // Transactional attempts in flight here stop first (their writes roll back): on PGlite this
    // cancel's statements would wait for their transactions (see AttemptsInFlight.beginCancel).
    const landed = compensate ? () => undefined : this.inFlight.beginCancel(runId);
    let run: FlowRunRecord | null;
    try {
      const before = await this.storage.getRun(runId);
      if (!before) throw new RunNotFoundError(runId);
      // A cancelled run is finished like any other: a second cancel is refused and its reason not lost silently.
      if (before.status !== 'RUNNING' && before.status !== 'WAITING') throw new InvalidRunStateError(runId, before.status, 'cancel', 'RUNNING or WAITING');
      if (compensate) {
        await this.storage.addToInbox({ runId, kind: 'cancel', waitId: null, branchId: null, payload });
        return driveToRest(this, runId, { maxWaitMs: 0 });
      }
      run = await this.storage.cancelRun(runId, [{ type: 'RUN_CANCELLED', payload }], { code: 'CANCELLED', message, retryable: false });
    } finally {
      landed();
    }
    if (!run) throw new RunNotFoundError(runId);
    // Ended meanwhile — or cancelled by a concurrent call with another reason (the first one counts).
    const ours = run.status === 'CANCELLED' && run.error?.message === message;
    if (!ours) throw new InvalidRunStateError(runId, run.status, 'cancel', 'RUNNING or WAITING');
    this.inFlight.abort(runId, new CancelledAttempt());
    this.emit('run:cancelled', { run });
    return run;
  }

  /**
   * The store cancelled these runs as descendants (of a run cancelled or failed, or of a branch
   * that stopped waiting for its child), in the write that decided it: their attempts in flight in
   * this process are aborted, and `run:cancelled` fires for each.
   */
  private descendantsCancelled(runIds: readonly string[]): void {
    for (const runId of runIds) this.inFlight.abort(runId, new CancelledAttempt());
    void Promise.all(runIds.map((runId) => this.storage.getRun(runId))).then(
      (runs) => runs.forEach((run) => run && this.emit('run:cancelled', { run })),
      (error: unknown) => this.emit('error', { hook: 'run:cancelled', error }),
    );
  }

  async getRun(runId: string): Promise<FlowRunRecord | null> {
    requireString('getRun', 'runId', runId);
    await this.ready();
    return this.storage.getRun(runId);
  }

  /**
   * The run's timeline. Without options, every event (as the seed's `getTimeline(runId)`); with
   * `{ after, limit }`, one page of at most `limit` events (default and most 1000) after the
   * event whose `seq` is `after`, and the `nextCursor` to pass as `after` for the next one: a
   * long run's timeline (a map of 40,000 items has 80,000 events) read a page at a time.
   */
  getTimeline(runId: string): Promise<FlowEventRecord[]>;
  getTimeline(runId: string, page: TimelinePageOptions): Promise<TimelinePage>;
  async getTimeline(runId: string, page?: TimelinePageOptions): Promise<FlowEventRecord[] | TimelinePage> {
    requireString('getTimeline', 'runId', runId);
    await this.ready();
    if (page !== undefined) {
      const read = await readTimelinePage(this.storage, runId, page);
      return { ...read, events: read.events.map(shownEvent) };
    }
    const events = await this.storage.getEvents(runId);
    if (events.length === 0) await mustGetRun(this, runId);
    return events.map(shownEvent);
  }

  /** Newest first. With `summary: true`, runs without their input, state, outputs and attempts: a far cheaper page. */
  listRuns(filter: RunFilter & { summary: true }): Promise<RunPage<FlowRunSummary>>;
  listRuns(filter?: RunFilter & { summary?: false }): Promise<RunPage>;
  listRuns(filter?: RunFilter): Promise<RunPage<FlowRunSummary>>;
  async listRuns(filter: RunFilter = {}): Promise<RunPage<FlowRunSummary>> {
    await this.ready();
    return this.storage.listRuns(filter);
  }

  /**
   * Deletes finished runs (COMPLETED, FAILED, CANCELLED) that finished before `olderThan`, with
   * their timelines, node values, inbox entries, event waits and receipts, and the idempotency
   * records their steps committed (a later run with the same key then runs the step again). In
   * batches of `batchSize`, each its own short statement: a worker is never blocked, and a run
   * someone holds is skipped. A run with a child still RUNNING or WAITING is kept until the child
   * has finished (the child's end is written to its parent), and a finished child is kept until
   * its parent has finished (the parent reads the child when it applies its end); a child
   * outlives its deleted parent.
   */
  async pruneRuns(options: PruneRunsOptions): Promise<{ deleted: number }> {
    if (!isPlainObject(options)) throw new InvalidArgumentError('pruneRuns: expected { olderThan, status?, flowId? }');
    const { olderThan, status, flowId, flowVersion } = options;
    if (!(olderThan instanceof Date) && typeof olderThan !== 'number') {
      throw new InvalidArgumentError('pruneRuns: olderThan must be a Date or a number of milliseconds');
    }
    optionalString('pruneRuns', 'flowId', flowId);
    optionalString('pruneRuns', 'flowVersion', flowVersion);
    const batchSize = pruneBatchSize('pruneRuns', options.batchSize);
    return { deleted: await this.pruneInBatches({ olderThan, status, flowId, flowVersion }, batchSize) };
  }

  /**
   * Applies retention: each flow registered here with a `retention` loses its runs finished
   * longer ago than its `finishedRunsMs`; with `defaultOlderThanMs`, the runs of every other flow
   * finished longer ago than that go too. What the runtime's scheduled prune calls. `byFlow`: the
   * runs deleted per `flowId@version`, and under `'*'` those the default deleted. Sent events past
   * `eventRetentionMs` go too (`events`: how many), every one that is due, except those whose
   * delivery still waits in an inbox.
   */
  async applyRetention(options: RetentionOptions = {}): Promise<{ deleted: number; byFlow: Record<string, number>; events: number }> {
    if (!isPlainObject(options)) throw new InvalidArgumentError('applyRetention: options must be an object like { defaultOlderThanMs }');
    const fallback = options.defaultOlderThanMs;
    if (fallback !== undefined && !(typeof fallback === 'number' && Number.isFinite(fallback) && fallback >= 0)) {
      throw new InvalidArgumentError('applyRetention: defaultOlderThanMs must be a number of milliseconds >= 0');
    }
    const batchSize = pruneBatchSize('applyRetention', options.batchSize);
    await this.ready();
    const byFlow: Record<string, number> = {};
    const own = this.registry.definitions().filter((def) => def.retention !== undefined);
    for (const def of own) {
      const olderThan = def.retention!.finishedRunsMs;
      byFlow[flowKey(def.flowId, def.version)] = await this.pruneInBatches({ olderThan, flowId: def.flowId, flowVersion: def.version }, batchSize);
    }
    let deleted = Object.values(byFlow).reduce((a, b) => a + b, 0);
    if (fallback !== undefined) {
      const exceptFlowKeys = own.map((def) => flowKey(def.flowId, def.version));
      const others = await this.pruneInBatches({ olderThan: fallback, exceptFlowKeys }, batchSize);
      byFlow['*'] = others;
      deleted += others;
    }
    const events = await this.pruneExpiredEvents(new Date(this.clock.now()));
    return { deleted, byFlow, events };
  }

  /** Batches until one deletes fewer than a full batch; the event loop gets a turn between them. */
  private async pruneInBatches(query: Omit<PruneRunsQuery, 'limit'>, batchSize: number): Promise<number> {
    await this.ready();
    let deleted = 0;
    for (;;) {
      const n = await this.storage.pruneRuns({ ...query, limit: batchSize });
      deleted += n;
      if (n < batchSize) return deleted;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async listFlows(): Promise<FlowSummary[]> {
    await this.ready();
    const [defs, counts, due, elsewhere] = await Promise.all([
      this.storage.listDefinitions(),
      this.storage.countLiveRuns(),
      this.storage.countDueRuns(),
      this.flowKeysServedElsewhere(),
    ]);
    const unfinished = new Map(counts.map((c) => [flowKey(c.flowId, c.version), c.unfinished]));
    const stranded = versions.strandedRuns(due, new Set([...this.registry.keys(), ...elsewhere]));
    return defs.map((d) => ({
      flowId: d.flowId,
      version: d.version,
      fingerprint: d.fingerprint,
      definitionJson: d.graph,
      registered: this.registry.has(flowKey(d.flowId, d.version)),
      createdAt: d.createdAt,
      unfinishedRuns: unfinished.get(flowKey(d.flowId, d.version)) ?? 0,
      strandedRuns: stranded.get(flowKey(d.flowId, d.version)) ?? 0,
      flowControl: describeFlowControl(this.registry.get(d.flowId, d.version)),
    }));
  }

  /**
   * The flow keys that live workers serve, in any process (the workers' registry): their due runs
   * are not stranded, only waiting for a slot.
   */
  private async flowKeysServedElsewhere(): Promise<ReadonlySet<string>> {
    return new Set(await this.servedFlowKeys());
  }

  /**
   * Moves the unfinished runs of `flowId@fromVersion` (or `runIds`) to `toVersion`, registered in
   * this process: a run whose every live branch's node — after `nodeMap`, old id → new id — exists
   * in the new graph, and means the same there (a map in progress, a branch at a join), goes on
   * under the new graph with its outputs and state; the others are `blocked`, untouched, with a
   * reason. Each move is written under the run's lock, fenced, with a RUN_MIGRATED event; a run
   * held by a worker is never moved under it (it is reported blocked, "held by a worker, try
   * again", after a short wait). `dryRun` writes nothing and gives the same answer.
   */
  async migrateRuns(options: MigrateRunsOptions): Promise<MigrateRunsResult> {
    await this.ready();
    return versions.migrateRuns(this.stepEnv, options);
  }

  /**
   * Puts a FAILED or CANCELLED run back to RUNNING, same run id: from the node(s) it stopped at
   * (or `fromNodeId`; from the entry node when its compensation undid what it did), with
   * `statePatch` deep-merged into its state. Finished nodes are not run again; attempts start from
   * 1 under each node's retry policy; its error goes; RUN_RETRIED is recorded. Returns the run
   * (RUNNING: a worker, `tick` or `runToCompletion` drives it). Any other status:
   * INVALID_RUN_STATE (of concurrent retries of one run, one wins).
   */
  async retryRun(runId: string, options?: RetryRunOptions): Promise<FlowRunRecord> {
    await this.ready();
    return versions.retryRun(this.stepEnv, runId, options);
  }

  /** Retries every run that matches (default: FAILED), a page of runs at a time; returns how many were retried. */
  async retryRuns(filter?: RetryRunsFilter): Promise<{ retried: number }> {
    await this.ready();
    return versions.retryRuns(this.stepEnv, filter);
  }

  /**
   * A new run that starts where `runId` first started `fromNodeId` — its input, the outputs of the
   * nodes it had finished by then, its state with `statePatch` — and runs on from there (on
   * `version` if given). It has `forkedFrom: { runId, nodeId }` and a RUN_FORKED event; the source
   * is untouched, whatever its status.
   */
  async forkRun(runId: string, options: ForkRunOptions): Promise<{ runId: string }> {
    await this.ready();
    return versions.forkRun(this.stepEnv, runId, options);
  }

  /** `flowId@version` of the flows registered in this process (the runs its workers claim). */
  flowKeys(): string[] {
    return this.registry.keys();
  }

  /** Ids of every RUNNING run (all pages). */
  async getRunningRunIds(): Promise<string[]> {
    await this.ready();
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.storage.listRuns({ status: 'RUNNING', limit: 1000, cursor, summary: true });
      ids.push(...page.runs.map((r) => r.runId));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return ids;
  }

  /**
   * Drives the run until it is COMPLETED, FAILED, CANCELLED or WAITING (a WAITING run with a timer
   * is driven through the timer). If another worker holds the run, waits for it to rest.
   */
  async runToCompletion(runId: string, options: { maxWaitMs?: number } = {}): Promise<FlowRunRecord> {
    requireString('runToCompletion', 'runId', runId);
    await this.ready();
    return driveToRest(this, runId, options);
  }

  /**
   * The engine's metrics in the Prometheus text format (serve it from your own server with the
   * content type `metricsRegistry.contentType`; the runtime serves it at GET /metrics). Async: the
   * gauges of runs and due runs are read from the store (cached briefly, see `metricsCacheMs`).
   * The names and labels: docs/operations.md.
   */
  async metrics(): Promise<string> {
    await this.ready();
    return this.flowMetrics.text();
  }

  /** The prom-client registry behind `metrics()`, this engine's own: register your metrics on it, or merge it into yours. */
  get metricsRegistry(): Registry {
    return this.flowMetrics.registry;
  }

  /**
   * The workers recorded in the store — in every process, on every machine — oldest first:
   * id, host, pid, start, last refresh, the flows each serves, its concurrency and runs in flight,
   * and `status`: `live`, or `silent` once it missed 3 refreshes (crashed, frozen, cut off). One
   * silent for 30 refreshes is dropped (see `WorkerOptions.heartbeatIntervalMs`).
   */
  async listWorkers(): Promise<WorkerRecord[]> {
    await this.ready();
    return this.storage.listWorkers();
  }

  /** `flowId@version` of the flows some live worker serves (in any process), sorted. */
  async servedFlowKeys(): Promise<string[]> {
    const workers = await this.listWorkers();
    return [...new Set(workers.filter((w) => w.status === 'live').flatMap((w) => w.flowKeys))].sort();
  }

  /**
   * The runs due now of flows no live worker serves, per flow version: what nobody is working on
   * (a flow whose workers all died, or were deployed without it).
   */
  async unservedDueRuns(): Promise<DueRunCount[]> {
    const [served, due] = await Promise.all([this.servedFlowKeys(), this.storage.countDueRuns()]);
    const live = new Set(served);
    return due.filter((d) => !live.has(flowKey(d.flowId, d.flowVersion))).sort((a, b) => b.oldestDueSeconds - a.oldestDueSeconds);
  }

  /** Stops workers started by this engine and releases every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.beforeClose();
    this.flowMetrics.close();
    await this.eventPrune;
    this.stopHearingCancels();
    await this.storage.close();
  }

  /**
   * Starts a worker in this process: it claims due runs of the flows registered here and drives
   * them to a wait or an end. Stop it with `worker.stop()` (or `engine.close()`).
   */
  startWorker(options: WorkerOptions = {}): FlowWorker {
    if (this.closed) throw new FlowError('ENGINE_CLOSED', 'This FlowEngine was closed');
    const worker = new FlowWorker(this, options);
    this.workers.add(worker);
    worker.start();
    void worker.stopped.then(() => this.workers.delete(worker));
    return worker;
  }

  private readonly workers = new Set<FlowWorker>();

  private async beforeClose(): Promise<void> {
    await Promise.all([...this.workers].map((w) => w.stop()));
  }

  /** @internal WorkerHost: the definition a claimed run follows, if its flow is registered here. */
  definitionOf(run: FlowRunRecord): FlowDefinition | undefined {
    return this.registry.get(run.flowId, run.flowVersion);
  }

  /** @internal WorkerHost: drives a run a worker has locked; the worker also tracks each attempt's controller. */
  advanceLocked(lease: RunLease, def: FlowDefinition, options: AdvanceOptions): Promise<AdvanceResult> {
    return advanceRun(lease, def, this.stepEnv, options);
  }
}

function requireString(method: string, name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    const got = typeof value === 'string' ? 'an empty string' : value === null ? 'null' : typeof value;
    throw new InvalidArgumentError(`${method}: ${name} must be a non-empty string, got ${got}`);
  }
  // Ids, keys and reasons end up in text columns: refuse what Postgres cannot store, on every store alike.
  const problem = unstorableTextReason(value);
  if (problem) throw new InvalidArgumentError(`${method}: ${name} ${problem}`);
}

/** A flow's limits as `listFlows` shows them: key functions are code, so only whether a limit has one. */
export interface FlowControlSummary {
  concurrency: Array<{ limit: number; scope: 'executing' | 'active'; keyed: boolean }>;
  rateLimit: { limit: number; periodMs: number; keyed: boolean } | null;
  debounce: { delayMs: number; maxWaitMs: number | null } | null;
}

function describeFlowControl(def: FlowDefinition | undefined): FlowControlSummary | null {
  if (!def || (def.concurrency === undefined && def.rateLimit === undefined && def.debounce === undefined)) return null;
  const limits = def.concurrency === undefined ? [] : Array.isArray(def.concurrency) ? def.concurrency : [def.concurrency];
  return {
    concurrency: limits.map((c) => ({ limit: c.limit, scope: c.scope ?? 'executing', keyed: c.key !== undefined })),
    rateLimit: def.rateLimit ? { limit: def.rateLimit.limit, periodMs: def.rateLimit.periodMs, keyed: def.rateLimit.key !== undefined } : null,
    debounce: def.debounce ? { delayMs: def.debounce.delayMs, maxWaitMs: def.debounce.maxWaitMs ?? null } : null,
  };
}

/** Largest |priority| (Postgres integer). */
const MAX_PRIORITY = 2 ** 31 - 1;

/** `startRun`'s `priority`, `delayMs` and `startAt`, checked. */
function startTiming(args: { priority?: unknown; delayMs?: unknown; startAt?: unknown }): { priority: number; startAt: DueAt } {
  const { priority = 0, delayMs, startAt } = args;
  if (!(typeof priority === 'number' && Number.isInteger(priority) && Math.abs(priority) <= MAX_PRIORITY)) {
    throw new InvalidArgumentError(`startRun: priority must be an integer (got ${String(priority)})`);
  }
  if (delayMs !== undefined && startAt !== undefined) throw new InvalidArgumentError('startRun: give delayMs or startAt, not both');
  if (delayMs !== undefined) {
    if (!(typeof delayMs === 'number' && Number.isFinite(delayMs) && delayMs >= 0)) {
      throw new InvalidArgumentError(`startRun: delayMs must be a number of milliseconds ≥ 0 (got ${String(delayMs)})`);
    }
    return { priority, startAt: delayMs === 0 ? null : { delayMs } };
  }
  if (startAt !== undefined) {
    const at = startAt instanceof Date ? startAt : typeof startAt === 'string' ? new Date(startAt) : null;
    if (at === null || Number.isNaN(at.getTime())) {
      throw new InvalidArgumentError(`startRun: startAt must be a Date or an ISO date string (got ${String(startAt)})`);
    }
    return { priority, startAt: { at } };
  }
  return { priority, startAt: null };
}

/** The flow `startRun` names: `flowId` and `version`, or those of the typed handle `flow` (not both). */
function flowNamed(args: { flowId?: unknown; version?: unknown; flow?: unknown }): { flowId: string; version: string } {
  if (args.flow === undefined) {
    requireString('startRun', 'flowId', args.flowId);
    requireString('startRun', 'version', args.version);
    return { flowId: args.flowId, version: args.version };
  }
  if (args.flowId !== undefined || args.version !== undefined) {
    throw new InvalidArgumentError('startRun: give the flow either as flow or as flowId and version, not both');
  }
  if (typeof args.flow !== 'object' || args.flow === null) {
    throw new InvalidArgumentError('startRun: flow must be a flow definition or a flowRef(flowId, version)');
  }
  const { flowId, version } = args.flow as { flowId?: unknown; version?: unknown };
  requireString('startRun', 'flow.flowId', flowId);
  requireString('startRun', 'flow.version', version);
  return { flowId, version };
}

/** The event `sendEvent` names: `name`, or that of the declaration `event` (not both). */
function eventNamed(args: { name?: unknown; event?: unknown }): string {
  // Checked by the caller (eventNameProblem), with the message every sendEvent gives.
  if (args.event === undefined) return args.name as string;
  if (args.name !== undefined) throw new InvalidArgumentError('sendEvent: give the event either as event or as name, not both');
  if (typeof args.event !== 'object' || args.event === null) throw new InvalidArgumentError('sendEvent: event must be a defineEvent(name) declaration');
  return (args.event as { name?: unknown }).name as string;
}

function optionalString(method: string, name: string, value: unknown): void {
  if (value !== undefined) requireString(method, name, value);
}

function pruneBatchSize(method: string, value: unknown): number {
  if (value === undefined) return DEFAULT_PRUNE_BATCH_SIZE;
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 10_000) {
    throw new InvalidArgumentError(`${method}: batchSize must be an integer from 1 to 10000`);
  }
  return value as number;
}

/**
 * 0.5.x's switch for embedding an engine only when a deployment asks for one: an engine is made
 * when the environment variable `envVar` (default `AGENT_OS_FLOW_PEER`) is exactly "1".
 */
export function createFlowEngineFromEnv(options: { env?: NodeJS.ProcessEnv; envVar?: string; engine?: FlowEngineOptions } = {}): FlowEngine | undefined {
  if (!flowPeerRequested(options.env, options.envVar)) return undefined;
  return new FlowEngine(options.engine);
}
