/**
 * The measurements of bench/worker.ts that run inside this process: the worker draining pre-created runs, the worker fed by concurrent starters, and
 * resume-to-next-node latency with an idle worker. Each engine gets a pool of its own, as a
 * separate process would, so wake-ups between them travel through Postgres (LISTEN/NOTIFY).
 */
import { performance } from 'node:perf_hooks';
import { FlowEngine, flow, type FlowDefinition } from '../src/index.js';
import { createPostgresStorage } from '../src/storage/postgres.js';

/** Concurrent clients (and callers of DBOS). */
export const CONCURRENCY = 8;
/**
 * Runs a worker advances at once. Runs in flight pin no connection (their locks share the store's
 * lock session, their commits are grouped), so a worker can hold many more than it has connections.
 */
export const WORKER_CONCURRENCY = Number(process.env.BENCH_WORKER_CONCURRENCY ?? 64);

/** a → b → c, each node trivial: what is measured is the engine, the worker and the database. */
export const threeNodeFlow: FlowDefinition = flow('bench-3', '1')
  .entry('a')
  .node('a', (ctx) => ({ status: 'ok', output: ctx.meta.attempt }))
  .node('b', () => ({ status: 'ok', patch: { b: true } }))
  .node('c', () => ({ status: 'ok', output: 'done' }))
  .edge('a', 'b')
  .edge('b', 'c')
  .build();

export function engineOn(url: string, schema: string, poolSize = CONCURRENCY + 4): FlowEngine {
  return new FlowEngine({ storage: createPostgresStorage({ connectionString: url, schema, poolSize }) });
}

export const quietLogger = { debug() {}, info() {}, warn: (m: string) => console.warn(m), error: (m: string, meta?: unknown) => console.error(m, meta) };

/** Runs `lanes` async loops over `total` items (item index passed), like `lanes` concurrent clients. */
export async function inLanes(total: number, lanes: number, body: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < total) await body(next++);
    }),
  );
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * `promise`, or a rejection naming `what` once it has taken `ms`. The workers of the latency
 * scenarios poll every 60 s, so a wait this long is a lost wake-up (or an answer the run never
 * got): it fails the scenario, named, instead of passing as one slow sample.
 */
export function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stall = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`stalled: ${what()} after ${ms / 1000} s (the worker polls only every 60 s: a wake-up or an answer was lost)`)),
      ms,
    );
  });
  return Promise.race([promise, stall]).finally(() => clearTimeout(timer));
}

export interface Stats {
  p50: number;
  p99: number;
  max: number;
}

export function stats(xs: number[]): Stats {
  const sorted = [...xs].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN };
}

/** Resolves when `engine` has seen `count` runs complete (its own commits only: the worker's engine). */
function completions(engine: FlowEngine, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const off = engine.on('run:completed', () => {
      if (++seen === count) {
        off();
        resolve();
      }
    });
  });
}

export interface ThroughputResult {
  runs: number;
  seconds: number;
  runsPerSec: number;
  stepsPerSec: number;
}

/** N runs created first; then a worker (`WORKER_CONCURRENCY`) drives them all to COMPLETED. */
export async function workerDrain(url: string, schema: string, runs: number): Promise<ThroughputResult> {
  const client = engineOn(url, schema, 4);
  const workerEngine = engineOn(url, schema);
  await client.registerDefinition(threeNodeFlow);
  await workerEngine.registerDefinition(threeNodeFlow);
  await inLanes(runs, CONCURRENCY, (i) => client.startRun({ flowId: 'bench-3', version: '1', input: { i } }));
  const done = completions(workerEngine, runs);
  const t0 = performance.now();
  workerEngine.startWorker({ concurrency: WORKER_CONCURRENCY, logger: quietLogger });
  await done;
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all([client.close(), workerEngine.close()]);
  return { runs, seconds, runsPerSec: runs / seconds, stepsPerSec: (3 * runs) / seconds };
}

/** A worker (`WORKER_CONCURRENCY`) running while 8 concurrent clients start N runs: start to last completion. */
export async function workerEndToEnd(url: string, schema: string, runs: number): Promise<ThroughputResult> {
  const client = engineOn(url, schema, CONCURRENCY);
  const workerEngine = engineOn(url, schema);
  await client.registerDefinition(threeNodeFlow);
  await workerEngine.registerDefinition(threeNodeFlow);
  const worker = workerEngine.startWorker({ concurrency: WORKER_CONCURRENCY, logger: quietLogger });
  await worker.started;
  const done = completions(workerEngine, runs);
  const t0 = performance.now();
  await inLanes(runs, CONCURRENCY, (i) => client.startRun({ flowId: 'bench-3', version: '1', input: { i } }));
  await done;
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all([client.close(), workerEngine.close()]);
  return { runs, seconds, runsPerSec: runs / seconds, stepsPerSec: (3 * runs) / seconds };
}

export interface LatencyResult {
  samples: number;
  /** `resumeRun` called → the next node's handler starts (the whole user-visible delay). */
  total: Stats;
  /** `resumeRun` returned → the idle worker (another pool) starts the next node: wake-up + claim. */
  wake: Stats;
  /** The slowest resume of all, the 20 warm-up ones included (a lost wake-up of the first run would show here). */
  slowestIncludingWarmUp: number;
}

/** No resume should take this long with an idle worker: one that does waits for the 60 s poll, a lost wake-up. */
const RESUME_STALL_MS = 10_000;

/** Resume-to-next-node latency with an idle worker whose poll interval is far too long to help. */
export async function resumeLatency(url: string, schema: string, samples: number): Promise<LatencyResult> {
  let nextNodeStarted: ((at: number) => void) | null = null;
  const approval = flow('bench-approval', '1')
    .entry('ask')
    .node('ask', (ctx) => (ctx.state._resumePayload === undefined ? { status: 'wait', reason: 'approval' } : { status: 'ok' }))
    .node('after', () => (nextNodeStarted?.(performance.now()), { status: 'ok' }))
    .edge('ask', 'after')
    .build();
  const client = engineOn(url, schema, 4);
  const workerEngine = engineOn(url, schema);
  await client.registerDefinition(approval);
  await workerEngine.registerDefinition(approval);
  const total: number[] = [];
  const wake: number[] = [];
  let slowest = 0;
  try {
    const worker = workerEngine.startWorker({ concurrency: CONCURRENCY, pollIntervalMs: 60_000, logger: quietLogger });
    await worker.started;
    for (let i = 0; i < samples + 20; i++) {
      const waiting = new Promise<void>((resolve) => {
        const off: () => void = workerEngine.on('run:waiting', () => (off(), resolve()));
      });
      const { runId } = await client.startRun({ flowId: 'bench-approval', version: '1', input: { i } });
      await within(waiting, RESUME_STALL_MS, () => `run ${i + 1} of ${samples + 20} did not park`);
      const started = new Promise<number>((resolve) => (nextNodeStarted = resolve));
      const t0 = performance.now();
      await client.resumeRun(runId, { ok: true }).catch((err: Error) => {
        throw Object.assign(err, { message: `${err.message} (resume ${i + 1} of ${samples + 20}, the first 20 warm-up)` });
      });
      const t1 = performance.now();
      const t2 = await within(started, RESUME_STALL_MS, () => `the next node of resume ${i + 1} of ${samples + 20} did not start`);
      slowest = Math.max(slowest, t2 - t0);
      if (i >= 20) {
        total.push(t2 - t0); // the first 20 warm up connections and the JIT
        wake.push(t2 - t1);
      }
    }
  } finally {
    await Promise.all([client.close(), workerEngine.close()]);
  }
  return { samples, total: stats(total), wake: stats(wake), slowestIncludingWarmUp: slowest };
}
