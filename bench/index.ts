/**
 * `npm run bench`: node steps per second in memory (with the engine's per-step overhead), then on
 * PGlite and Postgres next to raw-driver baselines run in this same script; then the run model
 * (bench/run-model.ts): ms per step with 1 KB vs 256 KB of accumulated outputs, ms per item of a
 * small vs a large `forEach` map on Postgres, and a 10-wide split/join next to a 10-node chain;
 * then `/health` latency on PGlite while 200 heavy list requests arrive at once, and while six
 * clients read a 40,000-item map's timeline page by page (2,000 items with --quick)
 * (bench/health-under-load.ts; target < 100 ms, reported, not asserted).
 *
 * Targets (reported, not asserted): 256 KB / 1 KB ms per step ≤ 1.3; large / small map ms per item ≤ 1.5.
 *
 * `npm run bench -- --quick` (or BENCH_QUICK=1): a smoke run, under a minute — short durations and
 * a 1,000-item large map; its figures are too short to quote.
 * Env (each overrides the quick and full defaults):
 *   BENCH_DURATION_MS      measured time per throughput figure and per interleaved comparison (3000; quick 500)
 *   BENCH_RUNS             memory-mode runs of the 10-node flow (3000; quick 300)
 *   BENCH_STEPS            trivial steps measured after the large output (20; quick 10)
 *   BENCH_MAP_ITEMS        small,large map sizes (100,5000; quick 100,1000)
 *   BENCH_MAP_RUNS         small,large map runs (10,1; quick 2,1)
 *   BENCH_MAP_CONCURRENCY  the map's `concurrency` (10)
 *   BENCH_STORES           stores for the outputs and split/join comparisons (memory,pglite,postgres)
 *   BENCH_ONLY             sections to run, a comma list of steps,outputs,map,split,health (all)
 *   DATABASE_URL           Postgres (default postgres://postgres@127.0.0.1:5432/postgres)
 * The worker benchmark (DBOS comparison, resume latency, 1 vs 4 processes) is `npm run bench:worker`.
 */
import { cpus, loadavg } from 'node:os';
import pg from 'pg';
import { benchMemory } from './memory.js';
import { benchAccumulatedOutputs, benchMap, benchSplitJoin, type StoreKind } from './run-model.js';
import { benchPGlite, benchPostgres } from './stores.js';
import { benchHealthUnderLoad, benchHealthUnderTimelines, formatHealthUnderLoad } from './health-under-load.js';

const quick = process.argv.includes('--quick') || /^(1|true|yes)$/i.test(process.env.BENCH_QUICK ?? '');
const num = (name: string, full: number, quickValue: number) => Number(process.env[name] ?? (quick ? quickValue : full));
const pairOf = (name: string, full: [number, number], quickValue: [number, number]): [number, number] => {
  const v = process.env[name];
  if (!v) return quick ? quickValue : full;
  const [a, b] = v.split(',').map(Number);
  if (!(a! > 0 && b! > 0)) throw new Error(`${name} must be two positive numbers, e.g. 100,5000 (got "${v}")`);
  return [a!, b!];
};

const durationMs = num('BENCH_DURATION_MS', 3000, 500);
const memoryRuns = num('BENCH_RUNS', 3000, 300);
const steps = num('BENCH_STEPS', 20, 10);
const [smallItems, largeItems] = pairOf('BENCH_MAP_ITEMS', [100, 5000], [100, 1000]);
const [smallRuns, largeRuns] = pairOf('BENCH_MAP_RUNS', [10, 1], [2, 1]);
const mapConcurrency = num('BENCH_MAP_CONCURRENCY', 10, 10);
const only = new Set((process.env.BENCH_ONLY ?? 'steps,outputs,map,split,health').split(',').map((s) => s.trim()));
const stores = (process.env.BENCH_STORES ?? 'memory,pglite,postgres').split(',').map((s) => s.trim()) as StoreKind[];
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const kb = (bytes: number) => `${fmt(bytes / 1024, bytes < 10 * 1024 ? 1 : 0)} KB`;
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
const startedAt = Date.now();

console.log(
  `bench${quick ? ' (quick: smoke figures, too short to quote)' : ''}: Node ${process.version}, ${cpus().length} CPU(s), load average ${loadavg()[0]!.toFixed(1)}\n`,
);

if (only.has('steps')) {
  const mem = await benchMemory(memoryRuns);
  console.log(
    `memory    ${fmt(mem.stepsPerSec)} steps/s on one core; ${mem.usPerStep.toFixed(1)} µs per step, of which the engine's own overhead is ${mem.overheadUsPerStep.toFixed(1)} µs (handlers alone: ${mem.baselineUsPerStep.toFixed(2)} µs)`,
  );

  const lite = await benchPGlite(8, durationMs);
  console.log(
    `pglite    c=8  engine ${fmt(lite.engine.stepsPerSec)} steps/s vs raw UPDATE commits ${fmt(lite.raw.commitsPerSec)}/s → ratio ${lite.ratio.toFixed(2)} (${lite.engine.commitsPerStep.toFixed(2)} commits per step)`,
  );
}

let pgUp = true;
const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
await probe.connect().catch(() => (pgUp = false));
await probe.end().catch(() => undefined);
const pgSkipped = `skipped: ${url.replace(/:[^:@/]*@/, ':***@')} is unreachable`;
if (only.has('steps') && !pgUp) {
  console.log(`postgres  ${pgSkipped}`);
} else if (only.has('steps')) {
  for (const c of [1, 8]) {
    const r = await benchPostgres(url, c, durationMs);
    console.log(
      `postgres  c=${c}  engine ${fmt(r.engine.stepsPerSec)} steps/s vs raw UPDATE commits ${fmt(r.raw.commitsPerSec)}/s → ratio ${r.ratio.toFixed(2)} (${r.engine.commitsPerStep.toFixed(2)} commits per step)`,
    );
  }
}

const ratios: string[] = [];

if (only.has('outputs'))
  console.log(
    `\naccumulated outputs: a node outputs 1 KB or 256 KB, then ${steps} trivial steps are timed (one run at a time, the two sizes interleaved; median of runs)`,
  );
for (const store of only.has('outputs') ? stores : []) {
  if (store === 'postgres' && !pgUp) {
    console.log(`  ${store.padEnd(9)} ${pgSkipped}`);
    continue;
  }
  const r = await benchAccumulatedOutputs(store, url, { steps, durationMs });
  const raw = r.rawCommitMs === null ? '' : `; raw UPDATE commit at c=1: ${fmt(r.rawCommitMs, 3)} ms`;
  console.log(
    `  ${store.padEnd(9)} ${kb(r.small.bytes)}: ${fmt(r.small.msPerStep, 3)} ms/step, ${kb(r.large.bytes)}: ${fmt(r.large.msPerStep, 3)} ms/step → ratio ${fmt(r.ratio, 2)} (${r.runs} runs of each${raw})`,
  );
  ratios.push(`  256 KB / 1 KB ms per step, ${store.padEnd(9)} ≤ 1.3  → ${fmt(r.ratio, 2)}  ${verdict(r.ratio <= 1.3)}`);
}

if (only.has('map'))
  console.log(
    `\nmap: one forEach node (trivial handler, concurrency ${mapConcurrency}), ${smallItems} vs ${fmt(largeItems)} items on Postgres (ms per item: first item starts → next node starts)`,
  );
if (only.has('map') && !pgUp) {
  console.log(`  postgres  ${pgSkipped}`);
} else if (only.has('map')) {
  const m = await benchMap('postgres', url, { smallItems, largeItems, smallRuns, largeRuns, concurrency: mapConcurrency, durationMs });
  const side = (s: typeof m.small) =>
    `${fmt(s.items)} items: ${fmt(s.msPerItem, 3)} ms/item, ${fmt(s.itemsPerSec)} items/s end to end (${s.runs} run${s.runs === 1 ? '' : 's'})`;
  console.log(
    `  postgres  ${side(m.small)}; ${side(m.large)} → ratio ${fmt(m.ratio, 2)}; raw UPDATE commits at c=${mapConcurrency}: ${fmt(m.rawCommitsPerSec ?? 0)}/s`,
  );
  console.log(
    `            inside the ${fmt(largeItems)}-item map: ${fmt(m.large.firstTenthMsPerItem, 3)} ms/item over its first tenth, ${fmt(m.large.lastTenthMsPerItem, 3)} ms/item over its last tenth; last item starts → next node starts: ${fmt(m.large.finishMs, 1)} ms (${fmt(m.small.finishMs, 1)} ms in the ${smallItems}-item map)`,
  );
  ratios.push(`  ${fmt(largeItems)} / ${smallItems} items ms per item, postgres ≤ 1.5  → ${fmt(m.ratio, 2)}  ${verdict(m.ratio <= 1.5)}`);
}

if (only.has('split'))
  console.log(
    `\nsplit/join: fan (split: 'all') → 10 branches → join (join: 'all'), 12 nodes, vs a 10-node chain (ms per run: startRun → runToCompletion; the two interleaved; median of runs)`,
  );
for (const store of only.has('split') ? stores : []) {
  if (store === 'postgres' && !pgUp) {
    console.log(`  ${store.padEnd(9)} ${pgSkipped}`);
    continue;
  }
  const r = await benchSplitJoin(store, url, { durationMs });
  console.log(
    `  ${store.padEnd(9)} split/join ${fmt(r.split.msPerRun, 2)} ms/run (${fmt(r.split.msPerNode, 3)} ms/node), chain ${fmt(r.chain.msPerRun, 2)} ms/run (${fmt(r.chain.msPerNode, 3)} ms/node) → split/join ÷ chain per run ${fmt(r.ratio, 2)}, per node ${fmt(r.split.msPerNode / r.chain.msPerNode, 2)} (${r.runs} runs of each)`,
  );
}

if (only.has('health')) {
  console.log('\nhealth under load: the runtime on PGlite (file-backed, a worker), /health asked every 25 ms from another thread');
  const h = await benchHealthUnderLoad(quick ? 300 : 1000, 200);
  console.log(`  ${formatHealthUnderLoad(h)}`);
  ratios.push(`  /health max during 200 concurrent heavy lists, pglite < 100 ms  → ${fmt(h.loaded.max)} ms  ${verdict(h.loaded.max < 100)}`);
  const t = await benchHealthUnderTimelines(quick ? 2000 : 40_000, 6);
  console.log(`  ${formatHealthUnderLoad(t)}`);
  ratios.push(`  /health max during six readers of a long timeline, pglite < 100 ms  → ${fmt(t.loaded.max)} ms  ${verdict(t.loaded.max < 100)}`);
}

if (ratios.length > 0) {
  console.log('\nratios (target → result)');
  for (const line of ratios) console.log(line);
}
console.log(
  `\n(${fmt((Date.now() - startedAt) / 1000, 1)} s; load average at the end: ${loadavg()[0]!.toFixed(1)} on ${cpus().length} CPU(s); every figure shares the CPUs with Postgres and whatever else runs)`,
);
