/**
 * FlowWorker: claims due runs of the flows registered in this process and drives each to a wait
 * or an end, up to `concurrency` runs at once. Many workers, in one process or many, share a
 * database safely: a run is advanced only under its lock (`storage.lockRun`), and what is due is
 * decided by the store's clock (the database's `now()`), never by this process's.
 *
 * The loop: look for due runs → lock each (null = another holder has it: skip) → advance it in
 * the background → look again while slots are free; with nothing to claim, sleep until the
 * earliest of the next due time and `pollIntervalMs`, woken early by `storage.onWake`.
 */
import { FlowError } from '../errors.js';
import { AbandonedAttempt } from '../engine/attempt.js';
import type { RunLease } from '../storage/types.js';
import { DueRunClaimer } from './claimer.js';
import { countClaimResult, zeroCounters } from './counters.js';
import type { WorkerHost } from './host.js';
import { resolveWorkerOptions, type ResolvedWorkerOptions } from './options.js';
import { acquireTelemetry, releaseTelemetry, type FlowTelemetry } from './telemetry.js';
import type { WorkerCounters, WorkerOptions, WorkerState, WorkerStatus } from './types.js';
import { UnregisteredFlowReporter } from './unregistered-flows.js';
import { WakeGate } from './wake-gate.js';
import { ScheduleLoop } from './schedule-loop.js';
import { WorkerHeartbeat } from './heartbeat.js';
import { runFields } from './logger.js';
import { acquireRunLog, releaseRunLog } from './run-log.js';
import { randomUUID } from 'node:crypto';

/** Longest backoff after storage errors (connect or poll). */
const MAX_ERROR_BACKOFF_MS = 30_000;
/** After aborting abandoned attempts at stop, how long their runs get to be let go. */
const ABANDON_GRACE_MS = 5_000;

export class FlowWorker {
  /** Resolves once the worker is STOPPED (after `stop()`, `engine.close()`, or a fatal start error). Never rejects. */
  readonly stopped: Promise<void>;
  /** Resolves when the worker is RUNNING; rejects if it stops first (e.g. the schema is newer than the code). */
  readonly started: Promise<void>;
  /** Its id in the workers' registry (`engine.listWorkers()`). */
  readonly id: string = randomUUID();

  private readonly opts: ResolvedWorkerOptions;
  private readonly gate = new WakeGate();
  private readonly drain = new AbortController();
  /** The runs being advanced, by id. */
  private readonly active = new Map<string, Promise<void>>();
  /** Controllers of the attempts in flight (to abort them when the stop grace period runs out). */
  private readonly attempts = new Set<AbortController>();
  private readonly unregistered: UnregisteredFlowReporter;
  private readonly claimer: DueRunClaimer;
  private readonly counters: WorkerCounters = zeroCounters();
  private state: WorkerState = 'STARTING';
  private stopRequested = false;
  private loop?: Promise<void>;
  /** Fires due schedule ticks beside the claim loop (schedule-loop.ts). */
  private readonly scheduleLoop: ScheduleLoop;
  private scheduling?: Promise<void>;
  private stopping?: Promise<void>;
  private telemetry: FlowTelemetry | null = null;
  private readonly heartbeat: WorkerHeartbeat;
  private logsRuns = false;
  private unsubscribeWake?: () => void;
  private startedAt: Date | null = null;
  private lastPollAt: Date | null = null;
  private lastError: WorkerStatus['lastError'] = null;
  private resolveStopped!: () => void;
  private settleStarted!: (error?: unknown) => void;

  /** `host` is the engine whose flows this worker runs (`engine.startWorker()` passes itself). */
  constructor(
    private readonly host: WorkerHost,
    options: WorkerOptions = {},
  ) {
    this.opts = resolveWorkerOptions(options, { workerId: this.id });
    this.unregistered = new UnregisteredFlowReporter(host.storage, this.opts.logger);
    this.claimer = new DueRunClaimer(host.storage, this.opts.batchSize, this.counters);
    this.heartbeat = new WorkerHeartbeat(host.storage, this.opts.heartbeatIntervalMs, this.opts.logger, () => ({
      workerId: this.id,
      flowKeys: this.host.flowKeys(),
      concurrency: this.opts.concurrency,
      inFlight: this.active.size,
    }));
    this.scheduleLoop = new ScheduleLoop(host.scheduleFirer, host.clock, this.opts.pollIntervalMs, (message, err) => this.recordError(message, err));
    this.stopped = new Promise<void>((resolve) => (this.resolveStopped = resolve));
    this.started = new Promise<void>((resolve, reject) => {
      this.settleStarted = (error) => (error === undefined ? resolve() : reject(error));
    });
    this.started.catch(() => {}); // observed through status() and the log when nobody awaits it
  }

  /** Starts claiming (done by `engine.startWorker`). Calling it again does nothing. */
  start(): void {
    if (this.loop || this.stopRequested) return;
    this.startedAt = new Date();
    this.loop = this.main().catch((err) => this.recordError('worker loop crashed', err));
  }

  /**
   * Graceful stop: stop claiming, let in-flight steps finish within `stopTimeoutMs`, then abort
   * the attempts still running (their runs are let go uncommitted, so another worker takes them
   * over). Resolves when STOPPED; every call returns the same promise.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  status(): WorkerStatus {
    return {
      workerId: this.id,
      state: this.state,
      inFlight: this.active.size,
      inFlightRunIds: [...this.active.keys()],
      concurrency: this.opts.concurrency,
      counters: { ...this.counters },
      flowKeys: this.host.flowKeys(),
      startedAt: this.startedAt,
      lastPollAt: this.lastPollAt,
      lastError: this.lastError,
    };
  }

  private async main(): Promise<void> {
    if (!(await this.connect())) return;
    if (this.opts.openTelemetry) this.telemetry = await acquireTelemetry(this.host);
    acquireRunLog(this.host, this.opts.logger);
    this.logsRuns = true;
    if (this.stopRequested) return;
    this.unsubscribeWake = this.host.storage.onWake((runId) => {
      this.counters.wakes += 1;
      // A run this worker holds may have got an answer its holder will not see before it lets go
      // (an inbox entry written after its last commit began): look at it again once it is let go.
      if (this.active.has(runId)) this.wokenWhileHeld.add(runId);
      else this.claimer.hint(runId);
      this.gate.notify();
    });
    // Started means listening: a run announced from now on is not missed (polls would find it late).
    await settleBy(this.host.storage.wakeReady?.() ?? Promise.resolve(), Date.now() + WAKE_READY_TIMEOUT_MS);
    if (this.stopRequested) return;
    this.state = 'RUNNING';
    await this.heartbeat.start();
    this.settleStarted();
    const flowKeys = this.host.flowKeys();
    this.opts.logger.info('started', { store: this.host.storage.kind, concurrency: this.opts.concurrency, flowKeys });
    if (flowKeys.length === 0) this.opts.logger.warn('no flow is registered in this process yet: nothing will be claimed until one is');
    this.scheduling = this.scheduleLoop.run().catch((err) => this.recordError('schedule loop crashed', err));
    await this.claimLoop();
  }

  /** Connects (and migrates) through the host, retrying while the store is unreachable. */
  private async connect(): Promise<boolean> {
    let delay = 200;
    while (!this.stopRequested) {
      try {
        await this.host.ready();
        return true;
      } catch (err) {
        this.recordError('cannot reach the store', err);
        if (err instanceof FlowError && !err.retryable) {
          this.opts.logger.error('not starting: the store refused a non-retryable error', { code: err.code });
          this.settleStarted(err);
          void this.stop();
          return false;
        }
        this.opts.logger.warn(`retrying the store in ${delay} ms`);
        await this.gate.wait(delay);
        delay = Math.min(delay * 2, MAX_ERROR_BACKOFF_MS);
      }
    }
    return false;
  }

  private async claimLoop(): Promise<void> {
    let errorBackoffMs = 0;
    while (!this.stopRequested) {
      const free = this.opts.concurrency - this.active.size;
      if (free <= 0) {
        await this.gate.wait(Number.POSITIVE_INFINITY); // a finished run frees a slot and notifies
        continue;
      }
      let sleepMs = this.opts.pollIntervalMs;
      let dueInMs: number | undefined;
      try {
        const flowKeys = this.host.flowKeys();
        const pass = flowKeys.length === 0 ? null : await this.claimer.claim(free, flowKeys, this.active, () => this.stopRequested);
        if (pass) this.lastPollAt = new Date();
        for (const lease of pass?.leases ?? []) this.launch(lease);
        if (pass?.error) throw pass.error;
        errorBackoffMs = 0;
        if (pass && (pass.leases.length > 0 || pass.more || !pass.looked)) continue; // more may be due: take it while slots are free
        if (!pass || pass.due === 0) {
          // Nothing claimable is due: sleep until the next due time (retry, timer), bounded by the poll.
          await this.unregistered.maybeCheck(flowKeys);
          // Future due times only: a run due now but held elsewhere (an attempt in flight) wakes us
          // when its holder lets go of it still due (a NOTIFY), or a crashed holder's run at the next poll.
          const next = flowKeys.length === 0 ? null : await this.host.storage.msUntilNextDue(flowKeys);
          if (next !== null && next > 0) dueInMs = next + 1; // the store rounds up to whole ms; one more never wakes us early
        }
        // else: due runs exist but other holders have them; their release (or the poll) wakes us.
      } catch (err) {
        this.recordError('looking for due runs failed', err);
        errorBackoffMs = Math.min(Math.max(errorBackoffMs * 2, 100), MAX_ERROR_BACKOFF_MS);
        sleepMs = Math.max(errorBackoffMs, this.opts.pollIntervalMs);
      }
      await this.gate.wait(sleepMs, dueInMs === undefined ? undefined : { ms: dueInMs, clock: this.host.clock });
    }
    this.claimer.forget();
  }

  /** Runs announced (NOTIFY) while this worker held them: re-announced when let go. */
  private readonly wokenWhileHeld = new Set<string>();

  private launch(lease: RunLease): void {
    const runId = lease.runId;
    const task = this.advance(lease).finally(() => {
      this.active.delete(runId);
      if (this.wokenWhileHeld.delete(runId)) this.claimer.hint(runId);
      this.gate.notify();
    });
    this.active.set(runId, task);
  }

  private async advance(lease: RunLease): Promise<void> {
    this.counters.claimed += 1;
    const run = lease.run;
    if (run) this.host.flowMetrics?.claimed(run);
    const def = run ? this.host.definitionOf(run) : undefined;
    if (!run || !def) {
      // Deleted since the look, or a store that ignored the flow filter: leave it untouched.
      await lease.release().catch((err) => this.recordError(`releasing run ${lease.runId} failed`, err, { runId: lease.runId }));
      return;
    }
    try {
      const go = () => this.host.advanceLocked(lease, def, { maxSteps: this.opts.maxStepsPerClaim, drain: this.drain.signal, trackAttempt: this.trackAttempt });
      countClaimResult(this.counters, this.telemetry ? await this.telemetry.claim(run, go) : await go());
    } catch (err) {
      if (err instanceof AbandonedAttempt) this.counters.abandoned += 1;
      else this.recordError(`advancing run ${run.runId} failed; it stays claimable`, err, runFields(run, run.currentNodeId));
    }
  }

  private async shutdown(): Promise<void> {
    this.stopRequested = true;
    if (this.state === 'STOPPED') return this.stopped;
    this.state = 'STOPPING';
    this.drain.abort();
    this.gate.close();
    this.scheduleLoop.stop();
    this.unsubscribeWake?.();
    const deadline = Date.now() + this.opts.stopTimeoutMs;
    // The loop lets go of whatever it was claiming; a poll stuck on a dead database is not waited for past the deadline.
    if (this.loop) await settleBy(this.loop, deadline);
    if (this.scheduling) await settleBy(this.scheduling, deadline);
    this.state = 'DRAINING';
    if (!(await settleBy(Promise.allSettled(this.active.values()), deadline))) {
      this.opts.logger.warn(
        `stop: ${this.active.size} run(s) still in flight after ${this.opts.stopTimeoutMs} ms; aborting their attempts, which will be retried elsewhere`,
        {
          runIds: [...this.active.keys()],
        },
      );
      for (const controller of this.attempts) controller.abort(new AbandonedAttempt());
      if (!(await settleBy(Promise.allSettled(this.active.values()), Date.now() + ABANDON_GRACE_MS))) {
        this.opts.logger.error('stop: some runs could not be let go (is the store reachable?); their locks end with their connections', {
          runIds: [...this.active.keys()],
        });
      }
    }
    if (this.telemetry) releaseTelemetry(this.host);
    if (this.logsRuns) releaseRunLog(this.host);
    await settleBy(this.heartbeat.stop(), Date.now() + ABANDON_GRACE_MS);
    this.state = 'STOPPED';
    this.settleStarted(new FlowError('WORKER_STOPPED', 'The worker stopped before it started'));
    this.resolveStopped();
    if (this.startedAt) this.opts.logger.info('stopped', { counters: { ...this.counters } });
  }

  /** Each attempt in flight, so that a stop whose grace period ran out can abort it. */
  private readonly trackAttempt = (controller: AbortController): (() => void) => {
    this.attempts.add(controller);
    return () => this.attempts.delete(controller);
  };

  private recordError(message: string, err: unknown, meta: Record<string, unknown> = {}): void {
    this.counters.errors += 1;
    const code = err instanceof FlowError ? err.code : undefined;
    const text = err instanceof Error ? err.message : String(err);
    this.lastError = { message: `${message}: ${text}`, code, at: new Date() };
    this.opts.logger.error(message, { ...meta, error: text, code });
  }
}

/** How long a starting worker waits for its store's wake-ups to be in place before it starts anyway (polling still finds everything). */
const WAKE_READY_TIMEOUT_MS = 5_000;

/** True when `promise` settled before `deadline` (ms since epoch). */
async function settleBy(promise: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))));
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
