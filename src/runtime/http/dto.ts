/**
 * What the API returns for runs, timeline events and flows. Explicit mappings rather than the storage rows
 * as they are: the wire format stays stable when a store grows internal columns, clock-relative
 * fields (`dueInMs`) stay out, and every date leaves as an ISO-8601 string.
 */
import type { FlowSummary } from '../../flow-engine.js';
import type { BranchRecord, FlowEventRecord, FlowRunRecord, FlowRunSummary } from '../../storage/types.js';
import { childOf, dueAtOf, errorOf, eventOf, mapOf, waitReasonOf } from '../../core/states.js';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** What a child run looks like from its parent: enough to link to it and show how it is doing. */
export interface ChildRunInfo {
  runId: string;
  flowId: string;
  flowVersion: string;
  status: FlowRunRecord['status'];
  parentNodeId: string | null;
}

export function childRunDto(run: FlowRunSummary): ChildRunInfo {
  return { runId: run.runId, flowId: run.flowId, flowVersion: run.flowVersion, status: run.status, parentNodeId: run.parentNodeId };
}

/** A branch's or item's child run: its id, with its flow and status when the caller looked them up. */
function childRef(child: { runId: string } | undefined, children?: ReadonlyMap<string, ChildRunInfo>) {
  if (!child) return null;
  const known = children?.get(child.runId);
  return known ? { runId: child.runId, flowId: known.flowId, flowVersion: known.flowVersion, status: known.status } : { runId: child.runId };
}

/**
 * A live branch as the run list shows it: where it is and why (an event or a child run it waits
 * for), without its error, resume payload or map items (so a page of runs stays small however
 * wide the runs are).
 */
export function branchSummaryDto(branch: BranchRecord) {
  const event = eventOf(branch);
  const child = childOf(branch);
  const map = mapOf(branch);
  return {
    branchId: branch.branchId,
    nodeId: branch.nodeId,
    status: branch.status,
    attempt: branch.attempt,
    dueAt: dueAtOf(branch),
    waitReason: waitReasonOf(branch),
    event: event ? { name: event.name, key: event.key } : null,
    child: child ? { runId: child.runId } : null,
    map: map ? { total: map.total, concurrency: map.concurrency, done: map.done, started: map.started } : null,
  };
}

/**
 * A live branch in full (the run resource): its last error, the branches it joined, a map's
 * unfinished items, whether its event wait timed out, and the status of the child runs it (or
 * an item) waits for when `children` knows them.
 */
export function branchDto(branch: BranchRecord, children?: ReadonlyMap<string, ChildRunInfo>) {
  const map = mapOf(branch);
  // What the next attempt at the node is given (a branch resumed and not yet re-run has a payload).
  const next = branch.status === 'READY' || branch.status === 'RUNNING' || branch.status === 'RETRY' ? branch : null;
  const dto = {
    ...branchSummaryDto(branch),
    child: childRef(childOf(branch), children),
    waitTimedOut: next?.waitTimedOut === true,
    recoveries: branch.recoveries,
    error: errorOf(branch),
    joined: next?.joined ?? null,
    map: map
      ? {
          total: map.total,
          concurrency: map.concurrency,
          done: map.done,
          started: map.started,
          items: map.items.map((item) => ({
            index: item.index,
            status: item.status,
            attempt: item.attempt,
            dueAt: dueAtOf(item),
            error: errorOf(item),
            child: childRef(childOf(item), children),
          })),
        }
      : null,
  };
  return next?.resumePayload === undefined ? dto : { ...dto, resumePayload: next.resumePayload };
}

export function runSummaryDto(run: FlowRunSummary) {
  return {
    runId: run.runId,
    flowId: run.flowId,
    flowVersion: run.flowVersion,
    tenantId: run.tenantId,
    status: run.status,
    currentNodeId: run.currentNodeId,
    createdAt: iso(run.createdAt),
    updatedAt: iso(run.updatedAt),
    idempotencyKey: run.idempotencyKey,
    attempt: run.attempt,
    nextAttemptAt: iso(run.nextAttemptAt),
    waitReason: run.waitReason,
    error: run.error,
    outcome: run.outcome ?? null,
    traceparent: run.traceparent ?? null,
    parentRunId: run.parentRunId ?? null,
    parentNodeId: run.parentNodeId ?? null,
    failureOf: run.failureOf ?? null,
    failureHandlerRunId: run.failureHandlerRunId ?? null,
    priority: run.priority ?? 0,
    flowControl: run.flowControl ?? null,
    hasInbox: run.hasInbox === true,
    compensated: run.compensated ?? null,
    scheduleId: run.scheduleId ?? null,
    scheduledAt: run.scheduledAt ?? null,
    forkedFrom: run.forkedFrom ?? null,
    branches: (run.branches ?? []).map(branchSummaryDto),
  };
}

/** A run's child runs as the run resource shows them. */
export interface RunChildren {
  /** The first page of `listRuns({ parentRunId })`, newest first. */
  runs: ChildRunInfo[];
  /** Where `GET /v1/runs?parentRunId=…&cursor=` goes on (null: that was all of them). */
  nextCursor: string | null;
  /** Children a branch or item waits for that are not on that page (only their status is shown). */
  others?: ChildRunInfo[];
}

/**
 * The run resource. With `children` (the run's child runs, as `GET /v1/runs/:runId` looks them
 * up), the resource lists them and the branches and items that wait for one show its status.
 */
export function runDto(run: FlowRunRecord, children?: RunChildren) {
  const byId = children ? new Map([...(children.others ?? []), ...children.runs].map((c) => [c.runId, c])) : undefined;
  const dto = {
    ...runSummaryDto(run),
    inputJson: run.inputJson,
    stateJson: run.stateJson,
    outputsJson: run.outputsJson,
    attemptsJson: run.attemptsJson,
    compensation: run.compensation ?? null,
    version: run.version,
    // How long the timeline is: a client pages it, or reads its last events, without reading it all.
    lastSeq: run.lastSeq,
    branches: (run.branches ?? []).map((b) => branchDto(b, byId)),
  };
  return children ? { ...dto, children: children.runs, childrenNextCursor: children.nextCursor } : dto;
}

export function eventDto(event: FlowEventRecord) {
  return {
    seq: event.seq,
    at: iso(event.at),
    type: event.type,
    nodeId: event.nodeId,
    branchId: event.branchId ?? null,
    itemIndex: event.itemIndex ?? null,
    attempt: event.attempt,
    durationMs: event.durationMs,
    error: event.error,
    payloadJson: event.payloadJson,
  };
}

export function flowDto(flow: FlowSummary) {
  return {
    flowId: flow.flowId,
    version: flow.version,
    fingerprint: flow.fingerprint,
    registered: flow.registered,
    createdAt: iso(flow.createdAt),
    unfinishedRuns: flow.unfinishedRuns,
    strandedRuns: flow.strandedRuns,
    definitionJson: flow.definitionJson,
    flowControl: flow.flowControl ?? null,
  };
}
