/**
 * What moving and re-running runs costs, on Postgres, per run, next to a baseline measured in the
 * same session: `cancelRun` (one statement per run, no lock). N runs parked at a wait are migrated
 * to another version (a dry run, then for real: lock, read, rewrite, unlock per run); N failed runs
 * are retried by `retryRuns`; N finished runs are forked from their middle node.
 * Run alone: `npx tsx --conditions=hazel-source bench/versions.ts`. Env: BENCH_DB_URL, N (default 500).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { FlowEngine, createPostgresStorage, flow, type FlowDefinition } from '../src/index.js';

const URL_ = process.env.BENCH_DB_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.env.N ?? 500);
let fail = true;

function benchFlow(version: string): FlowDefinition {
  return flow('bench-versions', version)
    .entry('a')
    .node('a', () => ({ status: 'ok', output: 'a' }))
    .node('wait', (ctx) => (ctx.state._resumePayload === undefined ? { status: 'wait' } : { status: 'ok' }))
    .node('b', () => (fail ? { status: 'error', error: { code: 'NO', message: 'no', retryable: false } } : { status: 'ok' }))
    .edge('a', 'wait')
    .edge('wait', 'b')
    .build();
}

async function parked(engine: FlowEngine, version: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { runId } = await engine.startRun({ flowId: 'bench-versions', version, input: { i } });
    await engine.runToCompletion(runId);
    ids.push(runId);
  }
  return ids;
}

async function timed(what: string, fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  const ms = performance.now() - started;
  console.log(`${what.padEnd(44)} ${(ms / N).toFixed(2)} ms/run  (${Math.round((N * 1000) / ms)} runs/s)`);
  return ms;
}

async function main(): Promise<void> {
  const schema = `bench_versions_${randomBytes(3).toString('hex')}`;
  const engine = new FlowEngine({ storage: createPostgresStorage({ connectionString: URL_, schema, poolSize: 4, listen: false }) });
  try {
    for (const v of ['1', '2']) await engine.registerDefinition(benchFlow(v));
    const toCancel = await parked(engine, '1', N);
    const baseline = await timed('baseline: cancelRun', async () => {
      for (const id of toCancel) await engine.cancelRun(id);
    });
    const runIds = await parked(engine, '1', N);
    const dry = await timed('migrateRuns, dry run', () =>
      engine.migrateRuns({ flowId: 'bench-versions', fromVersion: '1', toVersion: '2', runIds, dryRun: true }),
    );
    const real = await timed('migrateRuns', () => engine.migrateRuns({ flowId: 'bench-versions', fromVersion: '1', toVersion: '2', runIds }));
    for (const id of runIds) {
      await engine.resumeRun(id, 'go');
      await engine.runToCompletion(id);
    }
    fail = false;
    const retry = await timed('retryRuns (FAILED → RUNNING)', () => engine.retryRuns({ flowId: 'bench-versions', version: '2' }));
    for (const id of runIds) await engine.runToCompletion(id);
    const fork = await timed('forkRun from the middle node', async () => {
      for (const id of runIds) await engine.forkRun(id, { fromNodeId: 'wait' });
    });
    console.log(
      `ratios to cancelRun: migrate dry ${(dry / baseline).toFixed(2)}×, migrate ${(real / baseline).toFixed(2)}×, retry ${(retry / baseline).toFixed(2)}×, fork ${(fork / baseline).toFixed(2)}×`,
    );
  } finally {
    await engine.close();
    const admin = new pg.Client({ connectionString: URL_ });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}

await main();
