/** Shared by the storage contract suites: run and transition builders, polling. */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { BranchRecord, FlowRunRecord, JsonText, NewRun, Transition } from '../../src/storage/types.js';
import { readBranches } from '../../src/core/states.js';

export const j = (v: unknown) => JSON.stringify(v) as JsonText;

/**
 * A branch as the engine stores it; READY at `nodeId` by default (`overrides` give another state's
 * fields; a WAITING one without `waitFor` gets it as a store reads it, from its other fields).
 */
export function branch(nodeId: string, overrides: Record<string, unknown> = {}): BranchRecord {
  return readBranches([{ branchId: 'b1', nodeId, status: 'READY', attempt: 0, recoveries: 0, ...overrides }])[0]!;
}

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
    branches: j([branch(overrides.currentNodeId ?? 'a')]),
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

/**
 * `run` as a later read should show it: every field equal but the read's own clock (`readAt`, any
 * time) and `dueInMs` (given; 0 by default).
 */
export function asRead(run: FlowRunRecord, dueInMs = 0): FlowRunRecord {
  return { ...run, dueInMs, readAt: expect.any(Date) as unknown as Date };
}

/** `readAt` is a Date of the store's clock, at most `slackMs` away from this process's clock. */
export function expectReadNow(run: FlowRunRecord | null | undefined, slackMs = 10_000): void {
  expect(run?.readAt).toBeInstanceOf(Date);
  expect(Math.abs(run!.readAt.getTime() - Date.now())).toBeLessThan(slackMs);
}

export async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
