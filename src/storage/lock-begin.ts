/**
 * `LockRunOptions.beginAttempt` decided on a run record: whether it qualifies, and the begin
 * transition (applied by the memory store; the SQL store begins in SQL, see lease-queries.ts);
 * and `LockRunOptions.onlyIfDue` decided on a record.
 */
import type { BeginAttemptRequest, FlowRunRecord, JsonText, Transition } from './types.js';

/**
 * The begin `LockRunOptions.beginAttempt` asks for, when `run` (read under the lock) qualifies:
 * RUNNING, due, no attempt in flight, its node listed for its flow, the attempts JSON within bounds.
 */
export function requestedBegin(run: FlowRunRecord | null, request: BeginAttemptRequest | undefined): Transition | null {
  if (!run || !request || run.status !== 'RUNNING' || run.attemptInFlight || run.dueInMs > 0 || run.currentNodeId === null) return null;
  const key = `${run.flowId}@${run.flowVersion}`;
  const nodeId = run.currentNodeId;
  if (!Object.hasOwn(request.nodes, key) || !request.nodes[key]!.includes(nodeId)) return null;
  const count = Object.hasOwn(run.attemptsJson, nodeId) ? run.attemptsJson[nodeId]! : 0;
  const attempts = JSON.stringify({ ...run.attemptsJson, [nodeId]: count + 1 }) as JsonText;
  if (Buffer.byteLength(attempts, 'utf8') > request.maxAttemptsBytes) return null;
  return {
    expectedVersion: run.version,
    update: {
      status: run.status,
      currentNodeId: nodeId,
      attempt: run.attempt + 1,
      attempts,
      attemptInFlight: true,
      recoveries: run.recoveries,
      nextAttemptAt: run.nextAttemptAt ? { at: run.nextAttemptAt } : null,
      waitReason: run.waitReason,
      error: run.error,
    },
    events: [{ type: 'NODE_STARTED', nodeId, attempt: run.attempt + 1 }],
  };
}

/** Due by the store's clock (as read): RUNNING with its attempt due, or WAITING with a due timer. */
export function isDueNow(run: FlowRunRecord | null): boolean {
  if (!run || run.dueInMs > 0) return false;
  return run.status === 'RUNNING' || (run.status === 'WAITING' && run.nextAttemptAt !== null);
}
