/**
 * Flow control across real processes on Postgres: three worker processes run `limited@1` (2
 * executing runs per customer, 5 in all); every step records its start and end in a table. No
 * customer ever has more than 2 steps running at once, and none more than 5 in all — and the
 * limits are reached (not serialized to 1). One worker is killed (SIGKILL) midway: the slots it
 * held are freed with its connection, so every run still completes.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowEngine, createPostgresStorage } from '@hazeljs/flow';
import { spawnScript, type ScriptProcess } from '../../chaos/child-process.js';
import { peakOverlap } from '../../chaos/soak-limited.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';
import { LIMIT_IN_ALL, LIMIT_PER_CUSTOMER, limitedFlow } from './fixtures/limited-flow.js';

const WORKER_SCRIPT = fileURLToPath(new URL('./fixtures/limited-worker-process.ts', import.meta.url));

describe.skipIf(!HAVE_PG)('flow control on Postgres (real processes)', () => {
  let t: TestSchema;
  let engine: FlowEngine;
  const processes: ScriptProcess[] = [];

  beforeAll(async () => {
    t = await createTestSchema('flow_fc_procs');
    engine = new FlowEngine({ storage: createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 2 }) });
    await engine.registerDefinition(limitedFlow(async () => undefined, 0));
    await t.query(`CREATE TABLE "${t.schema}".fc_steps (id serial PRIMARY KEY, run_id text, node text, customer text, pid int,
                   started_at timestamptz NOT NULL, ended_at timestamptz)`);
  });
  afterAll(async () => {
    for (const p of processes) if (!p.hasExited) p.child.kill('SIGTERM');
    await Promise.all(processes.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 15_000))])));
    for (const p of processes) if (!p.hasExited) p.child.kill('SIGKILL');
    await engine?.close();
    await t?.drop();
  });

  it('no key ever exceeds its limit, the limits are reached, and a killed worker frees its slots', { timeout: 120_000 }, async () => {
    for (let i = 0; i < 3; i++) {
      const proc = spawnScript(WORKER_SCRIPT, { DATABASE_URL: TEST_DATABASE_URL, FLOW_SCHEMA: t.schema });
      processes.push(proc);
    }
    await Promise.all(processes.map((p) => p.line((l) => l.startsWith('READY'), 60_000)));
    const runIds: string[] = [];
    for (let i = 0; i < 36; i++) runIds.push((await engine.startRun({ flowId: 'limited', version: '1', input: { customer: `c${i % 3}` } })).runId);

    // Kill one worker once it has begun steps: whatever it held must not block the others.
    const victim = processes[0]!;
    const stepsOf = async (pid: number) => (await t.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${t.schema}".fc_steps WHERE pid = $1`, [pid]))[0]!.n;
    const deadline = Date.now() + 30_000;
    while ((await stepsOf(victim.child.pid!)) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    victim.child.kill('SIGKILL');
    await victim.exited;

    const done = Date.now() + 60_000;
    let finished = 0;
    while (Date.now() < done) {
      const runs = await Promise.all(runIds.map((id) => engine.getRun(id)));
      finished = runs.filter((r) => r?.status === 'COMPLETED').length;
      if (finished === runIds.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(finished).toBe(runIds.length);

    const steps = await t.query<{ customer: string; started_at: Date; ended_at: Date | null; pid: number }>(
      `SELECT customer, started_at, ended_at, pid FROM "${t.schema}".fc_steps ORDER BY started_at`,
    );
    // A step the killed worker never ended stopped with its process; it held its slots until then.
    const ended = steps.filter((s): s is typeof s & { ended_at: Date } => s.ended_at !== null);
    expect(ended.length).toBeGreaterThanOrEqual(runIds.length * 2);
    const perCustomer = ['c0', 'c1', 'c2'].map((c) => peakOverlap(ended.filter((s) => s.customer === c)));
    for (const peak of perCustomer) expect(peak).toBeLessThanOrEqual(LIMIT_PER_CUSTOMER);
    expect(Math.max(...perCustomer)).toBe(LIMIT_PER_CUSTOMER);
    const inAll = peakOverlap(ended);
    expect(inAll).toBeLessThanOrEqual(LIMIT_IN_ALL);
    expect(inAll).toBeGreaterThanOrEqual(LIMIT_IN_ALL - 1);
  });
});
