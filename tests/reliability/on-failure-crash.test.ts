/**
 * `onFailure` is exactly once across crashes, with real processes on real Postgres: a worker
 * process is SIGKILLed while its commit that fails a run is under way (held up by a row lock the
 * test takes on the run), once with the dead client's statement rolled back and once with it
 * left to finish; then worker processes are killed at random while many runs fail. Whatever the
 * moment, a failed run never ends up without its handler, and never with two: at the kill the
 * run is either still running with no handler or FAILED with one, and once recovered every run
 * is FAILED with exactly one handler, COMPLETED.
 */
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowEngine, createPostgresStorage, flow } from '@hazeljs/flow';
import { spawnScript, withApplicationName, type ScriptProcess } from '../../chaos/child-process.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';
import { waitFor } from '../helpers/worker-cluster.js';

const WORKER_SCRIPT = fileURLToPath(new URL('./fixtures/failing-worker-process.ts', import.meta.url));

describe.skipIf(!HAVE_PG)('onFailure with worker processes killed around the failing commit (real processes, Postgres)', () => {
  let t: TestSchema;
  let engine: FlowEngine;
  const procs: ScriptProcess[] = [];

  beforeAll(async () => {
    t = await createTestSchema('flow_onfail_crash');
    engine = new FlowEngine({ storage: createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 3 }) });
    // The flows' graphs as the workers define them (this process starts runs and reads; it runs no worker).
    await engine.registerDefinition(
      flow('crash-handler', '1')
        .entry('h')
        .node('h', () => ({ status: 'ok' }))
        .build(),
    );
    await engine.registerDefinition(
      flow('crash-order', '1', { onFailure: { flowId: 'crash-handler', version: '1' } })
        .entry('work')
        .node('work', () => ({ status: 'ok' }))
        .build(),
    );
  });
  afterAll(async () => {
    for (const p of procs) if (!p.hasExited) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await engine?.close();
    await t?.drop();
  });

  function spawnWorker(app: string, env: Record<string, string> = {}): ScriptProcess {
    const proc = spawnScript(WORKER_SCRIPT, { DATABASE_URL: withApplicationName(TEST_DATABASE_URL, app), FLOW_SCHEMA: t.schema, ...env });
    procs.push(proc);
    return proc;
  }

  /** Per run of `crash-order`: its status, the handler runs that name it, and the one it names. */
  async function handlerCounts(): Promise<Array<{ run_id: string; status: string; handlers: number; named: string | null; handler_ids: string[] }>> {
    return t.query(
      `SELECT o.run_id, o.status::text AS status, o.failure_handler_run_id AS named,
              (SELECT count(*)::int FROM "${t.schema}".flow_runs h WHERE h.failure_of = o.run_id) AS handlers,
              ARRAY(SELECT h.run_id FROM "${t.schema}".flow_runs h WHERE h.failure_of = o.run_id) AS handler_ids
       FROM "${t.schema}".flow_runs o WHERE o.flow_id = 'crash-order'`,
    );
  }

  /** Every run FAILED with exactly one handler, the one it names, and every handler COMPLETED. */
  async function expectAllHandledOnce(runIds: string[]): Promise<void> {
    await waitFor(
      'every run FAILED with its handler COMPLETED',
      async () => {
        const rows = await handlerCounts();
        const done = await t.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM "${t.schema}".flow_runs WHERE flow_id = 'crash-handler' AND status = 'COMPLETED'`,
        );
        return rows.length === runIds.length && rows.every((r) => r.status === 'FAILED' && r.handlers === 1) && done[0]!.n === runIds.length;
      },
      60_000,
      100,
    );
    for (const r of await handlerCounts()) {
      expect(r.handlers).toBe(1);
      expect(r.named).toBe(r.handler_ids[0]);
      expect((await engine.getRun(r.named!))!.inputJson).toMatchObject({ runId: r.run_id, flowId: 'crash-order', version: '1', error: { code: 'GIVE_UP' } });
    }
  }

  async function killDuringFailingCommit(runId: string, app: string, end: 'rolled back' | 'finished'): Promise<void> {
    const proc = spawnWorker(app, { FAIL_DELAY_MS: '400' });
    await proc.line((l) => l.startsWith(`FAILING ${runId}`), 60_000);
    // Hold the run's row: the failing commit waits there until the process is dead.
    const locker = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`SELECT 1 FROM "${t.schema}".flow_runs WHERE run_id = $1 FOR UPDATE`, [runId]);
      const waiting = async () => t.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [app]);
      const [blocked] = await waitFor(
        'the failing commit to wait on the held row',
        async () => ((await waiting()).length > 0 ? await waiting() : null),
        30_000,
      );
      proc.child.kill('SIGKILL');
      await proc.exited;
      // The dead client's statement is rolled back if its session is ended before the row is let
      // go; otherwise it goes on and commits once the row is free.
      if (end === 'rolled back') await t.query('SELECT pg_terminate_backend($1)', [blocked!.pid]);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    await waitFor(
      "the dead client's sessions to end",
      async () => (await t.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1`, [app])).length === 0,
      30_000,
    );
    const [row] = (await handlerCounts()).filter((r) => r.run_id === runId);
    if (end === 'rolled back') expect(row).toMatchObject({ status: 'RUNNING', handlers: 0, named: null });
    else expect(row).toMatchObject({ status: 'FAILED', handlers: 1, named: row!.handler_ids[0] });
  }

  it(
    'a kill during the failing commit leaves no handler (rolled back) or one (finished), and recovery makes it exactly one',
    { timeout: 180_000 },
    async () => {
      const rolledBack = (await engine.startRun({ flowId: 'crash-order', version: '1', input: { case: 'rolled back' } })).runId;
      await killDuringFailingCommit(rolledBack, `${t.schema}-kill-1`, 'rolled back');
      const finished = (await engine.startRun({ flowId: 'crash-order', version: '1', input: { case: 'finished' } })).runId;
      await killDuringFailingCommit(finished, `${t.schema}-kill-2`, 'finished');

      // A new worker picks up the interrupted run (its attempt re-runs and fails) and the handlers.
      const survivor = spawnWorker(`${t.schema}-survivor`);
      await survivor.line((l) => l.startsWith('READY'), 60_000);
      await expectAllHandledOnce([rolledBack, finished]);
      expect((await engine.getTimeline(rolledBack)).map((e) => e.type)).toContain('NODE_INTERRUPTED');
      survivor.child.kill('SIGKILL');
      await survivor.exited;
    },
  );

  it('worker processes killed at random while 60 runs fail: every run gets exactly one handler', { timeout: 240_000 }, async () => {
    await t.query(`DELETE FROM "${t.schema}".flow_runs`);
    const live: ScriptProcess[] = [];
    for (let i = 0; i < 3; i++) live.push(spawnWorker(`${t.schema}-w${i}`));
    await Promise.all(live.map((p) => p.line((l) => l.startsWith('READY'), 60_000)));
    // Runs keep coming while workers die: a kill lands amid attempts and failing commits.
    const runIds: string[] = [];
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 10; i++) runIds.push((await engine.startRun({ flowId: 'crash-order', version: '1', input: { round, i } })).runId);
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 150));
      const victim = live.splice(Math.floor(Math.random() * live.length), 1)[0]!;
      victim.child.kill('SIGKILL');
      live.push(spawnWorker(`${t.schema}-r${round}`));
    }
    await expectAllHandledOnce(runIds);
    const [interrupted] = await t.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${t.schema}".flow_events WHERE type = 'NODE_INTERRUPTED'`);
    // The kills did land amid the work (each leaves the attempts it had in flight interrupted).
    expect(interrupted!.n).toBeGreaterThan(0);
    for (const p of live) p.child.kill('SIGKILL');
    await Promise.all(live.map((p) => p.exited));
  });
});
