/**
 * What the API returns for runs, events and flows. Explicit mappings rather than the storage rows
 * as they are: the wire format stays stable when a store grows internal columns, clock-relative
 * fields (`dueInMs`) stay out, and every date leaves as an ISO-8601 string.
 */
import type { FlowSummary } from '../../engine/engine.js';
import type { FlowEventRecord, FlowRunRecord } from '../../storage/types.js';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

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
  };
}

export function eventDto(event: FlowEventRecord) {
  return {
    seq: event.seq,
    at: iso(event.at),
    type: event.type,
    nodeId: event.nodeId,
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
