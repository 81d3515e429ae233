/**
 * Flow control benchmark on Postgres, one script, one run: `npx tsx bench/flow-control.ts`.
 *
 *   1. raw        single-row UPDATE commits through `pg`, concurrency 8 (bench/raw-baseline.ts)
 *   2. plain      a worker (concurrency 64) drains N pre-created runs of a 3-node flow, no flow control
 *   3. limited    the same with a per-key concurrency limit on every run (key `k<i mod 100>`, limit 2:
 *                 200 slots for 64 worker slots, so what is measured is the cost of the limit, not a wait)
 *
 * Printed: runs/s and steps/s of each, `limited / plain` (target ≥ 0.8) and `plain steps/s / raw
 * commits/s`: run the script on the code before flow control (BENCH_ONLY=raw,plain, the script
 * copied there) and compare that ratio with this branch's (target ≥ 0.95 of before), both measured
 * against the raw baseline of the same run, so that a noisy machine cancels out.
 * Env: BENCH_DB_URL (default postgres://postgres@127.0.0.1:5432/test), BENCH_RUNS (default 2000),
 * BENCH_ONLY (a comma list of raw,plain,limited; default all), BENCH_ROUNDS (default 2: plain and
 * limited alternate, the best of each is kept).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { FlowEngine, flow, type FlowDefinition } from '../src/index.js';
import { createPostgresStorage } from '../src/storage/postgres.js';
import { measurePgUpdateBaseline } from './raw-baseline.js';

const URL_ = process.env.BENCH_DB_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUNS = Number(process.env.BENCH_RUNS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const ONLY = new Set((process.env.BENCH_ONLY ?? 'raw,plain,limited').split(','));
const WORKER_CONCURRENCY = 64;

function threeNodes(flowId: string, options?: Parameters<typeof flow>[2]): FlowDefinition {
  return flow(flowId, '1', options)
    .entry('a')
    .node('a', (ctx) => ({ status: 'ok', output: ctx.meta.attempt }))
    .node('b', () => ({ status: 'ok', patch: { b: true } }))
    .node('c', () => ({ status: 'ok', output: 'done' }))
    .edge('a', 'b')
    .edge('b', 'c')
    .build();
}

const quiet = { debug() {}, info() {}, warn: (m: string) => console.warn(m), error: (m: string, meta?: unknown) => console.error(m, meta) };

async function drain(def: FlowDefinition, limited: boolean): Promise<number> {
  const admin = new pg.Client({ connectionString: URL_ });
  await admin.connect();
  const schema = `bench_fc_${randomBytes(4).toString('hex')}`;
  const engineOn = (poolSize: number) => new FlowEngine({ storage: createPostgresStorage({ connectionString: URL_, schema, poolSize }) });
  const client = engineOn(4);
  const worker = engineOn(12);
  try {
    await client.registerDefinition(def);
    await worker.registerDefinition(def);
    const lanes = 8;
    let next = 0;
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        for (let i = next++; i < RUNS; i = next++) {
          await client.startRun({ flowId: def.flowId, version: '1', input: limited ? { key: `k${i % 100}` } : { i } });
        }
      }),
    );
    let seen = 0;
    const done = new Promise<void>((resolve) => worker.on('run:completed', () => void (++seen === RUNS && resolve())));
    const t0 = performance.now();
    worker.startWorker({ concurrency: WORKER_CONCURRENCY, logger: quiet });
    await done;
    return RUNS / ((performance.now() - t0) / 1000);
  } finally {
    await Promise.all([client.close(), worker.close()]);
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await admin.end();
  }
}

const plainFlow = threeNodes('bench-fc-plain');
// Typed loosely on purpose: the script also runs on code from before flow control (BENCH_ONLY=raw,plain).
const limitedFlow = ONLY.has('limited')
  ? threeNodes('bench-fc-limited', { concurrency: { limit: 2, key: (input: { key: string }) => input.key } } as Parameters<typeof flow>[2])
  : plainFlow;

const raw = ONLY.has('raw') ? (await measurePgUpdateBaseline({ connectionString: URL_, concurrency: 8, durationMs: 3000 })).commitsPerSec : null;
let plain = 0;
let limited = 0;
for (let round = 0; round < ROUNDS; round++) {
  if (ONLY.has('plain')) plain = Math.max(plain, await drain(plainFlow, false));
  if (ONLY.has('limited')) limited = Math.max(limited, await drain(limitedFlow, true));
}
const f = (x: number) => x.toFixed(0);
console.log(`runs ${RUNS}, worker concurrency ${WORKER_CONCURRENCY}, best of ${ROUNDS}`);
if (raw !== null) console.log(`raw commits/s           ${f(raw)}`);
if (plain) console.log(`plain    runs/s ${f(plain)}  steps/s ${f(plain * 3)}${raw ? `  steps/raw ${((plain * 3) / raw).toFixed(3)}` : ''}`);
if (limited) console.log(`limited  runs/s ${f(limited)}  steps/s ${f(limited * 3)}${raw ? `  steps/raw ${((limited * 3) / raw).toFixed(3)}` : ''}`);
if (plain && limited) console.log(`limited / plain         ${(limited / plain).toFixed(3)}  (target ≥ 0.8)`);
