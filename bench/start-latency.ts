/**
 * Start → first node with an idle worker on Postgres: `startRun` called → the handler of the run's
 * entry node starts. Sequential starts, from a client engine (another pool: the wake-up travels
 * through NOTIFY) and from the worker's own engine (the wake-up is this process's own). The
 * worker polls every 60 s, so a lost wake-up shows as a stall (reported), not as a slow sample.
 * Run alone: `npx tsx --conditions=hazel-source bench/start-latency.ts [samples, default 300]`.
 * Env: BENCH_DB_URL; POLL_MS (the worker's poll, default 60000); GAP_MS (a random pause of up to
 * this between starts, default 0: the next start may meet the worker letting go of the last run);
 * LOAD=1 (busy-wait blocks of 5–45 ms on this process's event loop, as in a loaded process).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { flow, type FlowEngine, type FlowWorker } from '../src/index.js';
import { engineOn, quietLogger, stats, within } from './worker-scenarios.js';

const URL_ = process.env.BENCH_DB_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SAMPLES = Number(process.argv[2] ?? 300);
const WARM_UP = 20;
const POLL_MS = Number(process.env.POLL_MS ?? 60_000);
const GAP_MS = Number(process.env.GAP_MS ?? 0);
/** A start slower than this is listed with the worker's counters. */
const SLOW_MS = 500;

let entered: ((at: number) => void) | null = null;
const oneNode = flow('bench-start', '1')
  .entry('a')
  .node('a', () => (entered?.(performance.now()), { status: 'ok' }))
  .build();

if (process.env.LOAD) {
  const block = () => {
    const until = performance.now() + 5 + Math.random() * 40;
    while (performance.now() < until);
    setTimeout(block, Math.random() * 30).unref();
  };
  block();
}

async function measure(starter: FlowEngine, worker: FlowWorker): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < SAMPLES + WARM_UP; i++) {
    const started = new Promise<number>((resolve) => (entered = resolve));
    const t0 = performance.now();
    await starter.startRun({ flowId: 'bench-start', version: '1', input: { i } });
    const t1 = await within(started, 10_000, () => `the first node of run ${i + 1} did not start`);
    if (i >= WARM_UP) latencies.push(t1 - t0);
    if (t1 - t0 > SLOW_MS) console.log(`slow start ${i + 1}: ${(t1 - t0).toFixed(0)} ms`, JSON.stringify(worker.status().counters));
    if (GAP_MS > 0) await new Promise((r) => setTimeout(r, Math.random() * GAP_MS));
  }
  return latencies;
}

const admin = new pg.Client({ connectionString: URL_ });
await admin.connect();
const schema = `bench_start_${randomBytes(4).toString('hex')}`;
try {
  const client = engineOn(URL_, schema, 4);
  const workerEngine = engineOn(URL_, schema);
  await client.registerDefinition(oneNode);
  await workerEngine.registerDefinition(oneNode);
  const worker = workerEngine.startWorker({ concurrency: 8, pollIntervalMs: POLL_MS, logger: quietLogger });
  await worker.started;
  for (const [label, starter] of [
    ['client engine (NOTIFY)', client],
    ['worker engine (local)', workerEngine],
  ] as const) {
    const s = stats(await measure(starter, worker));
    console.log(`start → first node, ${label}: p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(1)} ms (${SAMPLES} starts)`);
  }
  console.log('worker counters', JSON.stringify(worker.status().counters));
  await Promise.all([client.close(), workerEngine.close()]);
} finally {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
}
