/**
 * Cancelling a parent is crash-safe, with a real process on real Postgres: the process that
 * cancels a parent with 50 waiting children is SIGKILLed while its cancel is under way (held up
 * by a row lock the test takes on one child). Whatever the moment, the parent and its children
 * end up all cancelled or all as they were — never a cancelled parent over children waiting
 * forever — and a second cancel then finishes the job.
 */
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowEngine, createPostgresStorage, flow, type NodeResult } from '@hazeljs/flow';
import { spawnScript, withApplicationName, type ScriptProcess } from '../../chaos/child-process.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';
import { waitFor } from '../helpers/worker-cluster.js';

const CANCEL_SCRIPT = fileURLToPath(new URL('./fixtures/cancel-process.ts', import.meta.url));

describe.skipIf(!HAVE_PG)('cancelling a parent, killed mid-way (real process, Postgres)', () => {
  let t: TestSchema;
  let engine: FlowEngine;
  let proc: ScriptProcess | undefined;

  beforeAll(async () => {
    t = await createTestSchema('flow_cancel_crash');
    engine = new FlowEngine({ storage: createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 2 }) });
  });
  afterAll(async () => {
    if (proc && !proc.hasExited) proc.child.kill('SIGKILL');
    await engine?.close();
    await t?.drop();
  });

  it('leaves the parent and its 50 children all cancelled or all waiting, never half', { timeout: 120_000 }, async () => {
    const child = flow('crash-child', '1')
      .entry('w')
      .node('w', (): NodeResult => ({ status: 'wait', reason: 'forever' }))
      .build();
    await engine.registerDefinition(child);
    const parent = flow('crash-parent', '1')
      .entry('each')
      .node('each', (): NodeResult => ({ status: 'child', flowId: 'crash-child', version: '1' }), {
        forEach: () => Array.from({ length: 50 }, (_, i) => i),
        concurrency: 50,
      })
      .build();
    await engine.registerDefinition(parent);
    const { runId } = await engine.startRun({ flowId: 'crash-parent', version: '1', input: null });
    expect((await engine.runToCompletion(runId)).status).toBe('WAITING');
    const children = (await engine.listRuns({ parentRunId: runId, limit: 100, summary: true })).runs.map((r) => r.runId);
    expect(children).toHaveLength(50);
    const statuses = async () => [
      (await engine.getRun(runId))!.status,
      ...(await engine.listRuns({ parentRunId: runId, limit: 100, summary: true })).runs.map((r) => r.status),
    ];

    // Hold one child's row (halfway down the list): the cancel waits there until the process is dead.
    const locker = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`SELECT 1 FROM "${t.schema}".flow_runs WHERE run_id = $1 FOR UPDATE`, [children[25]]);
      const app = `${t.schema}-cancel`;
      proc = spawnScript(CANCEL_SCRIPT, { DATABASE_URL: withApplicationName(TEST_DATABASE_URL, app), FLOW_SCHEMA: t.schema, RUN_ID: runId });
      await proc.line((l) => l.startsWith('READY'), 60_000);
      const waitingOnLock = async () =>
        (await t.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [app]))[0]!.n;
      await waitFor('the cancel to wait on the held row', async () => (await waitingOnLock()) > 0, 30_000);
      proc.child.kill('SIGKILL');
      await proc.exited;
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    // The dead client's statement either finishes or is rolled back: wait until it is gone.
    await waitFor(
      "the dead client's session to end",
      async () => (await t.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1`, [`${t.schema}-cancel`])).length === 0,
      30_000,
    );

    const after = await statuses();
    const allCancelled = after.every((s) => s === 'CANCELLED');
    const untouched = after.every((s) => s === 'WAITING');
    expect(allCancelled || untouched, `statuses after the kill: ${[...new Set(after)].join(', ')}`).toBe(true);
    // Nothing is left behind: if the cancel did not happen, a second one is not refused, and does it all.
    if (untouched) await engine.cancelRun(runId, 'again');
    expect(new Set(await statuses())).toEqual(new Set(['CANCELLED']));
  });
});
