/**
 * One engine per store (memory, embedded PGlite, real Postgres in a schema of this test file),
 * the checks every run must pass whatever was thrown at it, and a store-independent snapshot
 * of a run so that the three stores can be compared case by case.
 */
import { expect } from 'vitest';
import { FlowEngine, createMemoryStorage, createPGliteStorage, createPostgresStorage, type FlowEvent, type FlowRun } from '@hazeljs/flow';
import { createTestSchema, flowLocksHeld, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../../helpers/pg.js';
import { TEST_MAX_JSON_BYTES } from './hostile-arbitraries.js';

export type StoreName = 'memory' | 'pglite' | 'postgres';

export interface StoreMatrix {
  engines: Array<{ name: StoreName; engine: FlowEngine }>;
  /** Set when the Postgres engine is absent, with the reason (printed by the tests). */
  postgresSkipped?: string;
  schema?: TestSchema;
  close(): Promise<void>;
}

export const POSTGRES_SKIP_REASON = 'Postgres unreachable: the Postgres leg of the property tests is skipped (FLOW_REQUIRE_POSTGRES=1 makes this a failure)';

export async function openStoreMatrix(prefix: string): Promise<StoreMatrix> {
  const options = { maxJsonBytes: TEST_MAX_JSON_BYTES };
  const engines: StoreMatrix['engines'] = [
    { name: 'memory', engine: new FlowEngine({ ...options, storage: createMemoryStorage() }) },
    { name: 'pglite', engine: new FlowEngine({ ...options, storage: createPGliteStorage() }) },
  ];
  let schema: TestSchema | undefined;
  if (HAVE_PG) {
    schema = await createTestSchema(prefix);
    const storage = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: schema.schema, poolSize: 4 });
    engines.push({ name: 'postgres', engine: new FlowEngine({ ...options, storage }) });
  } else {
    console.warn(`[reliability] ${POSTGRES_SKIP_REASON}`);
  }
  await Promise.all(engines.map(({ engine }) => engine.ready()));
  return {
    engines,
    schema,
    postgresSkipped: HAVE_PG ? undefined : POSTGRES_SKIP_REASON,
    close: async () => {
      await Promise.all(engines.map(({ engine }) => engine.close()));
      if (schema) {
        expect(await flowLocksHeld(schema)).toBe(0);
        await schema.drop();
      }
    },
  };
}

const RESTING_EVENT: Record<string, string> = {
  COMPLETED: 'RUN_COMPLETED',
  FAILED: 'RUN_ABORTED',
  CANCELLED: 'RUN_CANCELLED',
  WAITING: 'RUN_WAITING',
};
/** Events that close an attempt begun by NODE_STARTED (exactly one per attempt). */
const ATTEMPT_OUTCOMES = new Set(['NODE_FINISHED', 'NODE_FAILED', 'RUN_WAITING', 'NODE_INTERRUPTED']);

/**
 * Neither stuck nor half-written: the run rests (not RUNNING, no attempt in flight), nobody holds
 * its lock, and its timeline agrees with the row — seqs 1..lastSeq without gaps, RUN_STARTED
 * first, the event of its status last, and every attempt begun has exactly one outcome.
 */
export async function expectRunIntact(engine: FlowEngine, runId: string): Promise<{ run: FlowRun; timeline: FlowEvent[] }> {
  const run = (await engine.getRun(runId))!;
  const timeline = await engine.getTimeline(runId);
  const where = `run ${runId} (${run.status})`;
  expect(run.status, where).not.toBe('RUNNING');
  expect(run.attemptInFlight, where).toBe(false);
  expect(
    timeline.map((e) => e.seq),
    where,
  ).toEqual(timeline.map((_, i) => i + 1));
  expect(run.lastSeq, where).toBe(timeline.length);
  expect(timeline[0]?.type, where).toBe('RUN_STARTED');
  const last = timeline[timeline.length - 1]!;
  expect(last.type, where).toBe(RESTING_EVENT[run.status]);
  if (run.status === 'FAILED') expect(last.error, where).toEqual(run.error);
  let open = false;
  for (const event of timeline) {
    const at = `${where}: ${event.type} at seq ${event.seq}`;
    if (event.type === 'NODE_STARTED') {
      expect(open, `${at} while an attempt was open`).toBe(false);
      open = true;
    } else if (ATTEMPT_OUTCOMES.has(event.type)) {
      expect(open, `${at} without an attempt`).toBe(true);
      open = false;
    } else if (event.type === 'RUN_ABORTED' || event.type === 'RUN_CANCELLED') {
      open = false; // a run can also fail or be cancelled between attempts
    }
  }
  expect(open, `${where}: an attempt has no outcome`).toBe(false);
  const lease = await engine.storage.lockRun(runId);
  expect(lease, `${where}: its lock is still held`).not.toBeNull();
  await lease!.release();
  return { run, timeline };
}

/** What must be equal on every store: status, values, error and the timeline without times. */
export function storeIndependentView(run: FlowRun, timeline: FlowEvent[]) {
  return {
    status: run.status,
    currentNodeId: run.currentNodeId,
    input: run.inputJson,
    state: run.stateJson,
    outputs: run.outputsJson,
    attempts: run.attemptsJson,
    error: run.error,
    waitReason: run.waitReason,
    timeline: timeline.map((e) => ({
      type: e.type,
      nodeId: e.nodeId,
      attempt: e.attempt,
      error: e.error,
      // A timer's due time comes from each store's clock: compare whether there is one, not when.
      payload: e.type === 'RUN_WAITING' && e.payloadJson ? { ...(e.payloadJson as object), until: '…', timer: '…' } : e.payloadJson,
    })),
  };
}
