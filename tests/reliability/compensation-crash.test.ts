/**
 * Compensation survives crashes, with real processes on real Postgres: worker processes run many
 * runs of a saga (four steps with an undo, then a step that fails for good), and are SIGKILLed
 * again and again while undos run — each kill lands inside an undo, or just after one finished its
 * work and before its outcome was committed. Every run must still end FAILED with
 * `compensated: true`, each step undone exactly once as the timeline says, newest first.
 *
 * What "a compensation is never run twice" means, and what this checks: an undo is at least
 * once, like any attempt — one whose worker died before its outcome was committed (even after it
 * did all its work) is run again, and the timeline says so (NODE_INTERRUPTED of that attempt).
 * What must never happen is an undo run again once its success was committed (NODE_COMPENSATED),
 * nor one attempt executed twice. So, from the undo log the handlers write (a row per execution,
 * `ended_at` set once its work is done): per run and step, exactly one execution that did its work
 * under the attempt the timeline shows compensated; any other execution that did its work belongs
 * to an attempt the timeline shows interrupted; no attempt executed twice; no execution started
 * after the step was compensated.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowEngine, createPostgresStorage } from '@hazeljs/flow';
import { spawnScript, withApplicationName, type ScriptProcess } from '../../chaos/child-process.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';
import { waitFor } from '../helpers/worker-cluster.js';
import { SAGA_FAILURE, SAGA_FLOW_ID, SAGA_STEPS, sagaFlow } from './fixtures/saga-flow.js';

const WORKER_SCRIPT = fileURLToPath(new URL('./fixtures/saga-worker-process.ts', import.meta.url));
const RUNS = 40;
/** Runs are started over this long, so that undos run during every kill. */
const START_OVER_MS = 9000;
const KILLS = 8;
const WORKERS = 3;

interface EventRow {
  run_id: string;
  seq: number;
  type: string;
  node_id: string | null;
  attempt: number | null;
  at: Date;
  final: string | null;
}
interface UndoRow {
  run_id: string;
  node_id: string;
  attempt: number;
  started_at: Date;
  ended_at: Date | null;
}

describe.skipIf(!HAVE_PG)('compensation under SIGKILL (real processes, Postgres)', () => {
  let t: TestSchema;
  let engine: FlowEngine;
  const processes: ScriptProcess[] = [];
  let spawned = 0;

  /** A worker process; `undos` counts the undos it started (its UNDO lines). */
  const startWorker = () => {
    const name = `${t.schema}-w${++spawned}`;
    const counter = { undos: 0 };
    const proc = spawnScript(WORKER_SCRIPT, { DATABASE_URL: withApplicationName(TEST_DATABASE_URL, name), FLOW_SCHEMA: t.schema }, (line) => {
      if (line.startsWith('UNDO ')) counter.undos += 1;
    });
    processes.push(proc);
    return { proc, counter };
  };

  beforeAll(async () => {
    t = await createTestSchema('flow_undo_crash');
    engine = new FlowEngine({ storage: createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 2 }) });
    await engine.registerDefinition(
      sagaFlow(() => {
        throw new Error('the test process runs no undo');
      }),
    );
    await t.query(
      `CREATE TABLE "${t.schema}".undo_log (id bigserial PRIMARY KEY, run_id text NOT NULL, node_id text NOT NULL, attempt int NOT NULL,
         pid int NOT NULL, started_at timestamptz NOT NULL, ended_at timestamptz)`,
    );
  });
  afterAll(async () => {
    for (const p of processes) if (!p.hasExited) p.child.kill('SIGKILL');
    await Promise.all(processes.map((p) => p.exited));
    await engine?.close();
    await t?.drop();
  });

  it('every run ends FAILED, compensated, each step undone once; no undo runs again once compensated', { timeout: 90_000 }, async () => {
    let live = Array.from({ length: WORKERS }, startWorker);
    await Promise.all(live.map((w) => w.proc.line((l) => l.startsWith('READY'), 60_000)));

    const runIds: string[] = [];
    const starting = (async () => {
      for (let i = 0; i < RUNS; i++) {
        runIds.push((await engine.startRun({ flowId: SAGA_FLOW_ID, version: '1', input: { i } })).runId);
        await new Promise((r) => setTimeout(r, START_OVER_MS / RUNS));
      }
    })();

    // Each kill: the next worker to start an undo dies within 250 ms (inside the undo, or after it
    // did its work and before the commit); a new worker takes its place.
    let kills = 0;
    while (kills < KILLS) {
      const seen = new Map(live.map((w) => [w, w.counter.undos]));
      // None for 15 s: every run has ended (the replacements were slow to boot); the kills so far must do.
      const victim = await waitFor('a worker to start an undo', () => live.find((w) => w.counter.undos > seen.get(w)!), 15_000).catch(() => null);
      if (!victim) break;
      await new Promise((r) => setTimeout(r, Math.random() * 250));
      victim.proc.child.kill('SIGKILL');
      await victim.proc.exited;
      kills += 1;
      live = [...live.filter((w) => w !== victim), startWorker()];
      await new Promise((r) => setTimeout(r, 300));
    }
    await starting;
    expect(kills).toBeGreaterThanOrEqual(KILLS / 2);

    await waitFor(
      'every run to end',
      async () => (await t.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${t.schema}".flow_runs WHERE status IN ('RUNNING', 'WAITING')`))[0]!.n === 0,
      45_000,
      200,
    );

    const runs = await t.query<{ run_id: string; status: string; compensated: boolean | null; code: string | null }>(
      `SELECT run_id, status::text AS status, compensated, error_json ->> 'code' AS code FROM "${t.schema}".flow_runs`,
    );
    expect(runs.map((r) => r.run_id).sort()).toEqual([...runIds].sort());
    for (const r of runs) expect(r, `run ${r.run_id}`).toMatchObject({ status: 'FAILED', compensated: true, code: SAGA_FAILURE });

    const events = await t.query<EventRow>(
      `SELECT run_id, seq, type, node_id, attempt, at, payload_json ->> 'final' AS final FROM "${t.schema}".flow_events ORDER BY run_id, seq`,
    );
    const undos = await t.query<UndoRow>(`SELECT run_id, node_id, attempt, started_at, ended_at FROM "${t.schema}".undo_log ORDER BY id`);
    const stats = { interruptedUndos: 0, stepsWhoseWorkWasDoneTwice: 0, undoExecutions: undos.length, retriedUndos: 0 };
    for (const runId of runIds) {
      const timeline = events.filter((e) => e.run_id === runId);
      const where = `run ${runId}`;
      const begin = timeline.findIndex((e) => e.type === 'RUN_COMPENSATING');
      expect(begin, `${where}: RUN_COMPENSATING`).toBeGreaterThan(0);
      const undoing = timeline.slice(begin);
      expect(
        undoing.filter((e) => e.type === 'RUN_COMPENSATING'),
        where,
      ).toHaveLength(1);
      // Each step compensated once, newest first; nothing failed for good; the run ended last.
      const compensated = undoing.filter((e) => e.type === 'NODE_COMPENSATED');
      expect(
        compensated.map((e) => e.node_id),
        where,
      ).toEqual([...SAGA_STEPS].reverse());
      expect(
        undoing.filter((e) => e.type === 'COMPENSATION_FAILED' && e.final === 'true'),
        where,
      ).toEqual([]);
      expect(timeline.at(-1)!.type, where).toBe('RUN_ABORTED');
      stats.interruptedUndos += undoing.filter((e) => e.type === 'NODE_INTERRUPTED').length;
      stats.retriedUndos += undoing.filter((e) => e.type === 'COMPENSATION_FAILED').length;

      for (const step of SAGA_STEPS) {
        const at = `${where}, undo of ${step}`;
        const done = compensated.find((e) => e.node_id === step)!;
        const begun = new Set(undoing.filter((e) => e.type === 'COMPENSATION_STARTED' && e.node_id === step).map((e) => e.attempt));
        const interrupted = new Set(undoing.filter((e) => e.type === 'NODE_INTERRUPTED' && e.node_id === step).map((e) => e.attempt));
        const executions = undos.filter((u) => u.run_id === runId && u.node_id === step);
        // Every execution is of an attempt the timeline began, and no attempt executed twice.
        for (const u of executions) expect(begun.has(u.attempt), `${at}: attempt ${u.attempt} executed but never begun`).toBe(true);
        expect(new Set(executions.map((u) => u.attempt)).size, `${at}: an attempt executed twice`).toBe(executions.length);
        // The work was done once under the compensated attempt; any other time, under an interrupted one.
        const worked = executions.filter((u) => u.ended_at !== null);
        expect(
          worked.filter((u) => u.attempt === done.attempt),
          `${at}: executions of the compensated attempt ${done.attempt}`,
        ).toHaveLength(1);
        for (const u of worked) {
          if (u.attempt !== done.attempt)
            expect(interrupted.has(u.attempt), `${at}: attempt ${u.attempt} did its work, then neither committed nor interrupted`).toBe(true);
        }
        if (worked.length > 1) stats.stepsWhoseWorkWasDoneTwice += 1;
        // Never run again once compensated (the event's time is the commit's statement time, in ms).
        for (const u of executions) {
          expect(u.started_at.getTime(), `${at}: attempt ${u.attempt} started after the step was compensated`).toBeLessThanOrEqual(done.at.getTime() + 1);
        }
      }
    }
    console.log(`compensation crash test: ${kills} kills, ${spawned} workers spawned; ${JSON.stringify(stats)}`);
    // The kills did land inside undos (else this test tested nothing).
    expect(stats.interruptedUndos).toBeGreaterThan(0);
    expect(stats.retriedUndos).toBeGreaterThan(0);
  });
});
