/**
 * Drive a locked run forward: wake a due timer, then run steps while the run stays RUNNING and
 * due, up to `maxSteps`. Used by `tick` (one step), `runToCompletion` and the worker (many).
 * The lease is always released on the way out, whatever happens.
 */
import { StaleRunError } from '../errors.js';
import type { FlowDefinition } from '../definitions/types.js';
import type { FlowRunRecord, RunLease, RunUpdate, Transition } from '../storage/types.js';
import { resumeWithBegin, startedEvent } from './begin.js';
import { runStep, type StepEnv } from './step.js';

export interface AdvanceOptions {
  maxSteps: number;
  /**
   * When aborted, finish the step in progress and stop (a worker's graceful stop). A step whose
   * start already rode on the previous commit is still run, so a drain never leaves a begun
   * attempt behind to be reported as interrupted.
   */
  drain?: AbortSignal;
  /** The caller's last commit in this lease began the current attempt (a resume that carried it). */
  begun?: boolean;
}

export interface AdvanceResult {
  run: FlowRunRecord;
  steps: number;
  /** The commit fence rejected this holder: someone else changed the run (cancel, or a lost lock). */
  stale: boolean;
}

/** True when a WAITING run has a timer that is due now (by the store's clock). */
export function isTimerDue(run: FlowRunRecord): boolean {
  return run.status === 'WAITING' && run.nextAttemptAt !== null && run.dueInMs <= 0;
}

export async function advanceRun(
  lease: RunLease,
  def: FlowDefinition,
  env: StepEnv,
  options: AdvanceOptions,
): Promise<AdvanceResult> {
  let run = lease.run!;
  let steps = 0;
  // The lock may have begun the attempt already (LockRunOptions.beginAttempt): the step runs it.
  let begun = run.attemptInFlight && (options.begun === true || lease.attemptBegun === true);
  if (begun && lease.attemptBegun === true) env.onCommitted?.(run, [startedEvent(run)]);
  try {
    for (;;) {
      if (isTimerDue(run)) {
        const resume = resumeTransition(run, { timer: true });
        // When a step follows, its attempt's start rides on the resume (one commit instead of two).
        const stepFollows = steps < options.maxSteps && !options.drain?.aborted;
        const withBegin = stepFollows ? resumeWithBegin(resume, run, def, env) : null;
        run = await lease.commit(withBegin ?? resume);
        if (withBegin) {
          begun = true;
          env.onCommitted?.(run, [startedEvent(run)]);
        }
      }
      if (run.status !== 'RUNNING' || run.dueInMs > 0 || steps >= options.maxSteps) break;
      if (options.drain?.aborted && !begun) break;
      const continueAfter = steps + 1 < options.maxSteps && !options.drain?.aborted;
      const result = await runStep(lease, def, env, { continueAfter, begunByThisLease: begun });
      run = result.run;
      begun = result.begunNext;
      steps += 1;
    }
    return { run, steps, stale: false };
  } catch (err) {
    if (!(err instanceof StaleRunError)) throw err;
    // Someone else moved the run (a cancel, or another worker after this one lost its lock):
    // our transition was discarded; report the run as it now is.
    const current = (await lease.reload().catch(() => null)) ?? run;
    return { run: current, steps, stale: true };
  } finally {
    await lease.release();
  }
}

/** WAITING → RUNNING at the same node; the next attempt re-runs it (now with the payload or past the timer). */
export function resumeTransition(
  run: FlowRunRecord,
  how: { timer: true } | { timer: false; state: RunUpdate['state']; payload: RunUpdate['state'] | null },
): Transition {
  return {
    expectedVersion: run.version,
    update: {
      status: 'RUNNING' as const,
      currentNodeId: run.currentNodeId,
      state: how.timer ? undefined : how.state,
      attempt: 0,
      attemptInFlight: false,
      recoveries: 0,
      nextAttemptAt: null,
      waitReason: null,
      error: null,
    },
    events: [
      {
        type: 'RUN_RESUMED' as const,
        nodeId: run.currentNodeId,
        payload: how.timer ? (JSON.stringify({ timer: true }) as RunUpdate['state']) : how.payload,
      },
    ],
  };
}
