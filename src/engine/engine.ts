/**
 * FlowEngine: the front door. It validates arguments, holds the definitions this process can
 * execute, and delegates the rest: driving runs to `drive`/`advance`/`step`, persistence to a `FlowStorage`.
 */
import { randomUUID } from 'node:crypto';
import {
  FlowError,
  InvalidArgumentError,
  InvalidRunStateError,
  RunNotFoundError,
} from '../errors.js';
import type { FlowDefinition, FlowRunStatus } from '../definitions/types.js';
import type { FlowEventRecord, FlowRunRecord, FlowStorage, JsonText, RunFilter, RunPage } from '../storage/types.js';
import { resolveStorage } from '../storage/resolve.js';
import { driveToRest, mustGetRun, resumeWaitingRun, tickRun } from './drive.js';
import { systemClock, type Clock } from './clock.js';
import { DEFAULT_MAX_JSON_BYTES, serializeJson, unstorableTextReason } from './json.js';
import { isPlainObject } from './merge.js';
import { DefinitionRegistry, flowKey } from './registry.js';
import { CancelledAttempt } from './attempt.js';
import type { StepEnv } from './advance.js';
import { firstBranch } from './branches.js';
import { FlowEvents } from './events.js';
import { assertNoReservedStateKeys } from './reserved-keys.js';
import { FlowWorker, type WorkerOptions } from '../worker/worker.js';

export interface FlowEngineOptions {
  /** Where runs live. Default: Postgres at `databaseUrl`/`DATABASE_URL` if set, else memory (not durable). */
  storage?: FlowStorage;
  /** Postgres connection string; overrides the `DATABASE_URL` environment variable. */
  databaseUrl?: string;
  /** Passed to every handler as `ctx.services` (clients, repositories …). */
  services?: Record<string, unknown>;
  /** Time source for durations and memory-store due times (default: system clock). Tests inject a `ManualClock`. */
  clock?: Clock;
  /** Largest JSON value (input, state, outputs, payload) in bytes (default 1 MiB). */
  maxJsonBytes?: number;
  /** Interrupted attempts tolerated at one node before the run fails with POISON_PILL (default 3). */
  maxRecoveries?: number;
}

export interface StartRunArgs {
  flowId: string;
  version: string;
  input: unknown;
  tenantId?: string;
  initialState?: Record<string, unknown>;
  /** Starting twice with the same key returns the first run instead of creating another. */
  idempotencyKey?: string;
}

export interface StartRunResult {
  runId: string;
  status: FlowRunStatus;
  /** False when `idempotencyKey` matched an existing run. */
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
}

export type FlowRun = FlowRunRecord;
export type FlowEvent = FlowEventRecord;

export class FlowEngine extends FlowEvents {
  readonly storage: FlowStorage;
  /** @internal used by the worker */
  readonly registry = new DefinitionRegistry();
  /** @internal used by the worker */
  readonly clock: Clock;
  /** @internal used by the worker */
  readonly stepEnv: StepEnv;
  private readonly inflight = new Map<string, Set<AbortController>>();
  private initPromise?: Promise<void>;
  private closed = false;

  constructor(options: FlowEngineOptions = {}) {
    super();
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('FlowEngine: options must be an object');
    this.clock = options.clock ?? systemClock;
    this.storage = resolveStorage(options.storage, options.databaseUrl, options.clock);
    const maxJsonBytes = options.maxJsonBytes ?? DEFAULT_MAX_JSON_BYTES;
    const maxRecoveries = options.maxRecoveries ?? 3;
    if (!Number.isInteger(maxJsonBytes) || maxJsonBytes < 16) throw new InvalidArgumentError('FlowEngine: maxJsonBytes must be an integer >= 16');
    if (!Number.isInteger(maxRecoveries) || maxRecoveries < 0) throw new InvalidArgumentError('FlowEngine: maxRecoveries must be an integer >= 0');
    this.stepEnv = {
      services: options.services,
      maxJsonBytes,
      maxRecoveries,
      now: () => this.clock.now(),
      sleep: (ms, signal) => this.clock.sleep(ms, signal),
      loadMap: (runId, key) => this.storage.getMapValues(runId, key),
      lookupIdempotent: (key) => this.storage.getIdempotencyRecord(key),
      trackAttempt: (runId, controller) => this.trackAttempt(runId, controller),
      onCommitted: (run, events) => this.emitCommitted(run, events),
    };
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

  async registerDefinition(def: FlowDefinition): Promise<void> {
    await this.ready();
    await this.registry.register(def, this.storage);
  }

  async startRun(args: StartRunArgs): Promise<StartRunResult> {
    assertNoReservedStateKeys('startRun: initialState', args?.initialState);
    if (!isPlainObject(args)) throw new InvalidArgumentError('startRun: expected { flowId, version, input }');
    requireString('startRun', 'flowId', args.flowId);
    requireString('startRun', 'version', args.version);
    optionalString('startRun', 'tenantId', args.tenantId);
    optionalString('startRun', 'idempotencyKey', args.idempotencyKey);
    if (args.initialState !== undefined && !isPlainObject(args.initialState)) {
      throw new InvalidArgumentError('startRun: initialState must be a plain object');
    }
    await this.ready();
    const def = this.registry.require(args.flowId, args.version);
    const limits = { maxBytes: this.stepEnv.maxJsonBytes };
    const input = serializeJson(args.input === undefined ? null : args.input, { what: 'input', ...limits });
    const state = serializeJson(args.initialState ?? {}, { what: 'initialState', ...limits });
    const { run, created } = await this.storage.createRun({
      runId: randomUUID(),
      flowId: def.flowId,
      flowVersion: def.version,
      tenantId: args.tenantId ?? null,
      idempotencyKey: args.idempotencyKey ?? null,
      currentNodeId: def.entry,
      input,
      state,
      branches: JSON.stringify([firstBranch(def.entry)]) as JsonText,
      events: [{ type: 'RUN_STARTED', nodeId: def.entry, branchId: 'b1' }],
    });
    if (!created && (run.flowId !== def.flowId || run.flowVersion !== def.version)) {
      throw new FlowError(
        'IDEMPOTENCY_KEY_CONFLICT',
        `idempotencyKey ${JSON.stringify(args.idempotencyKey)} already started run ${run.runId} of ${flowKey(run.flowId, run.flowVersion)}, not ${flowKey(def.flowId, def.version)}`,
      );
    }
    if (created) this.emit('run:started', { run });
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
   * Resumes a waiting branch: its node runs again (in this call) and sees the payload at
   * `ctx.state._resumePayload`. With several branches waiting, `nodeId` says which one
   * (without it, an AmbiguousResumeError lists them).
   */
  async resumeRun(runId: string, payload?: unknown, options: { nodeId?: string } = {}): Promise<FlowRunRecord> {
    requireString('resumeRun', 'runId', runId);
    if (!isPlainObject(options)) throw new InvalidArgumentError('resumeRun: options must be an object like { nodeId }');
    optionalString('resumeRun', 'nodeId', options.nodeId);
    const limits = { maxBytes: this.stepEnv.maxJsonBytes };
    const payloadText = serializeJson(payload === undefined ? null : payload, { what: 'resume payload', ...limits });
    await this.ready();
    return resumeWaitingRun(this, runId, {
      // No payload: the node sees none (a resume that only says "go on").
      payload: payload === undefined ? undefined : JSON.parse(payloadText),
      eventPayload: serializeJson({ payload: JSON.parse(payloadText) }, { what: 'resume payload', ...limits }),
      nodeId: options.nodeId,
    });
  }

  /** Cancels a RUNNING or WAITING run; an attempt in flight in this process sees `ctx.signal` abort. */
  async cancelRun(runId: string, reason?: string): Promise<FlowRunRecord> {
    requireString('cancelRun', 'runId', runId);
    optionalString('cancelRun', 'reason', reason);
    await this.ready();
    const message = reason ?? 'Cancelled';
    const payload = serializeJson({ reason: reason ?? null }, { what: 'cancel reason' });
    const run = await this.storage.cancelRun(runId, [{ type: 'RUN_CANCELLED', payload }], { code: 'CANCELLED', message, retryable: false });
    if (!run) throw new RunNotFoundError(runId);
    if (run.status === 'COMPLETED' || run.status === 'FAILED') throw new InvalidRunStateError(runId, run.status, 'cancel', 'RUNNING or WAITING');
    for (const controller of this.inflight.get(runId) ?? []) controller.abort(new CancelledAttempt());
    this.emit('run:cancelled', { run });
    return run;
  }

  async getRun(runId: string): Promise<FlowRunRecord | null> {
    requireString('getRun', 'runId', runId);
    await this.ready();
    return this.storage.getRun(runId);
  }

  async getTimeline(runId: string): Promise<FlowEventRecord[]> {
    requireString('getTimeline', 'runId', runId);
    await this.ready();
    const events = await this.storage.getEvents(runId);
    if (events.length === 0) await mustGetRun(this, runId);
    return events;
  }

  async listRuns(filter: RunFilter = {}): Promise<RunPage> {
    await this.ready();
    return this.storage.listRuns(filter);
  }

  async listFlows(): Promise<FlowSummary[]> {
    await this.ready();
    const defs = await this.storage.listDefinitions();
    return defs.map((d) => ({
      flowId: d.flowId,
      version: d.version,
      fingerprint: d.fingerprint,
      definitionJson: d.graph,
      registered: this.registry.has(flowKey(d.flowId, d.version)),
      createdAt: d.createdAt,
    }));
  }

  /** Ids of every RUNNING run (all pages). */
  async getRunningRunIds(): Promise<string[]> {
    await this.ready();
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.storage.listRuns({ status: 'RUNNING', limit: 1000, cursor });
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

  /** Stops workers started by this engine and releases every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.beforeClose();
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

  private trackAttempt(runId: string, controller: AbortController): () => void {
    let set = this.inflight.get(runId);
    if (!set) this.inflight.set(runId, (set = new Set()));
    set.add(controller);
    return () => {
      set!.delete(controller);
      if (set!.size === 0) this.inflight.delete(runId);
    };
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

function optionalString(method: string, name: string, value: unknown): void {
  if (value !== undefined) requireString(method, name, value);
}
