/**
 * Events on pg: a commit that registers event waits is a short transaction of its own (BEGIN, the
 * name locks, the commit, COMMIT), outside any commit group, serialized with `sendEvent` of the same
 * name; the name locks are two-int advisory locks, apart from the run locks; the inbox is woken
 * over NOTIFY from another process.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresExecutor, createPostgresStorage } from '../../src/storage/postgres.js';
import type { SqlExecutor, SqlParam } from '../../src/storage/sql/executor.js';
import { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import type { FlowRunRecord, JsonText, Transition } from '../../src/storage/types.js';
import { createBareRun } from '../helpers/bare-run.js';
import { createTestSchema, flowLocksHeld, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';

const j = (v: unknown) => JSON.stringify(v) as JsonText;

/** Records the statements of commits: those sent alone and those sent in transactions. */
function recording(inner: SqlExecutor): SqlExecutor & { commitStatements: string[] } {
  const commitStatements: string[] = [];
  const isCommit = (sql: string) => sql.startsWith('WITH t AS MATERIALIZED');
  const wrapped: SqlExecutor & { commitStatements: string[] } = Object.assign(Object.create(inner) as SqlExecutor, {
    commitStatements,
    query: (sql: string, params?: readonly SqlParam[]) => {
      if (isCommit(sql)) commitStatements.push(sql);
      return inner.query(sql, params);
    },
    transaction: <T>(fn: Parameters<SqlExecutor['transaction']>[0]) =>
      inner.transaction((tx) => {
        commitStatements.push('BEGIN');
        const query = (sql: string, params?: readonly SqlParam[]) => (commitStatements.push(sql), tx.query(sql, params));
        return (fn as (t: typeof tx) => Promise<T>)({ ...tx, query: query as typeof tx.query }).then((r) => (commitStatements.push('COMMIT'), r));
      }),
  });
  return wrapped;
}

function parkOn(run: FlowRunRecord, name: string, extra: Partial<Transition> = {}): Transition {
  return {
    expectedVersion: run.version,
    update: {
      status: 'WAITING',
      currentNodeId: 'a',
      attempt: 1,
      attemptInFlight: false,
      recoveries: 0,
      nextAttemptAt: null,
      waitReason: 'event',
      error: null,
      branches: j([
        {
          branchId: 'b1',
          nodeId: 'a',
          status: 'WAITING',
          attempt: 1,
          recoveries: 0,
          dueAt: null,
          waitReason: 'event',
          error: null,
          waitId: 2,
          event: { name, key: null },
        },
      ]),
    },
    addWaits: [{ branchId: 'b1', waitId: 2, name, key: null }],
    events: [{ type: 'RUN_WAITING', nodeId: 'a', branchId: 'b1' }],
    ...extra,
  };
}

describe.skipIf(!HAVE_PG)('events on pg', () => {
  let t: TestSchema;
  let executor: ReturnType<typeof recording>;
  let s: SqlFlowStorage;
  let other: SqlFlowStorage;
  const newRun = () => createBareRun(s, { flowId: 'events', currentNodeId: 'a' });
  /** Advisory locks held on `name`'s key, as two-int locks (objsubid 2) and as bigint ones (objsubid 1). */
  const nameLocks = async (name: string) => {
    const [row] = await t.query<{ pairs: number; bigints: number }>(
      `SELECT count(*) FILTER (WHERE l.objsubid = 2 AND l.classid = hashtext($2)::oid)::int AS pairs,
              count(*) FILTER (WHERE l.objsubid = 1)::int AS bigints
       FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objid = hashtext($1)::oid
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [name, `hazel-flow-event:${t.schema}`],
    );
    return row!;
  };

  beforeAll(async () => {
    t = await createTestSchema('flow_events');
    executor = recording(createPostgresExecutor({ connectionString: TEST_DATABASE_URL, poolSize: 3 }));
    s = new SqlFlowStorage(executor, { schema: t.schema });
    other = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 2 });
    await Promise.all([s.init(), other.init()]);
  });
  afterAll(async () => {
    await s?.close();
    await other?.close();
    await t?.drop();
  });

  it('a commit that registers waits is BEGIN, the name locks, the commit, COMMIT in a transaction of its own; nothing stays locked', async () => {
    const run = await newRun();
    const name = 'ev-' + randomUUID();
    const lease = (await s.lockRun(run.runId))!;
    executor.commitStatements.length = 0;
    const parked = await lease.commit(parkOn(run, name, { release: true }));
    expect(parked.status).toBe('WAITING');
    expect(executor.commitStatements).toEqual(['BEGIN', s.sql.lockEvents, s.sql.commit, 'COMMIT']);
    expect(await flowLocksHeld(t)).toBe(0);
    // Commits that register no wait stay one statement.
    const again = (await s.lockRun(run.runId))!;
    executor.commitStatements.length = 0;
    await again.commit({ ...parkOn(parked, name), addWaits: [], release: true });
    expect(executor.commitStatements).toEqual([s.sql.commit]);
    expect((await other.sendEvent({ eventId: randomUUID(), name, key: 'k', payload: j(1) })).delivered).toEqual([
      { runId: run.runId, branchId: 'b1', waitId: 2 },
    ]);
  });

  it('a failed commit that registers waits rolls back, and the lease goes on', async () => {
    const run = await newRun();
    const name = 'ev-' + randomUUID();
    await other.sendEvent({ eventId: randomUUID(), name, key: null, payload: j('early') });
    const lease = (await s.lockRun(run.runId))!;
    await t.query(`INSERT INTO "${t.schema}".flow_events (run_id, seq, type) VALUES ($1, 2, 'SQUATTER')`, [run.runId]);
    await expect(lease.commit(parkOn(run, name))).rejects.toMatchObject({ code: 'DUPLICATE_KEY' });
    expect(await s.getInbox(run.runId)).toEqual([]);
    expect((await other.sendEvent({ eventId: randomUUID(), name, key: null, payload: j(2) })).delivered).toEqual([]); // no wait registered
    await t.query(`DELETE FROM "${t.schema}".flow_events WHERE type = 'SQUATTER'`);
    const parked = await lease.commit(parkOn(run, name, { release: true }));
    expect(parked.hasInbox).toBe(true); // the earliest event sent since the run was created
    expect((await s.getInbox(run.runId)).map((e) => (e.payload as { payload: unknown }).payload)).toEqual(['early']);
    expect(await flowLocksHeld(t)).toBe(0);
  });

  it('event locks are two-int advisory locks, apart from run locks: a keyless wait blocks the sends of its name only', async () => {
    const name = 'ev-' + randomUUID();
    const blocker = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await blocker.connect();
    try {
      expect(await nameLocks(name)).toEqual({ pairs: 0, bigints: 0 });
      await blocker.query('BEGIN');
      // What a commit registering a wait for `name` with any key takes: the name, exclusively.
      await blocker.query(s.sql.lockEvents, [
        JSON.stringify([
          { ns: 1, h: name, x: true },
          { ns: 1, h: name, x: true },
        ]),
      ]);
      expect(await nameLocks(name)).toEqual({ pairs: 1, bigints: 0 });
      let sent = false;
      const sending = other.sendEvent({ eventId: randomUUID(), name, key: null, payload: j(1) }).then(() => (sent = true));
      // Another name, run locks and due-run lookups are not held up.
      await other.sendEvent({ eventId: randomUUID(), name: `${name}.other`, key: null, payload: j(1) });
      const run = await newRun();
      const lease = (await s.lockRun(run.runId))!;
      expect(await other.findDueRuns({ limit: 1000 })).not.toContain(run.runId);
      await lease.release();
      expect(await other.findDueRuns({ limit: 1000 })).toContain(run.runId);
      await new Promise((r) => setTimeout(r, 50));
      expect(sent).toBe(false);
      await blocker.query('COMMIT');
      await sending;
      expect(sent).toBe(true);
      expect(await nameLocks(name)).toEqual({ pairs: 0, bigints: 0 });
    } finally {
      await blocker.end();
    }
  });

  it('a keyed wait blocks the sends of its key only, and sends never block each other', async () => {
    const name = 'ev-' + randomUUID();
    const blocker = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      // What a commit registering a wait for `name`/`k` takes: the name shared, (name, k) exclusively.
      await blocker.query(s.sql.lockEvents, [
        JSON.stringify([
          { ns: 1, h: name, x: false },
          { ns: 2, h: JSON.stringify([name, 'k']), x: true },
        ]),
      ]);
      let sentK = false;
      const sendingK = other.sendEvent({ eventId: randomUUID(), name, key: 'k', payload: j(1) }).then(() => (sentK = true));
      // Other keys, and keyless sends of the name, go through; so do concurrent sends of one key.
      await Promise.all([
        other.sendEvent({ eventId: randomUUID(), name, key: 'other', payload: j(1) }),
        other.sendEvent({ eventId: randomUUID(), name, key: null, payload: j(1) }),
        s.sendEvent({ eventId: randomUUID(), name, key: 'other', payload: j(2) }),
      ]);
      await new Promise((r) => setTimeout(r, 50));
      expect(sentK).toBe(false);
      await blocker.query('COMMIT');
      await sendingK;
      expect(sentK).toBe(true);
    } finally {
      await blocker.end();
    }
  });

  it('stores an event sent to many waiters once: its inbox entries name it, and every waiter reads its payload', async () => {
    const name = 'ev-' + randomUUID();
    const waiters: FlowRunRecord[] = [];
    for (let i = 0; i < 20; i++) {
      const run = await newRun();
      // Half parked before the send (delivered by sendEvent), half after (delivered by their commit).
      if (i < 10) await (await s.lockRun(run.runId))!.commit(parkOn(run, name, { release: true }));
      waiters.push(run);
    }
    const payload = { blob: 'x'.repeat(100_000) };
    const eventId = randomUUID();
    expect((await s.sendEvent({ eventId, name, key: null, payload: j(payload) })).delivered).toHaveLength(10);
    for (const run of waiters.slice(10)) expect((await (await s.lockRun(run.runId))!.commit(parkOn(run, name, { release: true }))).hasInbox).toBe(true);

    const [bytes] = await t.query<{ entries: number; inbox: number; sent: number }>(
      `SELECT count(*)::int AS entries, COALESCE(sum(pg_column_size(i.payload_json)), 0)::int AS inbox,
              (SELECT pg_column_size(e.payload_json) FROM ${t.schema}.flow_sent_events e WHERE e.event_id = $1)::int AS sent
       FROM ${t.schema}.flow_inbox i WHERE i.run_id = ANY($2::text[])`,
      [eventId, waiters.map((r) => r.runId)],
    );
    expect(bytes!.entries).toBe(20);
    expect(bytes!.sent).toBeGreaterThan(0);
    expect(bytes!.inbox).toBe(0); // no copy of the payload, not even a compressed one
    for (const run of waiters) {
      expect((await s.getInbox(run.runId)).map((e) => e.payload)).toEqual([{ eventId, name, key: null, payload }]);
    }
  });

  it('a commit delivering a stored event that a prune is deleting waits for it, then delivers nothing: no entry names a pruned event', async () => {
    const name = 'ev-' + randomUUID();
    const run = await newRun(); // created before the event: a wait it registers later matches it
    const eventId = randomUUID();
    await s.sendEvent({ eventId, name, key: null, payload: j({ late: true }) });
    let deleted!: () => void;
    const inPrune = new Promise<void>((resolve) => (deleted = resolve));
    let finish!: () => void;
    const finishPrune = new Promise<void>((resolve) => (finish = resolve));
    // A prune, held open between its delete and its COMMIT.
    const pruning = executor.transaction(async (tx) => {
      const doomed = await tx.query<{ event_id: string }>(s.sql.lockPrunableEvents, [new Date(Date.now() + 60_000).toISOString(), 1000]);
      expect(doomed.map((r) => r.event_id)).toContain(eventId);
      await tx.query(s.sql.deleteEvents, [JSON.stringify(doomed.map((r) => r.event_id))]);
      deleted();
      await finishPrune;
    });
    await inPrune;
    const lease = (await other.lockRun(run.runId))!;
    const parking = lease.commit(parkOn(run, name, { release: true }));
    // The commit waits for the event's row lock…
    const deadline = Date.now() + 5000;
    let waiting = false;
    while (!waiting && Date.now() < deadline) {
      const [row] = await t.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'WITH t AS MATERIALIZED%'`,
      );
      waiting = row!.n > 0;
      if (!waiting) await new Promise((r) => setTimeout(r, 10));
    }
    finish();
    await pruning;
    // …then finds the event gone: the wait is registered, with nothing in the inbox.
    const parked = await parking;
    expect(await s.getInbox(run.runId)).toEqual([]);
    expect(parked).toMatchObject({ status: 'WAITING', hasInbox: false });
    expect(waiting).toBe(true);
  });

  it('wakes another process for an answer, an event, and the end of a child', async () => {
    const woken: string[] = [];
    const off = other.onWake((id) => woken.push(id));
    try {
      await new Promise((r) => setTimeout(r, 200)); // the LISTEN connection is up
      const answered = await newRun();
      await s.addToInbox({ runId: answered.runId, kind: 'resume', waitId: 1, branchId: 'b1', payload: j(1) });
      const name = 'ev-' + randomUUID();
      const waiting = await newRun();
      await (await s.lockRun(waiting.runId))!.commit(parkOn(waiting, name, { release: true }));
      await s.sendEvent({ eventId: randomUUID(), name, key: null, payload: j(1) });
      const parent = await newRun();
      const child = await createBareRun(s, { flowId: 'events', currentNodeId: 'a', events: [], parentRunId: parent.runId, parentNodeId: 'spawn' });
      await s.cancelRun(child.runId, [], { code: 'CANCELLED', message: 'x' });
      const deadline = Date.now() + 5000;
      while (![answered, waiting, parent].every((r) => woken.includes(r.runId)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(woken).toEqual(expect.arrayContaining([answered.runId, waiting.runId, parent.runId]));
    } finally {
      off();
    }
  });
});
