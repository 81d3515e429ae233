/**
 * Real worker processes on Postgres: crash recovery after SIGKILL (mid-handler and mid-map), the
 * poison-pill bound, mutual exclusion across processes (checked on the database's clock), and
 * graceful SIGTERM.
 * PGlite and memory live inside one process, so these run on Postgres only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withApplicationName } from '../../chaos/child-process.js';
import { FlowEngine } from '../../src/flow-engine.js';
import { createPostgresStorage } from '../../src/storage/postgres.js';
import type { FlowEventRecord } from '../../src/storage/types.js';
import { createTestSchema, flowLocksHeld, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';
import { waitFor } from '../helpers/worker-cluster.js';
import { spawnWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';
import { MAP_CONCURRENCY, mapFlow, mapItemOutput } from './fixtures/map-flow.js';

const MAX_RECOVERIES = 2;

describe.skipIf(!HAVE_PG)('worker processes on Postgres', () => {
  let schema: TestSchema;
  let client: FlowEngine;
  const children: WorkerProcess[] = [];

  const spawnWorker = async (mode: 'normal' | 'hang' = 'normal') => {
    const proc = spawnWorkerProcess({ DATABASE_URL: TEST_DATABASE_URL, FLOW_SCHEMA: schema.schema, WORKER_MODE: mode, MAX_RECOVERIES: String(MAX_RECOVERIES) });
    children.push(proc);
    await proc.line((l) => l.startsWith('READY'));
    return proc;
  };
  const start = async (flowId: string, input: unknown = null) => (await client.startRun({ flowId, version: '1', input })).runId;
  const statusOf = async (runId: string) => (await client.getRun(runId))?.status;

  beforeAll(async () => {
    schema = await createTestSchema('flow_worker_proc');
    client = new FlowEngine({ storage: createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: schema.schema, poolSize: 4 }) });
    await client.ready(); // migrates the schema
    await schema.query(
      `CREATE TABLE "${schema.schema}".exec_log (id serial PRIMARY KEY, run_id text, node_id text, pid int, started_at timestamptz, ended_at timestamptz)`,
    );
    await schema.query(
      `CREATE TABLE "${schema.schema}".item_log (id serial PRIMARY KEY, run_id text, item_index int, attempt int, pid int, started_at timestamptz)`,
    );
    // The client only starts runs: it registers the flows' graphs, never runs a worker.
    const { flow } = await import('../../src/definitions/builder.js');
    const ok = () => ({ status: 'ok' as const });
    await client.registerDefinition(flow('hang', '1').entry('work').node('work', ok).build());
    await client.registerDefinition(flow('poison', '1').entry('boom').node('boom', ok).build());
    await client.registerDefinition(flow('shared', '1').entry('a').node('a', ok).node('b', ok).node('c', ok).edge('a', 'b').edge('b', 'c').build());
    await client.registerDefinition(flow('slow', '1').entry('work').node('work', ok).node('after', ok).edge('work', 'after').build());
    await client.registerDefinition(mapFlow(ok));
  }, 60_000);

  afterAll(async () => {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await client?.close();
    await schema?.drop();
  });

  it('a worker SIGKILLed mid-handler: its runs complete on another process, with NODE_INTERRUPTED in the timeline', { timeout: 60_000 }, async () => {
    const doomed = await spawnWorker('hang');
    const runIds = await Promise.all([1, 2, 3, 4, 5].map((i) => start('hang', { i })));
    for (const runId of runIds) await doomed.line((l) => l.startsWith(`ENTERED ${runId}`));
    doomed.child.kill('SIGKILL');
    expect((await doomed.exited).signal).toBe('SIGKILL');

    const rescuer = await spawnWorker('normal');
    for (const runId of runIds) await waitFor(`run ${runId} completed`, async () => (await statusOf(runId)) === 'COMPLETED', 20_000);
    for (const runId of runIds) {
      const run = (await client.getRun(runId))!;
      expect(run.outputsJson.work).toEqual({ pid: rescuer.pid, attempt: 2 });
      const events = await client.getTimeline(runId);
      const interrupted = events.filter((e) => e.type === 'NODE_INTERRUPTED');
      expect(interrupted).toHaveLength(1);
      expect(interrupted[0]).toMatchObject({ nodeId: 'work', attempt: 1, error: { code: 'ATTEMPT_INTERRUPTED' } });
    }
    rescuer.child.kill('SIGTERM');
    expect((await rescuer.exited).code).toBe(0);
  });

  it(
    'a process SIGKILLed in the middle of a map leaves a run that another process completes without re-running finished items',
    { timeout: 90_000 },
    async () => {
      const items = Array.from({ length: 20 }, (_, i) => i * 3 + 1);
      // Its sessions carry a name of their own: the test waits for them to be gone after the kill.
      const appName = `${schema.schema}-doomed`;
      const doomed = spawnWorkerProcess({
        DATABASE_URL: withApplicationName(TEST_DATABASE_URL, appName),
        FLOW_SCHEMA: schema.schema,
        MAX_RECOVERIES: String(MAX_RECOVERIES),
      });
      children.push(doomed);
      await doomed.line((l) => l.startsWith('READY'));
      const runId = await start('map', { items });
      const itemEvents = async () => (await client.getTimeline(runId)).filter((e) => e.itemIndex !== null);
      const finishedItems = (events: FlowEventRecord[]) => events.filter((e) => e.type === 'NODE_FINISHED').map((e) => e.itemIndex!);

      // SIGKILL once at least 5 items have committed NODE_FINISHED (the map is then well under way).
      await waitFor('5 items finished', async () => finishedItems(await itemEvents()).length >= 5, 30_000, 5);
      doomed.child.kill('SIGKILL');
      expect((await doomed.exited).signal).toBe('SIGKILL');
      // Its connections are gone (and with them any commit in flight, committed or not): what is
      // in the timeline now is what it left.
      await waitFor(
        "the killed process's sessions gone",
        async () => (await schema.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1`, [appName]))[0]!.n === 0,
        20_000,
      );
      const atKill = await itemEvents();
      const doneBefore = finishedItems(atKill);
      const openAtKill = atKill
        .filter(
          (e) =>
            e.type === 'NODE_STARTED' &&
            !atKill.some((o) => o.itemIndex === e.itemIndex && o.seq > e.seq && ['NODE_FINISHED', 'NODE_FAILED', 'NODE_INTERRUPTED'].includes(o.type)),
        )
        .map((e) => ({ itemIndex: e.itemIndex!, attempt: e.attempt! }));
      expect(doneBefore.length).toBeGreaterThanOrEqual(5);
      expect(doneBefore.length).toBeLessThan(items.length);
      // The map was in the middle of its items: some were in flight, never more than its concurrency.
      expect(openAtKill.length).toBeGreaterThan(0);
      expect(openAtKill.length).toBeLessThanOrEqual(MAP_CONCURRENCY);
      expect((await client.getRun(runId))!.status).toBe('RUNNING');

      const rescuer = await spawnWorker('normal');
      await waitFor(`run ${runId} completed`, async () => (await statusOf(runId)) === 'COMPLETED', 30_000);
      const run = (await client.getRun(runId))!;
      expect(run.outputsJson.items).toEqual(items.map((value, index) => mapItemOutput(index, value)));
      expect(run.outputsJson.done).toEqual({ count: items.length });

      const log = await schema.query<{ item_index: number; attempt: number; pid: number }>(
        `SELECT item_index, attempt, pid FROM "${schema.schema}".item_log WHERE run_id = $1 ORDER BY id`,
        [runId],
      );
      const runsOf = (index: number) => log.filter((r) => r.item_index === index);
      // Items finished before the kill: executed exactly once, by the killed process, never again.
      for (const index of doneBefore) expect(runsOf(index), `item ${index}`).toEqual([{ item_index: index, attempt: 1, pid: doomed.pid }]);
      // Every other item ran (again) on the rescuer; each item finished exactly once.
      for (let index = 0; index < items.length; index++) {
        if (!doneBefore.includes(index)) expect(runsOf(index).at(-1)!.pid, `item ${index}`).toBe(rescuer.pid);
      }
      const timeline = await client.getTimeline(runId);
      const finished = timeline.filter((e) => e.type === 'NODE_FINISHED' && e.itemIndex !== null).map((e) => e.itemIndex!);
      expect([...finished].sort((a, b) => a - b)).toEqual(items.map((_, i) => i));
      // The items in flight at the kill were recorded as interrupted, with their index and attempt.
      const interrupted = timeline.filter((e) => e.type === 'NODE_INTERRUPTED');
      expect(interrupted.map((e) => ({ itemIndex: e.itemIndex, attempt: e.attempt })).sort((a, b) => a.itemIndex! - b.itemIndex!)).toEqual(
        [...openAtKill].sort((a, b) => a.itemIndex - b.itemIndex),
      );
      for (const e of interrupted) expect(e).toMatchObject({ nodeId: 'items', error: { code: 'ATTEMPT_INTERRUPTED' } });
      // …and begun again (attempt 2) after it, by the rescuer.
      for (const { itemIndex } of openAtKill) {
        expect(timeline.filter((e) => e.type === 'NODE_STARTED' && e.itemIndex === itemIndex).map((e) => e.attempt)).toEqual([1, 2]);
        expect(runsOf(itemIndex).at(-1)).toEqual({ item_index: itemIndex, attempt: 2, pid: rescuer.pid });
      }
      expect(run.branches).toEqual([]);
      rescuer.child.kill('SIGTERM');
      expect((await rescuer.exited).code).toBe(0);
    },
  );

  it(`a node that kills its process on every attempt fails the run with POISON_PILL after ${MAX_RECOVERIES} recoveries`, { timeout: 90_000 }, async () => {
    const runId = await start('poison');
    let processes = 0;
    while ((await statusOf(runId)) === 'RUNNING') {
      expect(processes).toBeLessThan(MAX_RECOVERIES + 2); // each attempt costs a process: the bound holds
      const proc = spawnWorkerProcess({ DATABASE_URL: TEST_DATABASE_URL, FLOW_SCHEMA: schema.schema, MAX_RECOVERIES: String(MAX_RECOVERIES) });
      children.push(proc);
      processes += 1;
      // It dies in the handler (SIGKILL), or — once the bound is reached — fails the run and lives on.
      await Promise.race([proc.exited, waitFor('run failed', async () => (await statusOf(runId)) === 'FAILED', 30_000)]);
      if (proc.child.exitCode === null && proc.child.signalCode === null) {
        proc.child.kill('SIGTERM');
        await proc.exited;
      }
    }
    const run = (await client.getRun(runId))!;
    expect(run.status).toBe('FAILED');
    expect(run.error).toMatchObject({ code: 'POISON_PILL', retryable: false });
    const types = (await client.getTimeline(runId)).map((e) => e.type);
    expect(types.filter((t) => t === 'NODE_STARTED')).toHaveLength(MAX_RECOVERIES + 1);
    expect(types.filter((t) => t === 'NODE_INTERRUPTED')).toHaveLength(MAX_RECOVERIES + 1);
    expect(types.at(-1)).toBe('RUN_ABORTED');
    expect(processes).toBe(MAX_RECOVERIES + 2);
  });

  it('two worker processes share 100 runs and never execute the same run at once (database clock)', { timeout: 60_000 }, async () => {
    const [a, b] = await Promise.all([spawnWorker(), spawnWorker()]);
    const runIds = await Promise.all(Array.from({ length: 100 }, (_, i) => start('shared', { i })));
    await waitFor(
      '100 runs completed',
      async () => (await client.listRuns({ flowId: 'shared', status: 'COMPLETED', limit: 1000 })).runs.length === 100,
      40_000,
      50,
    );
    const log = `"${schema.schema}".exec_log`;
    const [{ n }] = await schema.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${log}`);
    expect(n).toBe(300); // three nodes, each executed exactly once per run
    const overlaps = await schema.query(
      `SELECT x.run_id FROM ${log} x JOIN ${log} y ON x.run_id = y.run_id AND x.id < y.id
       WHERE x.started_at < y.ended_at AND y.started_at < x.ended_at`,
    );
    expect(overlaps).toEqual([]);
    const byPid = await schema.query<{ pid: number; n: number }>(`SELECT pid, count(*)::int AS n FROM ${log} GROUP BY pid`);
    expect(byPid.map((r) => r.pid).sort()).toEqual([a!.pid, b!.pid].sort());
    expect(runIds).toHaveLength(100);
    for (const p of [a!, b!]) p.child.kill('SIGTERM');
    expect((await a!.exited).code).toBe(0);
    expect((await b!.exited).code).toBe(0);
  });

  it('SIGTERM drains: the step in flight commits, the process exits 0 and leaves no lock behind', { timeout: 60_000 }, async () => {
    const proc = await spawnWorker();
    const runId = await start('slow');
    await proc.line((l) => l.startsWith(`ENTERED ${runId}`));
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    const run = (await client.getRun(runId))!;
    expect(run.outputsJson.work).toBe('finished during drain');
    expect((await client.getTimeline(runId)).map((e) => e.type)).not.toContain('NODE_INTERRUPTED');
    expect(await flowLocksHeld(schema)).toBe(0);
  });
});
