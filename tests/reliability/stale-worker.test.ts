/**
 * The stale worker, with real processes on real Postgres: worker A is frozen (SIGSTOP) inside a
 * handler; its database sessions are terminated, so Postgres drops its advisory lock; worker B
 * takes the run over and completes the step; A is thawed (SIGCONT), its handler returns, and it
 * tries to commit. The commit must be refused as stale, and the history must show the step
 * committed once (B's), with A's attempt recorded as interrupted.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowEngine, createPostgresStorage } from '@hazeljs/flow';
import { spawnScript, withApplicationName, type ScriptProcess } from '../../chaos/child-process.js';
import { createTestSchema, flowLocksHeld, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';
import { waitFor } from '../helpers/worker-cluster.js';
import { staleFlow } from './fixtures/stale-flow.js';

const WORKER_SCRIPT = fileURLToPath(new URL('./fixtures/stale-worker-process.ts', import.meta.url));

describe.skipIf(!HAVE_PG)('stale worker on Postgres (real processes)', () => {
  let t: TestSchema;
  let engine: FlowEngine;
  let dir: string;
  const processes: ScriptProcess[] = [];

  const startWorker = async (name: string, env: Record<string, string> = {}) => {
    const url = withApplicationName(TEST_DATABASE_URL, `${t.schema}-${name}`);
    const proc = spawnScript(WORKER_SCRIPT, { DATABASE_URL: url, FLOW_SCHEMA: t.schema, ...env });
    processes.push(proc);
    await proc.line((l) => l.startsWith('READY'), 60_000);
    return proc;
  };
  const sessionsOf = async (name: string) =>
    (await t.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1`, [`${t.schema}-${name}`]))[0]!.n;

  beforeAll(async () => {
    t = await createTestSchema('flow_stale');
    engine = new FlowEngine({ storage: createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 2 }) });
    await engine.registerDefinition(staleFlow(() => ({ status: 'ok' })));
    dir = mkdtempSync(join(tmpdir(), 'flow-stale-'));
  });
  afterAll(async () => {
    for (const p of processes) if (!p.hasExited) p.child.kill('SIGCONT');
    for (const p of processes) if (!p.hasExited) p.child.kill('SIGTERM');
    await Promise.all(processes.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 15_000))])));
    for (const p of processes) if (!p.hasExited) p.child.kill('SIGKILL');
    await engine?.close();
    await t?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a paused worker whose sessions were terminated cannot commit after another took the run over', { timeout: 120_000 }, async () => {
    const a = await startWorker('A', { RELEASE_DIR: dir });
    const { runId } = await engine.startRun({ flowId: 'stale', version: '1', input: {} });
    await a.line((l) => l.startsWith(`ENTERED ${runId} 1 `));
    expect(await flowLocksHeld(t)).toBe(1); // A holds the run's lock while its handler runs

    // Freeze A inside the handler, then cut its sessions: Postgres drops the advisory lock with them.
    a.child.kill('SIGSTOP');
    const terminated = await t.query<{ n: number }>(`SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1`, [
      `${t.schema}-A`,
    ]);
    expect(terminated[0]!.n).toBeGreaterThanOrEqual(1);
    await waitFor('A has no session and no lock left', async () => (await sessionsOf('A')) === 0 && (await flowLocksHeld(t)) === 0);

    // B finds the run due (RUNNING, attempt in flight, nobody holding it) and completes it.
    const b = await startWorker('B');
    const done = await waitFor('B completes the run', async () => {
      const run = await engine.getRun(runId);
      return run?.status === 'COMPLETED' ? run : null;
    });
    expect(done.outputsJson).toEqual({ work: { by: b.pid, attempt: 2 }, after: { after: b.pid } });

    // Thaw A, give its event loop time to see its dead connection, then let its handler return.
    a.child.kill('SIGCONT');
    await new Promise((r) => setTimeout(r, 500));
    const mark = a.lines.length;
    writeFileSync(join(dir, runId), '');
    const verdict = await waitFor("A's commit of the paused attempt", () => a.lines.slice(mark).find((l) => l.startsWith(`COMMIT `) && l.includes(runId)));
    expect(verdict).toBe(`COMMIT rejected ${runId} StaleRunError STALE_RUN`);
    expect(a.lines.filter((l) => l.startsWith(`COMMIT ok ${runId}`))).toEqual([`COMMIT ok ${runId} v2`]); // only A's "attempt begun"

    // Nothing of A's attempt landed: the history is B's takeover and one commit of the step.
    const after = (await engine.getRun(runId))!;
    expect(after.version).toBe(done.version);
    const timeline = await engine.getTimeline(runId);
    expect(timeline.map((e) => [e.seq, e.type, e.nodeId, e.attempt])).toEqual([
      [1, 'RUN_STARTED', 'work', null],
      [2, 'NODE_STARTED', 'work', 1], // A
      [3, 'NODE_INTERRUPTED', 'work', 1], // B found A's attempt begun and never finished
      [4, 'NODE_STARTED', 'work', 2],
      [5, 'NODE_FINISHED', 'work', 2], // the one commit of the step
      [6, 'NODE_STARTED', 'after', 1],
      [7, 'NODE_FINISHED', 'after', 1],
      [8, 'RUN_COMPLETED', null, null],
    ]);
    expect(after.lastSeq).toBe(8);
    expect(timeline[2]!.error?.code).toBe('ATTEMPT_INTERRUPTED');

    // A is alive and well (reconnected): it can still do work, and no lock is left anywhere.
    const second = await engine.startRun({ flowId: 'stale', version: '1', input: {} });
    writeFileSync(join(dir, second.runId), '');
    await waitFor('a second run completes', async () => (await engine.getRun(second.runId))?.status === 'COMPLETED');
    expect(a.hasExited).toBe(false);
    await waitFor('no advisory lock of the schema in pg_locks', async () => (await flowLocksHeld(t)) === 0);
    const anyFlowLock = await t.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid IN (SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1)`,
      [`${t.schema}-%`],
    );
    expect(anyFlowLock[0]!.n).toBe(0);

    // Both stop cleanly after the ordeal.
    for (const p of [a, b]) p.child.kill('SIGTERM');
    expect(await a.exited).toEqual({ code: 0, signal: null });
    expect(await b.exited).toEqual({ code: 0, signal: null });
  });

  it('a run cancelled while another process runs its attempt: that commit is fenced out by the database', { timeout: 60_000 }, async () => {
    const c = await startWorker('C', { RELEASE_DIR: dir });
    const { runId } = await engine.startRun({ flowId: 'stale', version: '1', input: {} });
    await c.line((l) => l.startsWith(`ENTERED ${runId} 1 `));
    const cancelled = await engine.cancelRun(runId, 'changed my mind');
    expect(cancelled.status).toBe('CANCELLED');

    // C's session is alive: its commit reaches Postgres, where the version check refuses it.
    const mark = c.lines.length;
    writeFileSync(join(dir, runId), '');
    const verdict = await waitFor("C's commit", () => c.lines.slice(mark).find((l) => l.startsWith('COMMIT ') && l.includes(runId)));
    expect(verdict).toBe(`COMMIT rejected ${runId} StaleRunError STALE_RUN`);

    const run = (await engine.getRun(runId))!;
    expect([run.status, run.version, run.outputsJson, run.error?.code]).toEqual(['CANCELLED', cancelled.version, {}, 'CANCELLED']);
    const timeline = await engine.getTimeline(runId);
    expect(timeline.map((e) => [e.seq, e.type, e.nodeId, e.attempt])).toEqual([
      [1, 'RUN_STARTED', 'work', null],
      [2, 'NODE_STARTED', 'work', 1],
      [3, 'RUN_CANCELLED', null, null],
    ]);
    await waitFor('no advisory lock of the schema in pg_locks', async () => (await flowLocksHeld(t)) === 0);
    c.child.kill('SIGTERM');
    expect(await c.exited).toEqual({ code: 0, signal: null });
  });
});
