/**
 * What a transactional node costs (docs/transactions.md): a worker drains N runs of a one-node
 * flow on Postgres (pg store), three ways, in the same process and session:
 *   plain          the step writes nothing (the engine's own cost)
 *   plain + write  the step INSERTs a row through a pool of its own, autocommitted (no exactly-once)
 *   transactional  `transaction: true`: the INSERT through `ctx.tx`, committed with the step
 * at worker concurrency 8 and 32, reporting runs/s, the ratio to `plain + write`, and the most
 * connections the worker's store held at once (pg_stat_activity, sampled every 10 ms).
 * Run: `npx tsx --conditions=hazel-source bench/transactions.ts [runs, default 2000]`.
 * Env: BENCH_DB_URL (default TEST_DATABASE_URL).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { FlowEngine, createPostgresStorage, flow, type FlowDefinition, type SqlTransaction } from '../src/index.js';
import { inLanes, quietLogger } from './worker-scenarios.js';

const URL_ = process.env.BENCH_DB_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUNS = Number(process.argv[2] ?? 2000);

type Variant = 'plain' | 'plain + write' | 'transactional';

function flowOf(variant: Variant, table: string, side: pg.Pool): FlowDefinition {
  const insert = `INSERT INTO ${table} (run_id) VALUES ($1)`;
  return flow('bench-tx', '1')
    .entry('a')
    .node(
      'a',
      async (ctx) => {
        if (variant === 'plain + write') await side.query(insert, [ctx.runId]);
        if (variant === 'transactional') await (ctx.tx as SqlTransaction).query(insert, [ctx.runId]);
        return { status: 'ok' };
      },
      variant === 'transactional' ? { transaction: true } : {},
    )
    .build();
}

const withApp = (url: string, app: string) => {
  const u = new URL(url);
  u.searchParams.set('application_name', app);
  return u.toString();
};

async function drain(admin: pg.Pool, variant: Variant, concurrency: number, poolSize: number) {
  const schema = `bench_tx_${randomBytes(4).toString('hex')}`;
  const app = `${schema}-worker`;
  const client = new FlowEngine({ storage: createPostgresStorage({ connectionString: URL_, schema, poolSize: 4, listen: false }) });
  const side = new pg.Pool({ connectionString: URL_, max: concurrency });
  const table = `"${schema}".orders`;
  try {
    await client.registerDefinition(flowOf(variant, table, side));
    await admin.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, run_id text NOT NULL)`);
    await inLanes(RUNS, 8, (i) => client.startRun({ flowId: 'bench-tx', version: '1', input: { i } }));
    const worker = new FlowEngine({ storage: createPostgresStorage({ connectionString: withApp(URL_, app), schema, poolSize, listen: false }) });
    await worker.registerDefinition(flowOf(variant, table, side));
    let done = 0;
    const all = new Promise<void>((resolve) => worker.on('run:completed', () => ++done === RUNS && resolve()));
    let held = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [row] = (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1`, [app])).rows;
        held = Math.max(held, row!.n);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const t0 = performance.now();
    worker.startWorker({ concurrency, pollIntervalMs: 50, logger: quietLogger });
    await all;
    const seconds = (performance.now() - t0) / 1000;
    sampling = false;
    await sampler;
    await worker.close();
    const [{ n }] = (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows as [{ n: number }];
    if (variant !== 'plain' && n !== RUNS) throw new Error(`${variant}: ${n} rows for ${RUNS} runs`);
    return { runsPerSec: RUNS / seconds, held };
  } finally {
    await client.close();
    await side.end();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
}

const admin = new pg.Pool({ connectionString: URL_, max: 2 });
console.log(`${RUNS} runs of a one-node flow, one worker, pg store; connections = most held at once by the worker's store (its pool)`);
for (const concurrency of [8, 32]) {
  const poolSize = concurrency + 4;
  const rows: Array<[Variant, { runsPerSec: number; held: number }]> = [];
  for (const variant of ['plain', 'plain + write', 'transactional'] as Variant[]) rows.push([variant, await drain(admin, variant, concurrency, poolSize)]);
  const base = rows[1]![1].runsPerSec;
  for (const [variant, r] of rows) {
    console.log(
      `concurrency ${String(concurrency).padStart(2)}, poolSize ${poolSize}: ${variant.padEnd(14)} ${r.runsPerSec.toFixed(0).padStart(6)} runs/s  ${(r.runsPerSec / base).toFixed(2)}× plain + write  connections ${r.held}`,
    );
  }
}
await admin.end();
