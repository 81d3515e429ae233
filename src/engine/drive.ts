/**
 * The engine's ways of driving one run from outside a worker: `tick` (one round), `resumeRun`,
 * and `runToCompletion`. Each locks first and reads without the lock only when another holder
 * has it.
 */
import { AmbiguousResumeError, InvalidRunStateError, LockBusyError, RunNotFoundError } from '../errors.js';
import type { FlowRunStatus } from '../definitions/types.js';
import type { FlowRunRecord, FlowStorage, JsonText, RunLease } from '../storage/types.js';
import { advanceRun, isTimerDue, type StepEnv } from './advance.js';
import type { Clock } from './clock.js';
import type { DefinitionRegistry } from './registry.js';

export interface DriveHost {
  readonly storage: FlowStorage;
  readonly registry: DefinitionRegistry;
  readonly clock: Clock;
  readonly stepEnv: StepEnv;
}

export const RESTING: ReadonlySet<FlowRunStatus> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/** Resting, or waiting with nothing due: `tick` returns such a run as it is. */
function idleForTick(run: FlowRunRecord): boolean {
  return RESTING.has(run.status) || (run.status === 'WAITING' && !isTimerDue(run));
}

export async function mustGetRun(host: DriveHost, runId: string): Promise<FlowRunRecord> {
  const run = await host.storage.getRun(runId);
  if (!run) throw new RunNotFoundError(runId);
  return run;
}

export async function lockOrThrow(host: DriveHost, runId: string): Promise<RunLease> {
  const lease = await host.storage.lockRun(runId);
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
    const lease = await host.storage.lockRun(runId);
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

/**
 * Resumes the WAITING branch at `nodeId` (or the only WAITING branch): its node runs again with
 * the payload, in this call. Several waiting branches and no `nodeId` is an AmbiguousResumeError.
 */
export async function resumeWaitingRun(
  host: DriveHost,
  runId: string,
  resume: { payload: unknown; eventPayload: JsonText; nodeId?: string },
): Promise<FlowRunRecord> {
  const lease = await lockOrThrow(host, runId);
  try {
    const run = lease.run!;
    const waiting = run.status === 'RUNNING' || run.status === 'WAITING' ? run.branches.filter((b) => b.status === 'WAITING') : [];
    if (waiting.length === 0) throw new InvalidRunStateError(runId, run.status, 'resume', 'WAITING');
    const candidates = resume.nodeId === undefined ? waiting : waiting.filter((b) => b.nodeId === resume.nodeId);
    if (candidates.length === 0) {
      throw new InvalidRunStateError(runId, run.status, `resume node "${resume.nodeId}" of`, `a branch waiting there (waiting: ${waiting.map((b) => `"${b.nodeId}"`).join(', ')})`);
    }
    if (resume.nodeId === undefined && candidates.length > 1) throw new AmbiguousResumeError(runId, waiting.map((b) => ({ branchId: b.branchId, nodeId: b.nodeId, waitReason: b.waitReason })));
    const def = host.registry.require(run.flowId, run.flowVersion);
    const branchId = candidates[0]!.branchId;
    // The resumed node's attempt begins in the same commit as the resume.
    return (await advanceRun(lease, def, host.stepEnv, { maxSteps: 1, prepare: (d) => d.resume(branchId, resume.payload, resume.eventPayload) })).run;
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
    const lease = await host.storage.lockRun(runId);
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
