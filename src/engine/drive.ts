/**
 * The engine's ways of driving one run from outside a worker: `tick` (one step), `resumeRun`, and
 * `runToCompletion`. Each locks first — the lock reads the row and, when the run is due, begins
 * its attempt in the same round trip (`LockRunOptions.beginAttempt`) — and reads without the lock
 * only when another holder has it.
 */
import { InvalidRunStateError, LockBusyError, RunNotFoundError } from '../errors.js';
import type { FlowRunStatus } from '../definitions/types.js';
import type { FlowRunRecord, FlowStorage, JsonText, LockRunOptions, RunLease } from '../storage/types.js';
import { advanceRun, isTimerDue, resumeTransition } from './advance.js';
import { resumeWithBegin, startedEvent } from './begin.js';
import type { Clock } from './clock.js';
import type { DefinitionRegistry } from './registry.js';
import type { StepEnv } from './step.js';

export interface DriveHost {
  readonly storage: FlowStorage;
  readonly registry: DefinitionRegistry;
  readonly clock: Clock;
  readonly stepEnv: StepEnv;
}

export const RESTING: ReadonlySet<FlowRunStatus> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/** Lock options of every lease the engine takes to run steps: begin the due attempt on the lock. */
export function stepLockOptions(host: DriveHost): LockRunOptions {
  return { beginAttempt: host.registry.beginAttemptRequest(host.stepEnv.maxJsonBytes) };
}

/** Resting, or waiting with nothing due: `tick` returns such a run as it is. */
function idleForTick(run: FlowRunRecord): boolean {
  return RESTING.has(run.status) || (run.status === 'WAITING' && !isTimerDue(run));
}

export async function mustGetRun(host: DriveHost, runId: string): Promise<FlowRunRecord> {
  const run = await host.storage.getRun(runId);
  if (!run) throw new RunNotFoundError(runId);
  return run;
}

export async function lockOrThrow(host: DriveHost, runId: string, options?: LockRunOptions): Promise<RunLease> {
  const lease = await host.storage.lockRun(runId, options);
  if (!lease) {
    const exists = await host.storage.getRun(runId);
    if (!exists) throw new RunNotFoundError(runId);
    throw new LockBusyError(runId);
  }
  if (!lease.run) {
    await lease.release();
    throw new RunNotFoundError(runId);
  }
  return lease;
}

/** The definition of the locked run, or the lease released and FlowNotFoundError thrown. */
async function definitionFor(host: DriveHost, lease: RunLease, run: FlowRunRecord) {
  const def = host.registry.get(run.flowId, run.flowVersion);
  if (def) return def;
  await lease.release();
  return host.registry.require(run.flowId, run.flowVersion);
}

export async function tickRun(host: DriveHost, runId: string): Promise<FlowRunRecord> {
  for (;;) {
    const lease = await host.storage.lockRun(runId, stepLockOptions(host));
    if (!lease) {
      const run = await mustGetRun(host, runId);
      if (idleForTick(run)) return run;
      if (run.status === 'RUNNING' && run.dueInMs > 0) {
        await host.clock.sleep(run.dueInMs);
        continue;
      }
      throw new LockBusyError(runId);
    }
    const locked = lease.run;
    if (!locked || idleForTick(locked) || (locked.status === 'RUNNING' && locked.dueInMs > 0)) {
      await lease.release();
      if (!locked) throw new RunNotFoundError(runId);
      if (idleForTick(locked)) return locked;
      await host.clock.sleep(locked.dueInMs);
      continue;
    }
    const def = await definitionFor(host, lease, locked);
    return (await advanceRun(lease, def, host.stepEnv, { maxSteps: 1 })).run;
  }
}

/** Resumes a WAITING run; `texts` gives the new state (with the payload) and the RUN_RESUMED payload. */
export async function resumeWaitingRun(
  host: DriveHost,
  runId: string,
  texts: (run: FlowRunRecord) => { state: JsonText; eventPayload: JsonText },
): Promise<FlowRunRecord> {
  const lease = await lockOrThrow(host, runId);
  try {
    const run = lease.run!;
    if (run.status !== 'WAITING') throw new InvalidRunStateError(runId, run.status, 'resume', 'WAITING');
    const def = host.registry.require(run.flowId, run.flowVersion);
    const { state, eventPayload } = texts(run);
    const resume = resumeTransition(run, { timer: false, state, payload: eventPayload });
    // The resumed node's attempt starts in the same commit (see begin.ts).
    const withBegin = resumeWithBegin(resume, run, def, host.stepEnv);
    const resumed = await lease.commit(withBegin ?? resume);
    host.stepEnv.onCommitted?.(resumed, withBegin ? [{ type: 'RUN_RESUMED' }, startedEvent(resumed)] : [{ type: 'RUN_RESUMED' }]);
    return (await advanceRun(lease, def, host.stepEnv, { maxSteps: 1, begun: withBegin !== null })).run;
  } finally {
    await lease.release();
  }
}

/**
 * Drives the run until it rests (or waits for a person): `known` is the run as last seen when it
 * says what to do without the lock (sleep, return); otherwise the next move is to lock it.
 */
export async function driveToRest(host: DriveHost, runId: string, options: { maxWaitMs?: number }): Promise<FlowRunRecord> {
  let busyDelay = 5;
  let known: FlowRunRecord | null = null;
  for (;;) {
    if (known) {
      if (RESTING.has(known.status)) return known;
      if (known.status === 'WAITING') {
        if (known.nextAttemptAt === null) return known;
        if (!isTimerDue(known)) {
          if (options.maxWaitMs !== undefined && known.dueInMs > options.maxWaitMs) return known;
          await host.clock.sleep(known.dueInMs);
          known = null;
          continue;
        }
      } else if (known.dueInMs > 0) {
        await host.clock.sleep(known.dueInMs);
        known = null;
        continue;
      }
    }
    const lease = await host.storage.lockRun(runId, stepLockOptions(host));
    if (!lease) {
      // Another holder (a worker) is advancing it: poll until it rests.
      await new Promise((r) => setTimeout(r, busyDelay));
      busyDelay = Math.min(busyDelay * 2, 200);
      known = await mustGetRun(host, runId);
      continue;
    }
    busyDelay = 5;
    const locked = lease.run;
    if (!locked || !(isTimerDue(locked) || (locked.status === 'RUNNING' && locked.dueInMs <= 0))) {
      // Nothing to do under the lock (it moved since we last saw it): decide from what it is now.
      await lease.release();
      if (!locked) throw new RunNotFoundError(runId);
      known = locked;
      continue;
    }
    const def = await definitionFor(host, lease, locked);
    // Returns the run as its last commit left it (or as re-read, when someone else moved it).
    known = (await advanceRun(lease, def, host.stepEnv, { maxSteps: Number.POSITIVE_INFINITY })).run;
  }
}
