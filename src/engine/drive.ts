/**
 * The engine's ways of driving one run from outside a worker: `tick` (one round), `resumeRun`,
 * and `runToCompletion`. Each locks first and reads without the lock only when another holder
 * has it. `resumeRun` never needs the lock: it writes the run's inbox, then applies the resume
 * itself when the run is free (otherwise its holder, or the next, does).
 */
import { AmbiguousResumeError, InvalidRunStateError, LockBusyError, RunNotFoundError } from '../errors.js';
import type { FlowRunRecord, FlowStorage, JsonText, RunLease } from '../storage/types.js';
import { awaitedChildren, isFinished, LIVE_STATUSES, type WaitingBranch } from '../core/states.js';
import { advanceRun, type StepEnv } from './advance.js';
import { isDueNow } from '../storage/due.js';
import type { Clock } from '../core/clock.js';
import type { DefinitionRegistry } from './registry.js';

export interface DriveHost {
  readonly storage: FlowStorage;
  readonly registry: DefinitionRegistry;
  readonly clock: Clock;
  readonly stepEnv: StepEnv;
}

export async function mustGetRun(host: DriveHost, runId: string): Promise<FlowRunRecord> {
  const run = await host.storage.getRun(runId);
  if (!run) throw new RunNotFoundError(runId);
  return run;
}

/** The definition of the locked run, or the lease released and FlowNotFoundError thrown. */
async function definitionFor(host: DriveHost, lease: RunLease, run: FlowRunRecord) {
  const def = host.registry.get(run.flowId, run.flowVersion);
  if (def) return def;
  await lease.release();
  return host.registry.require(run.flowId, run.flowVersion);
}

/** One round of the run under its lock: `tick` (waits for a due retry; returns a resting or waiting run as it is). */
export async function tickRun(host: DriveHost, runId: string): Promise<FlowRunRecord> {
  for (;;) {
    const lease = await host.storage.lockRun(runId);
    const run = lease ? lease.run : await mustGetRun(host, runId);
    if (!run) {
      await lease?.release();
      throw new RunNotFoundError(runId);
    }
    if (lease && isDueNow(run)) {
      const def = await definitionFor(host, lease, run);
      return (await advanceRun(lease, def, host.stepEnv, { maxSteps: 1 })).run;
    }
    await lease?.release();
    if (run.status === 'RUNNING' && run.dueInMs > 0) {
      await host.clock.sleep(run.dueInMs);
      continue;
    }
    if (!lease && isDueNow(run)) throw new LockBusyError(runId);
    return run;
  }
}

/** How long `resumeRun` tries to take a busy run to apply its resume itself, before leaving it to the holder. */
const RESUME_LOCK_TRIES_MS = [0, 2, 5, 10, 20, 40];

/**
 * Resumes the WAITING branch at `nodeId` (or the only one waiting). The answer goes into the run's
 * inbox — one per wait, so of concurrent resumes of one wait exactly one is taken — and is applied
 * here, with the resumed node's next attempt, when the run is free; while another holder has the
 * run it applies it (or the next holder does), and the run is returned as it is.
 */
export async function resumeWaitingRun(host: DriveHost, runId: string, resume: { payload: JsonText; nodeId?: string }): Promise<FlowRunRecord> {
  const run = await mustGetRun(host, runId);
  const branch = waitingBranch(run, resume.nodeId);
  const taken = await host.storage.addToInbox({ runId, kind: 'resume', waitId: branch.waitId, branchId: branch.branchId, payload: resume.payload });
  if (!taken)
    throw new InvalidRunStateError(
      runId,
      run.status,
      `resume the wait at node "${branch.nodeId}" of`,
      'a wait not already resumed (another resume of it came first)',
    );
  for (const ms of RESUME_LOCK_TRIES_MS) {
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
    const lease = await host.storage.lockRun(runId);
    if (!lease) continue;
    const locked = lease.run;
    if (!locked || !isDueNow(locked)) {
      // Another holder applied it meanwhile.
      await lease.release();
      return locked ?? mustGetRun(host, runId);
    }
    const def = await definitionFor(host, lease, locked);
    return (await advanceRun(lease, def, host.stepEnv, { maxSteps: 1 })).run;
  }
  return mustGetRun(host, runId);
}

/** The branch a resume is for; the typed errors of `resumeRun` when there is none, or no way to choose. */
function waitingBranch(run: FlowRunRecord, nodeId: string | undefined): WaitingBranch {
  const live = LIVE_STATUSES.includes(run.status);
  // A branch waiting for its child run is answered by the child, not by a resume.
  const waiting = live ? run.branches.filter((b): b is WaitingBranch => b.status === 'WAITING' && b.waitFor !== 'child') : [];
  if (waiting.length === 0) throw new InvalidRunStateError(run.runId, run.status, 'resume', 'WAITING');
  const candidates = nodeId === undefined ? waiting : waiting.filter((b) => b.nodeId === nodeId);
  if (candidates.length === 0) {
    throw new InvalidRunStateError(
      run.runId,
      run.status,
      `resume node "${nodeId}" of`,
      `a branch waiting there (waiting: ${waiting.map((b) => `"${b.nodeId}"`).join(', ')})`,
    );
  }
  if (nodeId === undefined && candidates.length > 1) {
    throw new AmbiguousResumeError(
      run.runId,
      waiting.map((b) => ({ branchId: b.branchId, nodeId: b.nodeId, waitReason: b.waitReason })),
    );
  }
  return candidates[0]!;
}

/**
 * Drives the run until it rests (or waits for a person or an event): `known` is the run as last
 * seen when it says what to do without the lock (sleep, return); otherwise the next move is to
 * lock it. Child runs it waits for are driven the same way, in this call.
 */
export async function driveToRest(host: DriveHost, runId: string, options: { maxWaitMs?: number }, depth = 0): Promise<FlowRunRecord> {
  let busyDelay = 5;
  let known: FlowRunRecord | null = null;
  for (;;) {
    if (known && !isDueNow(known)) {
      if (isFinished(known.status)) return known;
      const children = depth < 64 ? awaitedChildren(known.branches) : [];
      if (children.length > 0) {
        // Drive the children; their ends land in this run's inbox.
        const ends = await Promise.all(children.map((id) => driveToRest(host, id, options, depth + 1)));
        known = await mustGetRun(host, runId);
        if (isDueNow(known)) continue;
        if (ends.some((c) => !isFinished(c.status))) return known; // a child waits for a person or an event
        continue;
      }
      const dueInMs = known.status === 'WAITING' ? (known.nextAttemptAt === null ? null : known.dueInMs) : known.dueInMs;
      if (dueInMs === null) return known;
      if (options.maxWaitMs !== undefined && dueInMs > options.maxWaitMs) return known;
      await host.clock.sleep(dueInMs);
      known = null;
      continue;
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
    if (!locked || !isDueNow(locked)) {
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
