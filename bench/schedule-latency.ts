/**
 * How late a schedule tick's first step begins after the tick's time, on Postgres: the first
 * node's handler starts (this process's clock) minus `scheduledAt`. Two scenarios, one worker
 * process (concurrency 64, default poll of 1 s):
 *   idle — one schedule every second, an otherwise idle worker, TICKS ticks;
 *   burst — 10,000 schedules (BURST) due in the same minute (one cron minute, UTC): the tick of
 *           each fires, and each run's first step begins.
 * Run alone: `npx tsx --conditions=hazel-source bench/schedule-latency.ts`. Env: BENCH_DB_URL,
 * TICKS (default 60), BURST (default 10000), CONCURRENCY (default 64).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { flow, type FlowEngine } from '../src/index.js';
import { engineOn, quietLogger, stats } from './worker-scenarios.js';

const URL_ = process.env.BENCH_DB_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TICKS = Number(process.env.TICKS ?? 60);
const BURST = Number(process.env.BURST ?? 10_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 64);

/** When each run's first step began (ms since the epoch), by run id. */
const began = new Map<string, number>();
const tick = flow('bench-tick', '1')
  .entry('a')
  .node('a', (ctx) => (began.set(ctx.runId, Date.now()), { status: 'ok' }))
  .build();

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

/** Waits (without touching the database) until `expected` more first steps began, then reads their runs' ticks once. */
async function lateness(engine: FlowEngine, scheduleIds: Set<string>, expected: number, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  const before = began.size;
  while (began.size - before < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const late: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await engine.listRuns({ limit: 1000, cursor, summary: true });
    for (const r of page.runs) {
      const at = began.get(r.runId);
      if (r.scheduleId !== null && scheduleIds.has(r.scheduleId) && at !== undefined) late.push(at - Date.parse(r.scheduledAt!));
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return late;
}

async function main(): Promise<void> {
  const admin = new pg.Client({ connectionString: URL_ });
  await admin.connect();
  const schema = `bench_sched_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE SCHEMA "${schema}"`);
  const engine = engineOn(URL_, schema, 16);
  try {
    await engine.registerDefinition(tick);
    const worker = engine.startWorker({ concurrency: CONCURRENCY, logger: quietLogger });
    await worker.started;

    // Idle: one tick a second.
    await engine.schedules.set({ scheduleId: 'idle', flowId: 'bench-tick', every: '1s', overlap: 'allow', catchup: 'all' });
    const idle = (await lateness(engine, new Set(['idle']), TICKS + 2, (TICKS + 30) * 1000)).slice(2); // the first two may predate a warm worker
    await engine.schedules.pause('idle');
    const si = stats(idle);
    console.log(`idle worker, every 1s: ${idle.length} ticks, late p50 ${fmt(si.p50)}, p99 ${fmt(si.p99)}, max ${fmt(si.max)}`);

    // Burst: BURST schedules on one minute.
    const target = new Date(Math.ceil((Date.now() + 30_000 + BURST * 3) / 60_000) * 60_000);
    const cron = `${target.getUTCMinutes()} ${target.getUTCHours()} * * *`;
    const ids = new Set<string>();
    const t0 = Date.now();
    for (let i = 0; i < BURST; i += 16) {
      await Promise.all(
        Array.from({ length: Math.min(16, BURST - i) }, (_, k) => {
          const scheduleId = `burst-${i + k}`;
          ids.add(scheduleId);
          return engine.schedules.set({ scheduleId, flowId: 'bench-tick', cron, overlap: 'allow' });
        }),
      );
    }
    console.log(`${BURST} schedules set in ${((Date.now() - t0) / 1000).toFixed(1)} s, all due at ${target.toISOString()} (cron ${cron} UTC)`);
    const burst = await lateness(engine, ids, BURST, target.getTime() - Date.now() + 600_000);
    const sb = stats(burst);
    console.log(`${BURST} schedules due in the same minute: ${burst.length} first steps, late p50 ${fmt(sb.p50)}, p99 ${fmt(sb.p99)}, last ${fmt(sb.max)}`);
    await worker.stop();
  } finally {
    await engine.close();
    await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
    await admin.end();
  }
}

await main();
