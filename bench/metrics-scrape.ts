/**
 * What a Prometheus scrape of `engine.metrics()` costs on Postgres as the runs table grows: the
 * scrape with its cache off (`metricsCacheMs: 0`: the two grouped reads, runs per status and due
 * runs, every time) next to a page of `listRuns` (50 summaries), in the same script, as a ratio.
 * Runs are inserted by SQL (`generate_series`): 20 flows, 90 % COMPLETED, 5 % RUNNING (due), 5 % WAITING.
 * Run alone: `npx tsx --conditions=hazel-source bench/metrics-scrape.ts [runs, default 100000]`.
 * Env: BENCH_DB_URL (default TEST_DATABASE_URL).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { FlowEngine } from '../src/index.js';
import { createPostgresStorage } from '../src/storage/postgres.js';

const URL_ = process.env.BENCH_DB_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUNS = Number(process.argv[2] ?? 100_000);
const SAMPLES = 20;

async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[Math.floor(SAMPLES / 2)]!;
}

const schema = `flow_bench_${randomBytes(4).toString('hex')}`;
const engine = new FlowEngine({ storage: createPostgresStorage({ connectionString: URL_, schema, poolSize: 4 }), metricsCacheMs: 0 });
const admin = new pg.Client({ connectionString: URL_ });
await admin.connect();
try {
  await engine.ready();
  await admin.query(
    `INSERT INTO "${schema}".flow_runs (run_id, flow_id, flow_version, status, current_node_id, input_json, state_json, branches_json, updated_at)
     SELECT 'r' || g, 'flow-' || (g % 20), '1',
            (CASE WHEN g % 20 = 0 THEN 'RUNNING' WHEN g % 20 = 1 THEN 'WAITING' ELSE 'COMPLETED' END)::"${schema}".flow_run_status,
            'a', 'null', '{}', '[]', now() - (g || ' ms')::interval
     FROM generate_series(1, $1::int) g`,
    [RUNS],
  );
  await admin.query(`ANALYZE "${schema}".flow_runs`);
  const scrape = await timeMs(() => engine.metrics());
  const page = await timeMs(() => engine.listRuns({ limit: 50, summary: true }));
  console.log(
    `${RUNS} runs: metrics() ${scrape.toFixed(1)} ms (median of ${SAMPLES}), listRuns(50) ${page.toFixed(1)} ms, ratio ${(scrape / page).toFixed(1)}`,
  );
} finally {
  await engine.close();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
}
