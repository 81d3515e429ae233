/**
 * Exactly once per tick, with real processes on real Postgres: four worker processes fire a
 * one-second schedule while the test SIGKILLs one of them every ~1.2 s (and starts another in
 * its place) for fifteen seconds — a process may die while claiming, between a claim and its
 * step, or right after a step. Afterwards every tick of the window has exactly one run: none is
 * fired twice (the step is one fenced statement, and runs are unique per (schedule, tick)), none
 * is lost (a dead process's claim runs out and catch-up 'all' fires what it held).
 */
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowEngine, createPostgresStorage, flow } from '@hazeljs/flow';
import { spawnScript, type ScriptProcess } from '../../chaos/child-process.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';
import { waitFor } from '../helpers/worker-cluster.js';

const SCRIPT = fileURLToPath(new URL('./fixtures/schedule-worker-process.ts', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!HAVE_PG)('a one-second schedule on processes being SIGKILLed (Postgres)', () => {
  let t: TestSchema;
  let engine: FlowEngine;
  const procs: ScriptProcess[] = [];

  beforeAll(async () => {
    t = await createTestSchema('flow_schedule_kill');
    engine = new FlowEngine({ storage: createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 2 }) });
  });
  afterAll(async () => {
    for (const p of procs) if (!p.hasExited) p.child.kill('SIGKILL');
    await engine?.close();
    await t?.drop();
  });

  const spawn = async () => {
    const p = spawnScript(SCRIPT, { DATABASE_URL: TEST_DATABASE_URL, FLOW_SCHEMA: t.schema });
    procs.push(p);
    await p.line((l) => l.startsWith('READY'), 60_000);
    return p;
  };

  it('gives every tick in the window exactly one run', { timeout: 180_000 }, async () => {
    await engine.registerDefinition(
      flow('tick', '1')
        .entry('work')
        .node('work', async () => ({ status: 'ok' }))
        .build(),
    );
    const live = await Promise.all([spawn(), spawn(), spawn(), spawn()]);
    await engine.schedules.set({ scheduleId: 'every-second', flowId: 'tick', every: '1s', catchup: 'all', overlap: 'allow' });
    const windowStart = Math.ceil(Date.now() / 1000) * 1000 + 1000;

    // Kill a ready process every ~1.2 s and start another in its place (its start-up takes seconds: not awaited).
    const ready = new Set(live);
    const starting: Array<Promise<unknown>> = [];
    let kills = 0;
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      await sleep(800 + Math.random() * 800);
      if (ready.size < 2) continue;
      const victim = [...ready][Math.floor(Math.random() * ready.size)]!;
      ready.delete(victim);
      victim.child.kill('SIGKILL');
      kills += 1;
      starting.push(spawn().then((p) => ready.add(p)));
    }
    await Promise.all(starting);
    const live2 = [...ready];
    const windowEnd = Math.floor(Date.now() / 1000) * 1000 - 1000;
    expect(kills).toBeGreaterThanOrEqual(5);

    // A claim a dead process held runs out (10 s), then its ticks are caught up.
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      const ticksInWindow = async () =>
        (
          await client.query<{ at: string; n: string }>(
            `SELECT (extract(epoch FROM scheduled_at) * 1000)::bigint::text AS at, count(*)::text AS n FROM "${t.schema}".flow_runs
             WHERE schedule_id = 'every-second' AND scheduled_at BETWEEN to_timestamp($1 / 1000.0) AND to_timestamp($2 / 1000.0)
             GROUP BY scheduled_at ORDER BY scheduled_at`,
            [windowStart, windowEnd],
          )
        ).rows;
      const expected = (windowEnd - windowStart) / 1000 + 1;
      await waitFor(`runs for all ${expected} ticks`, async () => (await ticksInWindow()).length >= expected, 60_000, 200);
      await engine.schedules.pause('every-second');
      const rows = await ticksInWindow();
      expect(rows.map((r) => Number(r.at))).toEqual(Array.from({ length: expected }, (_, i) => windowStart + i * 1000));
      expect(rows.every((r) => r.n === '1')).toBe(true);
      // And the whole history: never two runs for one tick, and their first steps ran.
      const dupes = await client.query(
        `SELECT scheduled_at FROM "${t.schema}".flow_runs WHERE schedule_id = 'every-second' GROUP BY scheduled_at HAVING count(*) > 1`,
      );
      expect(dupes.rows).toEqual([]);
      await waitFor(
        'every run completed',
        async () =>
          (await client.query(`SELECT 1 FROM "${t.schema}".flow_runs WHERE schedule_id = 'every-second' AND status <> 'COMPLETED'`)).rows.length === 0,
        60_000,
        200,
      );
    } finally {
      await client.end();
    }
    for (const p of live2) p.child.kill('SIGTERM');
    await Promise.all(live2.map((p) => p.exited));
  });
});
