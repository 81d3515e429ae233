/**
 * Compensation as data: the log of what a run finished that could be undone, the steps that undo
 * it (newest finish first), and what the run row says while they run. Pure functions; the draft
 * (transition.ts) decides when a run starts undoing and applies each step's outcome, the driver
 * (advance.ts) runs the `compensate` handlers.
 *
 * Rules kept here and nowhere else:
 * - what is logged: a node with a `compensate` handler when it finishes (each item of a `forEach`
 *   node as it finishes), and a node whose child run finished with something of its own to undo;
 * - the order: the reverse of the log, items of one entry in reverse; a child's steps come right
 *   after its node's own step, expanded from the child's log when they come up;
 * - one step at a time: a step that fails for good is counted and the next one goes on.
 */
import type { FlowDefinition } from '../definitions/types.js';
import type { CaughtError, CompensationLog, CompensationPhase, CompensationStep, CompensationTarget } from '../core/states.js';
import type { RunSummary } from './branches.js';

/** What finished: the node (or its item), and the child run whose completion finished it, when that child has anything to undo. */
export interface FinishedNode {
  nodeId: string;
  branchId: string;
  itemIndex?: number;
  childRunId?: string;
  /** The node has a `compensate` handler of its own. */
  ownHandler: boolean;
}

/** `log` with `done` added (a new log when `log` is null). Consecutive items of one map share an entry. */
export function logFinished(log: CompensationLog | null, done: FinishedNode): CompensationLog {
  const next: CompensationLog = log ?? { finished: [], phase: null };
  const last = next.finished.at(-1);
  const sameMap =
    done.itemIndex !== undefined &&
    done.childRunId === undefined &&
    done.ownHandler &&
    last?.nodeId === done.nodeId &&
    last.branchId === done.branchId &&
    last.items !== undefined &&
    last.childRunId === undefined;
  if (sameMap) {
    last.items!.push(done.itemIndex!);
    return next;
  }
  const entry: CompensationTarget = { nodeId: done.nodeId, branchId: done.branchId };
  if (done.itemIndex !== undefined) entry.items = [done.itemIndex];
  if (done.childRunId !== undefined) entry.childRunId = done.childRunId;
  if (!done.ownHandler) entry.childOnly = true;
  next.finished.push(entry);
  return next;
}

/**
 * The steps that undo `finished`, next first. `runId`: the child run they belong to (absent for
 * the run's own nodes). A child's entry gives the node's own step (unless `childOnly`), then a
 * step standing for the child's, expanded when it comes up (`expandChild`).
 */
export function stepsToUndo(finished: readonly CompensationTarget[], runId?: string): CompensationStep[] {
  const steps: CompensationStep[] = [];
  const step = (t: CompensationTarget, itemIndex?: number, childRunId?: string): CompensationStep => ({
    nodeId: t.nodeId,
    branchId: t.branchId,
    ...(itemIndex === undefined ? {} : { itemIndex }),
    ...(runId === undefined ? {} : { runId }),
    ...(childRunId === undefined ? {} : { childRunId }),
    status: 'READY',
    attempt: 0,
    recoveries: 0,
  });
  for (const t of [...finished].reverse()) {
    const indexes = t.items ? [...t.items].reverse() : [undefined];
    for (const i of indexes) {
      if (!t.childOnly) steps.push(step(t, i));
      if (t.childRunId !== undefined) steps.push(step(t, i, t.childRunId));
    }
  }
  return steps;
}

/** Does the flow undo anything: a run of it that fails or is cancelled with compensation gets `compensated`. */
export function hasCompensation(def: FlowDefinition): boolean {
  return Object.values(def.nodes).some((n) => typeof n.compensate === 'function');
}

/** The run row's columns while the run compensates: RUNNING at the step in progress. */
export function compensatingSummary(phase: CompensationPhase): RunSummary {
  const step = phase.steps[0]!;
  return {
    status: 'RUNNING',
    currentNodeId: step.nodeId,
    attempt: step.attempt,
    recoveries: step.recoveries,
    attemptInFlight: step.status === 'RUNNING',
    nextAttemptAt: step.status === 'RETRY' ? new Date(step.dueAt) : null,
    waitReason: null,
  };
}

/** A copy the draft may change (the record's objects may be shared with a store's cache). */
export function copyLog(log: CompensationLog | null): CompensationLog | null {
  return log === null ? null : structuredClone(log);
}

/** The failure a compensation undoes, as its `ctx.error` shows it (none for a cancel). */
export function failureUndone(phase: CompensationPhase | null | undefined): CaughtError | undefined {
  if (!phase || phase.failedNodeId === null) return undefined;
  return { nodeId: phase.failedNodeId, code: phase.error.code, message: phase.error.message, attempt: phase.failedAttempt };
}
