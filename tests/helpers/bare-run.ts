/**
 * A run created straight through a store, with nothing but its first event: for storage tests
 * that drive leases and commits by hand, without an engine or a flow definition.
 */
import { randomUUID } from 'node:crypto';
import type { FlowRunRecord, FlowStorage, JsonText, NewRun } from '../../src/storage/types.js';

export async function createBareRun(storage: FlowStorage, fields: Partial<NewRun> = {}): Promise<FlowRunRecord> {
  const created = await storage.createRun({
    runId: randomUUID(),
    flowId: 'bare',
    flowVersion: '1',
    tenantId: null,
    idempotencyKey: null,
    currentNodeId: 'n',
    input: '{}' as JsonText,
    state: '{}' as JsonText,
    branches: '[]' as JsonText,
    events: [{ type: 'RUN_STARTED' }],
    ...fields,
  });
  return created.run;
}
