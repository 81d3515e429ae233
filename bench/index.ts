/**
 * `npm run bench`: node steps per second in memory (with the engine's per-step overhead), then on
 * PGlite and Postgres next to raw-driver baselines run in this same script.
 * Env: BENCH_DURATION_MS (default 3000), DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 * The worker benchmark (DBOS comparison, resume latency, 1 vs 4 processes) is `npm run bench:worker`.
 */
import pg from 'pg';
import { benchMemory } from './memory.js';
import { benchPGlite, benchPostgres } from './stores.js';

const durationMs = Number(process.env.BENCH_DURATION_MS ?? 3000);
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const mem = await benchMemory(Number(process.env.BENCH_RUNS ?? 3000));
console.log(`memory    ${fmt(mem.stepsPerSec)} steps/s on one core; ${mem.usPerStep.toFixed(1)} µs per step, of which the engine's own overhead is ${mem.overheadUsPerStep.toFixed(1)} µs (handlers alone: ${mem.baselineUsPerStep.toFixed(2)} µs)`);

const lite = await benchPGlite(8, durationMs);
console.log(`pglite    c=8  engine ${fmt(lite.engine.stepsPerSec)} steps/s vs raw UPDATE commits ${fmt(lite.raw.commitsPerSec)}/s → ratio ${lite.ratio.toFixed(2)} (${lite.engine.commitsPerStep.toFixed(2)} commits per step)`);

let pgUp = true;
const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
await probe.connect().catch(() => (pgUp = false));
await probe.end().catch(() => undefined);
if (!pgUp) {
  console.log(`postgres  skipped: ${url.replace(/:[^:@/]*@/, ':***@')} is unreachable`);
} else {
  for (const c of [1, 8]) {
    const r = await benchPostgres(url, c, durationMs);
    console.log(`postgres  c=${c}  engine ${fmt(r.engine.stepsPerSec)} steps/s vs raw UPDATE commits ${fmt(r.raw.commitsPerSec)}/s → ratio ${r.ratio.toFixed(2)} (${r.engine.commitsPerStep.toFixed(2)} commits per step)`);
  }
}
