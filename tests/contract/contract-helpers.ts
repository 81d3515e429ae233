/** Shared by the storage contract suites: run and transition builders, polling. */
import { randomUUID } from 'node:crypto';
import type { FlowRunRecord, JsonText, NewRun, Transition } from '../../src/storage/types.js';

export const j = (v: unknown) => JSON.stringify(v) as JsonText;

export function newRun(overrides: Partial<NewRun> = {}): NewRun {
  return {
    runId: randomUUID(),
    flowId: 'contract-flow',
    flowVersion: '1',
    tenantId: null,
    idempotencyKey: null,
    currentNodeId: 'a',
    input: j({ n: 1 }),
    state: j({}),
    events: [{ type: 'RUN_STARTED', nodeId: 'a' }],
    ...overrides,
  };
}

export function step(run: FlowRunRecord, patch: Partial<Transition['update']> = {}, extra: Partial<Transition> = {}): Transition {
  return {
    expectedVersion: run.version,
    update: {
      status: run.status,
      currentNodeId: run.currentNodeId,
      attempt: run.attempt,
      attemptInFlight: run.attemptInFlight,
      recoveries: run.recoveries,
      nextAttemptAt: null,
      waitReason: run.waitReason,
      error: run.error,
      ...patch,
    },
    events: [],
    ...extra,
  };
}

export async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
