/**
 * Worker benchmark on Postgres, one script, one run: `npx tsx bench/worker.ts`.
 *
 *   1. raw baseline   single-row UPDATE commits through `pg`, concurrency 8 (bench/raw-baseline.ts)
 *   2. worker drain   a worker (concurrency 8) drives N pre-created 3-node runs to the end
 *   3. worker e2e     8 concurrent clients start N runs while the worker drives them
 *   4. DBOS           8 concurrent callers run N equivalent 3-step DBOS workflows
 *   5. resume         resume-to-next-node latency with an idle worker (poll interval 60 s)
 *   6. events         N runs parked on an event keyed by their run id, woken by N sendEvent calls
 *                     from a client (8 lanes) while the worker drives: event → next node latency
 *   7. children       one parent whose forEach (concurrency 20) starts N child runs of the 3-node flow,
 *                     against N plain runs of that flow one after the other (6 and 7: bench/worker-waits.ts)
 *   8. scale-out      N pre-created runs drained by 1, then 4 worker processes (worker concurrency as above)
 *   9. stored         the drain on an empty schema, on one holding 1M generated finished runs, and on an empty one again (bench/stored-runs.ts)
 *
 * Targets (reported, not asserted): worker ≥ 5× DBOS workflows/s; worker steps/s ≥ 1.0 × raw
 * commits/s; resume p50 ≤ 5 ms and p99 ≤ 25 ms; 4 processes ≥ 1.5× one; with 1M finished runs
 * stored ≥ 0.8× the empty schema's throughput. Events and children have
 * no target: their figures are reported for the record.
 * Env: BENCH_DB_URL (default postgres://postgres@127.0.0.1:5432/test), BENCH_RUNS (default 2000),
 * BENCH_RESUME_SAMPLES (default 300), BENCH_EVENTS (default 1000), BENCH_CHILDREN (default 100),
 * BENCH_EVENT_LANES (concurrent sendEvent callers, default 8), BENCH_CHILD_FAN_OUT (the parent's
 * forEach concurrency, default 20), BENCH_WORKER_CONCURRENCY (runs the worker advances at once, default 64),
 * BENCH_STORED_RUNS (finished runs generated for `stored`, default 1,000,000; quick 100,000),
 * BENCH_ONLY (a comma list of raw,drain,e2e,dbos,resume,events,children,scale,stored; default all).
 * `npm run bench:worker -- --quick` (or BENCH_QUICK=1): a smoke run, 200 runs, 50 resume samples,
 * 200 events and 100 children, too short to quote.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { measurePgUpdateBaseline } from './raw-baseline.js';
import { dbosWorkflows } from './worker-dbos.js';
import { storedRunsThroughput } from './stored-runs.js';
import {
  CONCURRENCY,
  engineOn,
  inLanes,
  resumeLatency,
  threeNodeFlow,
  WORKER_CONCURRENCY,
  workerDrain,
  workerEndToEnd,
  type ThroughputResult,
} from './worker-scenarios.js';
import { childFanOut, eventLatency } from './worker-waits.js';

const URL_ = process.env.BENCH_DB_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const QUICK = process.argv.includes('--quick') || /^(1|true|yes)$/i.test(process.env.BENCH_QUICK ?? '');
const RUNS = Number(process.env.BENCH_RUNS ?? (QUICK ? 200 : 2000));
const RESUME_SAMPLES = Number(process.env.BENCH_RESUME_SAMPLES ?? (QUICK ? 50 : 300));
const EVENTS = Number(process.env.BENCH_EVENTS ?? (QUICK ? 200 : 1000));
const EVENT_LANES = Number(process.env.BENCH_EVENT_LANES ?? CONCURRENCY);
const CHILDREN = Number(process.env.BENCH_CHILDREN ?? 100);
const CHILD_FAN_OUT = Number(process.env.BENCH_CHILD_FAN_OUT ?? 20);
const STORED_RUNS = Number(process.env.BENCH_STORED_RUNS ?? (QUICK ? 100_000 : 1_000_000));
const ONLY = new Set((process.env.BENCH_ONLY ?? 'raw,drain,e2e,dbos,resume,events,children,scale,stored').split(',').map((s) => s.trim()));
const admin = new pg.Pool({ connectionString: URL_, max: 2 });
const schemas: string[] = [];

function freshSchema(label: string): string {
  const schema = `bench_worker_${label}_${randomBytes(4).toString('hex')}`;
  schemas.push(schema);
  return schema;
}

/** N pre-created runs drained by `processes` worker processes, started at the same instant. */
async function scaleOut(processes: number, runs: number): Promise<ThroughputResult> {
  const schema = freshSchema(`p${processes}`);
  const client = engineOn(URL_, schema, CONCURRENCY);
  await client.registerDefinition(threeNodeFlow);
  await inLanes(runs, CONCURRENCY, (i) => client.startRun({ flowId: 'bench-3', version: '1', input: { i } }));
  const script = fileURLToPath(new URL('./worker-process.ts', import.meta.url));
  const children = Array.from({ length: processes }, () =>
    spawn(process.execPath, ['--import', 'tsx', script], {
      env: { ...process.env, BENCH_DB_URL: URL_, BENCH_SCHEMA: schema },
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  await Promise.all(
    children.map((c) => new Promise<void>((resolve) => c.stdout!.setEncoding('utf8').on('data', (d: string) => d.includes('READY') && resolve()))),
  );
  const t0 = performance.now();
  for (const c of children) c.stdin!.write('GO\n');
  const anyLeft = `SELECT EXISTS (SELECT 1 FROM "${schema}".flow_runs WHERE status = 'RUNNING') AS left`;
  while ((await admin.query<{ left: boolean }>(anyLeft)).rows[0]!.left) await new Promise((r) => setTimeout(r, 5));
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(children.map((c) => new Promise((resolve) => (c.once('exit', resolve), c.kill('SIGTERM')))));
  await client.close();
  return { runs, seconds, runsPerSec: runs / seconds, stepsPerSec: (3 * runs) / seconds };
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');

async function main(): Promise<void> {
  const [{ server_version: version }] = (await admin.query<{ server_version: string }>('SHOW server_version')).rows;
  console.log(
    `worker bench${QUICK ? ' (quick: smoke figures, too short to quote)' : ''}: Postgres ${version} at ${new URL(URL_).host}, ${RUNS} runs of a 3-node flow, ${CONCURRENCY} clients, worker concurrency ${WORKER_CONCURRENCY}, Node ${process.version}, ${cpus().length} CPU(s), load average ${loadavg()[0]!.toFixed(1)}\n`,
  );
  const ratios: string[] = [];

  // The storage benchmark's baseline (bench/raw-baseline.ts), so both benches read against the same floor.
  const raw =
    ONLY.has('raw') || ONLY.has('drain')
      ? await measurePgUpdateBaseline({ connectionString: URL_, concurrency: CONCURRENCY, durationMs: QUICK ? 1000 : 3000 })
      : null;
  if (raw)
    console.log(`raw baseline     ${fmt(raw.commitsPerSec)} commits/s (single-row UPDATE, autocommit, ${CONCURRENCY} connections, bench/raw-baseline.ts)`);

  const drain = ONLY.has('drain') ? await workerDrain(URL_, freshSchema('drain'), RUNS) : null;
  if (drain)
    console.log(`worker drain     ${fmt(drain.runsPerSec)} runs/s, ${fmt(drain.stepsPerSec)} steps/s (${RUNS} pre-created runs in ${fmt(drain.seconds, 2)} s)`);
  const e2e = ONLY.has('e2e') ? await workerEndToEnd(URL_, freshSchema('e2e'), RUNS) : null;
  if (e2e) console.log(`worker e2e       ${fmt(e2e.runsPerSec)} runs/s, ${fmt(e2e.stepsPerSec)} steps/s (8 clients start runs while the worker drives them)`);

  const dbos = ONLY.has('dbos') ? await dbosWorkflows(URL_, RUNS) : null;
  if (dbos && 'error' in dbos) console.log(`DBOS             could not run: ${dbos.error}`);
  else if (dbos)
    console.log(`DBOS ${dbos.version.padEnd(11)} ${fmt(dbos.runsPerSec)} workflows/s, ${fmt(dbos.stepsPerSec)} steps/s (8 callers, direct invocation)`);
  if (dbos && e2e && drain) {
    if ('error' in dbos) ratios.push(`  worker / DBOS workflows/s       ≥ 5     → n/a (DBOS did not run)`);
    else {
      const dbosRatio = e2e.runsPerSec / dbos.runsPerSec;
      const dbosDrainRatio = drain.runsPerSec / dbos.runsPerSec;
      ratios.push(`  worker / DBOS workflows/s       ≥ 5     → ${fmt(dbosRatio, 2)}× end-to-end, ${fmt(dbosDrainRatio, 2)}× drain  ${verdict(dbosRatio >= 5)}`);
    }
  }
  if (drain && raw) {
    const stepRatio = drain.stepsPerSec / raw.commitsPerSec;
    ratios.push(`  worker steps/s / raw commits/s  ≥ 1.0   → ${fmt(stepRatio, 2)}  ${verdict(stepRatio >= 1.0)}`);
  }

  if (ONLY.has('resume')) {
    // A failure here is reported, not thrown, so that the scenarios after it still run.
    const latency = await resumeLatency(URL_, freshSchema('resume'), RESUME_SAMPLES).catch((err: Error) => err);
    if (latency instanceof Error) {
      console.log(`resume latency   could not run: ${latency.name}: ${latency.message}`);
      ratios.push(`  resume p50 / p99 (ms)           ≤ 5/25  → n/a (the scenario failed)`);
    } else {
      console.log(
        `resume latency   p50 ${fmt(latency.total.p50, 2)} ms, p99 ${fmt(latency.total.p99, 2)} ms  (resumeRun called → next node starts on the idle worker; ` +
          `of which wake-up + claim after resumeRun returned: p50 ${fmt(latency.wake.p50, 2)} ms, p99 ${fmt(latency.wake.p99, 2)} ms; ${latency.samples} samples; ` +
          `slowest of all, the 20 warm-up ones included: ${fmt(latency.slowestIncludingWarmUp, 2)} ms)`,
      );
      ratios.push(
        `  resume p50 / p99 (ms)           ≤ 5/25  → ${fmt(latency.total.p50, 2)} / ${fmt(latency.total.p99, 2)}  ${verdict(latency.total.p50 <= 5 && latency.total.p99 <= 25)}`,
      );
    }
  }

  if (ONLY.has('events')) {
    const events = await eventLatency(URL_, freshSchema('events'), EVENTS, EVENT_LANES).catch((err: Error) => err);
    if (events instanceof Error) {
      console.log(`event latency    could not run: ${events.name}: ${events.message}`);
      ratios.push(`  event → next node p50 / p99 (ms)        → n/a (the scenario failed)`);
    } else {
      console.log(
        `event latency    p50 ${fmt(events.total.p50, 2)} ms, p99 ${fmt(events.total.p99, 2)} ms  (sendEvent called → next node starts; ${fmt(events.events)} runs parked on their own key, ` +
          `${EVENT_LANES} sending lane${EVENT_LANES === 1 ? '' : 's'}; sendEvent itself: p50 ${fmt(events.send.p50, 2)} ms, p99 ${fmt(events.send.p99, 2)} ms; after it returned: ` +
          `p50 ${fmt(events.wake.p50, 2)} ms, p99 ${fmt(events.wake.p99, 2)} ms; slowest ${fmt(events.total.max, 2)} ms)`,
      );
      console.log(
        `event wake-ups   ${fmt(events.eventsPerSec)} events/s  (${fmt(events.events)} events sent → last woken run COMPLETED in ${fmt(events.seconds, 2)} s; parking the runs took ${fmt(events.parkSeconds, 2)} s)`,
      );
      ratios.push(
        `  event → next node p50 / p99 (ms)        → ${fmt(events.total.p50, 2)} / ${fmt(events.total.p99, 2)}, ${fmt(events.eventsPerSec)} events/s  (no target)`,
      );
    }
  }

  if (ONLY.has('children')) {
    const children = await childFanOut(URL_, freshSchema('children'), CHILDREN, CHILD_FAN_OUT).catch((err: Error) => err);
    if (children instanceof Error) {
      console.log(`child runs       could not run: ${children.name}: ${children.message}`);
      ratios.push(`  parent of children / sequential runs    → n/a (the scenario failed)`);
    } else {
      console.log(
        `child runs       ${fmt(children.childrenPerSec)} children/s  (one parent, forEach of ${children.children} child runs of the 3-node flow at concurrency ${CHILD_FAN_OUT}: start → parent COMPLETED in ${fmt(children.seconds, 2)} s)`,
      );
      console.log(
        `sequential runs  ${fmt(children.sequential.runsPerSec)} runs/s  (${children.children} plain runs of the same flow, each started and awaited before the next: ${fmt(children.sequential.seconds, 2)} s)`,
      );
      const speedup = children.sequential.seconds / children.seconds;
      ratios.push(
        `  parent of children / sequential runs    → ${fmt(speedup, 2)}× (${fmt(children.seconds, 2)} s against ${fmt(children.sequential.seconds, 2)} s; no target)`,
      );
    }
  }

  if (ONLY.has('scale')) {
    const one = await scaleOut(1, RUNS);
    console.log(`1 process        ${fmt(one.runsPerSec)} runs/s, ${fmt(one.stepsPerSec)} steps/s`);
    const four = await scaleOut(4, RUNS);
    console.log(`4 processes      ${fmt(four.runsPerSec)} runs/s, ${fmt(four.stepsPerSec)} steps/s`);
    const scaleRatio = four.runsPerSec / one.runsPerSec;
    ratios.push(`  4 processes / 1 process         ≥ 1.5   → ${fmt(scaleRatio, 2)}  ${verdict(scaleRatio >= 1.5)}`);
  }

  if (ONLY.has('stored')) {
    const stored = await storedRunsThroughput(URL_, freshSchema, STORED_RUNS, RUNS);
    console.log(
      `stored runs      drain ${fmt(stored.full.runsPerSec)} runs/s with ${fmt(stored.stored)} finished runs stored (generated in ${fmt(stored.fillSeconds, 0)} s), ` +
        `${fmt(stored.empty[0]!.runsPerSec)} and ${fmt(stored.empty[1]!.runsPerSec)} runs/s on an empty schema before and after`,
    );
    ratios.push(`  with ${fmt(stored.stored)} runs stored / empty  ≥ 0.8 → ${fmt(stored.ratio, 2)}  ${verdict(stored.ratio >= 0.8)}`);
  }

  console.log('\nratios (target → result)');
  for (const line of ratios) console.log(line);
  console.log(
    `\n(load average at the end: ${loadavg()[0]!.toFixed(1)} on ${cpus().length} CPU(s); every figure shares the CPUs with Postgres and whatever else runs)`,
  );
}

try {
  await main();
} finally {
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
  await admin.end();
}
