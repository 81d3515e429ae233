/**
 * What the API returns for runs, events and flows. Explicit mappings rather than the storage rows
 * as they are: the wire format stays stable when a store grows internal columns, clock-relative
 * fields (`dueInMs`) stay out, and every date leaves as an ISO-8601 string.
 */
import type { FlowSummary } from '../../engine/engine.js';
import type { BranchRecord, FlowEventRecord, FlowRunRecord } from '../../storage/types.js';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/**
 * A live branch as the run list shows it: where it is and why, without its error, resume payload
 * or map items (so a page of runs stays small however wide the runs are).
 */
export function branchSummaryDto(branch: BranchRecord) {
  return {
    branchId: branch.branchId,
    nodeId: branch.nodeId,
    status: branch.status,
    attempt: branch.attempt,
    dueAt: branch.dueAt,
    waitReason: branch.waitReason,
    map: branch.map ? { total: branch.map.total, concurrency: branch.map.concurrency, done: branch.map.done, started: branch.map.started } : null,
  };
}

/** A live branch in full (the run resource): its last error, the branches it joined, a map's unfinished items. */
export function branchDto(branch: BranchRecord) {
  const dto = {
    ...branchSummaryDto(branch),
    recoveries: branch.recoveries,
    error: branch.error,
    joined: branch.joined ?? null,
    map: branch.map
      ? {
          total: branch.map.total,
          concurrency: branch.map.concurrency,
          done: branch.map.done,
          started: branch.map.started,
          items: branch.map.items.map((item) => ({ index: item.index, status: item.status, attempt: item.attempt, dueAt: item.dueAt, error: item.error })),
        }
      : null,
  };
  // Only a branch resumed and not yet re-run has one; it is what its next attempt will see.
  return branch.resumePayload === undefined ? dto : { ...dto, resumePayload: branch.resumePayload };
}

export function runSummaryDto(run: FlowRunRecord) {
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
    branches: (run.branches ?? []).map(branchSummaryDto),
  };
}

export function runDto(run: FlowRunRecord) {
  return {
    ...runSummaryDto(run),
    inputJson: run.inputJson,
    stateJson: run.stateJson,
    outputsJson: run.outputsJson,
    attemptsJson: run.attemptsJson,
    version: run.version,
    branches: (run.branches ?? []).map(branchDto),
  };
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
    definitionJson: flow.definitionJson,
  };
}
