/**
 * `/health` latency while the API serves heavy list requests on the embedded store (PGlite).
 *
 * The runtime (`runFlowRuntime`, as `npm start` runs it: file-backed PGlite, a worker, the API)
 * gets `runs` finished runs, each with a little state and two node outputs. Then a client in a
 * worker thread (its own event loop, so that its timers measure the server and not itself) asks
 * `/health` every 25 ms, first idle, then while `concurrent` requests `GET /v1/runs?limit=1000`
 * are fired at once, `waves` times. Reported: /health latency p50 and max, idle and under load,
 * the answers the list requests got (200, or 503 BUSY when the server sheds them), how long a
 * wave took, and the server's longest event-loop stall meanwhile.
 *
 * Run alone: `npx tsx --conditions=hazel-source bench/health-under-load.ts`
 * Env: HEALTH_RUNS (1000), HEALTH_CONCURRENT (200), HEALTH_WAVES (1).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { flow } from '../src/index.js';
import { runFlowRuntime } from '../src/runtime/index.js';

export interface HealthUnderLoadResult {
  runs: number;
  concurrent: number;
  idle: { p50: number; max: number; count: number };
  loaded: { p50: number; max: number; count: number };
  /** Answers of the list requests by HTTP status. */
  statuses: Record<string, number>;
  /** Milliseconds from the first list request sent to the last answer received (the longest wave). */
  waveMs: number;
  /** The server's longest event-loop stall while the client ran (ms). */
  loopDelayMaxMs: number;
}

function benchFlow() {
  const text = 'x'.repeat(200);
  return flow('health-bench', '1')
    .entry('a')
    .node('a', async (ctx) => ({ status: 'ok', patch: { a: { text, n: ctx.meta.attempt, list: [1, 2, 3, 4, 5] } }, output: { text, at: 'a' } }))
    .node('b', async () => ({ status: 'ok', patch: { b: { text } }, output: { text, at: 'b', more: { deep: [text, text] } } }))
    .edge('a', 'b')
    .build();
}

/** The client: plain JavaScript, evaluated in a worker thread. */
const CLIENT = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { url, concurrent, waves } = workerData;
const healthAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const listAgent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
function get(path, agent) {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = http.get(url + path, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - started }));
    });
    req.on('error', () => resolve({ status: 'error', ms: performance.now() - started }));
    req.setTimeout(120000, () => req.destroy());
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function probe(until, out) {
  while (!until()) {
    const r = await get('/health', healthAgent);
    out.push(r.ms);
    await sleep(25);
  }
}
(async () => {
  const idle = [];
  const idleEnd = Date.now() + 1000;
  await probe(() => Date.now() > idleEnd, idle);
  const loaded = [];
  let done = false;
  const prober = probe(() => done, loaded);
  const statuses = {};
  let waveMs = 0;
  for (let w = 0; w < waves; w++) {
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: concurrent }, () => get('/v1/runs?limit=1000', listAgent)));
    waveMs = Math.max(waveMs, performance.now() - started);
    for (const a of answers) statuses[a.status] = (statuses[a.status] || 0) + 1;
  }
  done = true;
  await prober;
  parentPort.postMessage({ idle, loaded, statuses, waveMs });
})();
`;

const percentile = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};
const summary = (xs: number[]) => ({ p50: percentile(xs, 50), max: Math.max(...xs), count: xs.length });

export async function benchHealthUnderLoad(runs = 1000, concurrent = 200, waves = 1): Promise<HealthUnderLoadResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flow-health-bench-'));
  const def = benchFlow();
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const runtime = await runFlowRuntime({ flows: [def], port: 0, host: '127.0.0.1', dataDir, dashboard: false, worker: { logger: quiet } });
  try {
    const { engine } = runtime;
    for (let i = 0; i < runs; i++) {
      const { runId } = await engine.startRun({ flowId: def.flowId, version: def.version, input: { i, note: 'seeded for the /health bench' } });
      await engine.runToCompletion(runId);
    }
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    const result = await new Promise<{ idle: number[]; loaded: number[]; statuses: Record<string, number>; waveMs: number }>((resolve, reject) => {
      const worker = new Worker(CLIENT, { eval: true, workerData: { url: runtime.url, concurrent, waves } });
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    loopDelay.disable();
    return {
      runs,
      concurrent,
      idle: summary(result.idle),
      loaded: summary(result.loaded),
      statuses: result.statuses,
      waveMs: result.waveMs,
      loopDelayMaxMs: loopDelay.max / 1e6,
    };
  } finally {
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export function formatHealthUnderLoad(r: HealthUnderLoadResult): string {
  const ms = (n: number) => `${n.toFixed(n < 10 ? 1 : 0)} ms`;
  const statuses = Object.entries(r.statuses)
    .map(([status, n]) => `${n}× ${status}`)
    .join(', ');
  return (
    `/health on PGlite, ${r.runs} runs stored, ${r.concurrent} concurrent GET /v1/runs?limit=1000: ` +
    `p50 ${ms(r.loaded.p50)}, max ${ms(r.loaded.max)} (${r.loaded.count} probes; idle p50 ${ms(r.idle.p50)}); ` +
    `list answers ${statuses}, the wave took ${ms(r.waveMs)}, longest event-loop stall ${ms(r.loopDelayMaxMs)} (target < 100 ms: ${r.loaded.max < 100 ? 'met' : 'NOT met'})`
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
  const result = await benchHealthUnderLoad(num('HEALTH_RUNS', 1000), num('HEALTH_CONCURRENT', 200), num('HEALTH_WAVES', 1));
  console.log(formatHealthUnderLoad(result));
}
