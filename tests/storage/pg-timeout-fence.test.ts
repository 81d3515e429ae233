/**
 * The timeout fence on pg, against answers still being committed: `sendEvent` (and `addToInbox`)
 * write the inbox entry in a transaction that commits a moment later, after `delivered` is known.
 * A holder's commit that times out the same wait and starts in that moment must not miss the
 * entry: it takes the run's row lock first (the answer holds the row FOR SHARE until it commits),
 * so its fence sees the entry and refuses it with WaitAnsweredError. Here the answer's transaction
 * is held open by the test, with the store's own statements, to widen that moment.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WaitAnsweredError } from '../../src/errors.js';
import { createPostgresStorage } from '../../src/storage/postgres.js';
import { sendEventLocks } from '../../src/storage/sql/inbox-rows.js';
import type { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import type { FlowRunRecord, JsonText, Transition } from '../../src/storage/types.js';
import { createBareRun } from '../helpers/bare-run.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';

const j = (v: unknown) => JSON.stringify(v) as JsonText;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Branch b1 of `run` at node a: parked on event `name` (wait 2) with a timer, or woken by it. */
function transition(run: FlowRunRecord, to: 'park' | 'time out', name: string, extra: Partial<Transition> = {}): Transition {
  const parked = { branchId: 'b1', nodeId: 'a', status: 'WAITING', attempt: 0, recoveries: 0, waitReason: 'event', error: null, waitId: 2 };
  const branch =
    to === 'park'
      ? { ...parked, dueAt: new Date(Date.now() - 1000).toISOString(), event: { name, key: null } }
      : { ...parked, status: 'READY', dueAt: null, waitReason: null, waitId: undefined };
  return {
    expectedVersion: run.version,
    update: {
      status: to === 'park' ? 'WAITING' : 'RUNNING',
      currentNodeId: 'a',
      attempt: 0,
      attemptInFlight: false,
      recoveries: 0,
      nextAttemptAt: null,
      waitReason: to === 'park' ? 'event' : null,
      error: null,
      branches: j([branch]),
    },
    ...(to === 'park'
      ? { addWaits: [{ branchId: 'b1', waitId: 2, name, key: null }], events: [{ type: 'RUN_WAITING', nodeId: 'a', branchId: 'b1' }] }
      : {
          endWaits: [{ branchId: 'b1', waitId: 2 }],
          timedOutWaits: [{ branchId: 'b1', waitId: 2 }],
          events: [{ type: 'RUN_RESUMED', nodeId: 'a', branchId: 'b1', payload: j({ timer: true, waitTimedOut: true }) }],
        }),
    ...extra,
  };
}

describe.skipIf(!HAVE_PG)('the timeout fence on pg, against an answer being committed', () => {
  let t: TestSchema;
  let s: SqlFlowStorage;
  let answerer: pg.Client;

  beforeAll(async () => {
    t = await createTestSchema('flow_timeout_fence');
    s = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 3 });
    await s.init();
    answerer = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await answerer.connect();
  });
  afterAll(async () => {
    await answerer?.end();
    await s?.close();
    await t?.drop();
  });

  const answers = {
    /** `sendEvent`'s own transaction: the name locks, then the statement that delivers. */
    event: async (run: FlowRunRecord, name: string) => {
      await answerer.query(s.sql.lockEvents, [sendEventLocks(name, null)]);
      const { rows } = await answerer.query(s.sql.sendEvent, [randomUUID(), name, null, j({ paid: 1 })]);
      return (rows[0] as { delivered: unknown[] }).delivered.length;
    },
    /** `addToInbox` (a resume), as a statement of a transaction not yet committed. */
    resume: async (run: FlowRunRecord) => {
      const { rows } = await answerer.query(s.sql.addToInbox, [run.runId, 'resume', 2, 'b1', j({ payload: 'yes' })]);
      return (rows[0] as { inserted: number }).inserted;
    },
  };

  for (const kind of ['event', 'resume'] as const) {
    it(`a timeout committed while an answer (${kind}) is being committed waits for it, then is refused`, async () => {
      const name = `ev-${randomUUID()}`;
      const created = await createBareRun(s, { flowId: 'fence', currentNodeId: 'a' });
      const run = await (await s.lockRun(created.runId))!.commit(transition(created, 'park', name, { release: true }));
      const lease = (await s.lockRun(run.runId))!;

      await answerer.query('BEGIN');
      expect(await answers[kind](run, name)).toBe(1);
      let settled = false;
      const committing = lease.commit(transition(run, 'time out', name)).finally(() => (settled = true));
      committing.catch(() => undefined);
      await sleep(200);
      expect(settled).toBe(false); // waiting for the answer's row lock
      await answerer.query('COMMIT');

      await expect(committing).rejects.toBeInstanceOf(WaitAnsweredError);
      const inbox = await s.getInbox(run.runId);
      expect(inbox.map((e) => [e.kind, e.branchId, e.waitId])).toEqual([[kind, 'b1', 2]]);
      expect(await s.getRun(run.runId)).toMatchObject({ version: run.version, status: 'WAITING', hasInbox: true });
      // The holder keeps the run: drafted again, the answer applies.
      const answered = await lease.commit({ ...transition(run, 'time out', name), timedOutWaits: undefined, consumeInbox: [inbox[0]!.id], release: true });
      expect(answered).toMatchObject({ version: run.version + 1, status: 'RUNNING', hasInbox: false });
    });
  }
});
