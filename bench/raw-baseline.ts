/**
 * Raw-driver baselines for the engine benchmarks: how many single-row UPDATE commits per second
 * the database itself gives, with no engine in the way. Engine steps/s are read against these.
 *
 * Workload: N workers, each on its own connection and its own row, committing
 * `UPDATE t SET v = v + 1 WHERE id = $1` in autocommit as fast as it can. (An engine step is one
 * such commit, plus a few event rows in the same statement.)
 */
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

export interface BaselineResult {
  driver: 'pg' | 'pglite';
  concurrency: number;
  commits: number;
  durationMs: number;
  commitsPerSec: number;
}

export interface PgBaselineOptions {
  /** Default: DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres. */
  connectionString?: string;
  /** Connections, each committing on its own row (default 8). */
  concurrency?: number;
  /** Measured time after a short warm-up (default 3000 ms). */
  durationMs?: number;
}

async function runFor(durationMs: number, workers: Array<() => Promise<void>>): Promise<{ commits: number; elapsed: number }> {
  let commits = 0;
  const started = performance.now();
  // A deadline, not a timer: PGlite answers without ever yielding to the event loop, so a timer
  // callback would never get to run.
  const deadline = started + durationMs;
  await Promise.all(
    workers.map(async (commitOnce) => {
      while (performance.now() < deadline) {
        await commitOnce();
        commits++;
      }
    }),
  );
  return { commits, elapsed: performance.now() - started };
}

/** Single-row UPDATE commits/s through `pg` at concurrency N, in a scratch schema dropped afterwards. */
export async function measurePgUpdateBaseline(options: PgBaselineOptions = {}): Promise<BaselineResult> {
  const connectionString = options.connectionString ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const concurrency = options.concurrency ?? 8;
  const durationMs = options.durationMs ?? 3000;
  const schema = `flow_bench_${randomBytes(4).toString('hex')}`;
  const clients = Array.from({ length: concurrency }, () => new pg.Client({ connectionString }));
  await Promise.all(clients.map((c) => c.connect()));
  const admin = clients[0]!;
  try {
    await admin.query(`CREATE SCHEMA "${schema}"`);
    await admin.query(`CREATE TABLE "${schema}".t (id int PRIMARY KEY, v bigint NOT NULL DEFAULT 0)`);
    await admin.query(`INSERT INTO "${schema}".t (id) SELECT generate_series(1, $1::int)`, [concurrency]);
    const sql = `UPDATE "${schema}".t SET v = v + 1 WHERE id = $1`;
    const workers = clients.map((c, i) => async () => void (await c.query(sql, [i + 1])));
    await runFor(Math.min(500, durationMs), workers); // warm-up: connections, plans, caches
    const { commits, elapsed } = await runFor(durationMs, workers);
    return { driver: 'pg', concurrency, commits, durationMs: elapsed, commitsPerSec: (commits * 1000) / elapsed };
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
}

export interface PGliteBaselineOptions {
  /** Concurrent loops (PGlite runs them one statement at a time: one session). Default 8. */
  concurrency?: number;
  durationMs?: number;
  /** File-backed database directory (default: in memory). */
  dataDir?: string;
}

/** The same workload on embedded PGlite. */
export async function measurePGliteUpdateBaseline(options: PGliteBaselineOptions = {}): Promise<BaselineResult> {
  const concurrency = options.concurrency ?? 8;
  const durationMs = options.durationMs ?? 3000;
  const db = await PGlite.create(options.dataDir ? { dataDir: options.dataDir } : undefined);
  try {
    await db.exec(`CREATE TABLE bench_t (id int PRIMARY KEY, v bigint NOT NULL DEFAULT 0)`);
    await db.query(`INSERT INTO bench_t (id) SELECT generate_series(1, $1::int)`, [concurrency]);
    const sql = `UPDATE bench_t SET v = v + 1 WHERE id = $1`;
    const workers = Array.from({ length: concurrency }, (_, i) => async () => void (await db.query(sql, [i + 1])));
    await runFor(Math.min(500, durationMs), workers);
    const { commits, elapsed } = await runFor(durationMs, workers);
    return { driver: 'pglite', concurrency, commits, durationMs: elapsed, commitsPerSec: (commits * 1000) / elapsed };
  } finally {
    await db.close();
  }
}

// `tsx bench/raw-baseline.ts [concurrency...]` prints both baselines.
if (import.meta.url === `file://${process.argv[1]}`) {
  const levels = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  for (const concurrency of levels.length > 0 ? levels : [1, 8]) {
    for (const measure of [measurePgUpdateBaseline, measurePGliteUpdateBaseline]) {
      const r = await measure({ concurrency });
      console.log(
        `${r.driver.padEnd(6)} N=${String(r.concurrency).padStart(3)}  ${r.commitsPerSec.toFixed(0).padStart(7)} commits/s  (${r.commits} in ${r.durationMs.toFixed(0)} ms)`,
      );
    }
  }
}
