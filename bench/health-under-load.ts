/**
 * `/health` latency while the API serves heavy reads on the embedded store (PGlite).
 *
 * The runtime (`runFlowRuntime`, as `npm start` runs it: file-backed PGlite, a worker, the API)
 * is loaded one of two ways, while a client in a worker thread (its own event loop, so that its
 * timers measure the server and not itself) asks `/health` every 25 ms, first idle, then under load:
 * - `list`: `runs` finished runs are stored (each with a little state and two node outputs), then
 *   `concurrent` requests `GET /v1/runs?limit=1000` are fired at once, `waves` times;
 * - `timelines`: one run with a `forEach` map of `mapItems` items (about two timeline events an
 *   item), then `readers` clients read its whole timeline at once, each following `nextCursor`
 *   page by page (a server without paging answers the first request with every event).
 * Reported: /health latency p50, p99 and max, idle and under load, the answers the heavy requests
 * got (200, or 503 BUSY when the server sheds them), how long the load took, the server's longest
 * event-loop stall meanwhile, and (timelines) the bytes of the largest answer and of the run itself.
 *
 * Run alone: `npx tsx --conditions=hazel-source bench/health-under-load.ts`
 * Env: HEALTH_SCENARIOS (list,timelines), HEALTH_RUNS (1000), HEALTH_CONCURRENT (200), HEALTH_WAVES (1),
 *      HEALTH_MAP_ITEMS (40000), HEALTH_READERS (6).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { flow } from '../src/index.js';
import { runFlowRuntime, type FlowRuntime } from '../src/runtime/index.js';

interface Latencies {
  p50: number;
  p99: number;
  max: number;
  count: number;
}

export interface HealthUnderLoadResult {
  scenario: 'list' | 'timelines';
  /** What was stored and fired, in words. */
  load: string;
  idle: Latencies;
  loaded: Latencies;
  /** Answers of the heavy requests by HTTP status. */
  statuses: Record<string, number>;
  /** Milliseconds from the first heavy request sent to the last answer received (the longest wave). */
  waveMs: number;
  /** The server's longest event-loop stall while the client ran (ms). */
  loopDelayMaxMs: number;
  /** The largest heavy answer, in bytes. */
  largestAnswerBytes: number;
  /** timelines: the bytes of `GET /v1/runs/:runId` of the map's run. */
  runBytes?: number;
}

function listFlow() {
  const text = 'x'.repeat(200);
  return flow('health-bench', '1')
    .entry('a')
    .node('a', async (ctx) => ({ status: 'ok', patch: { a: { text, n: ctx.meta.attempt, list: [1, 2, 3, 4, 5] } }, output: { text, at: 'a' } }))
    .node('b', async () => ({ status: 'ok', patch: { b: { text } }, output: { text, at: 'b', more: { deep: [text, text] } } }))
    .edge('a', 'b')
    .build();
}

function mapFlow() {
  return (
    flow('health-bench-map', '1')
      .entry('items')
      // A small output an item: the node's output (every item's, in one array) stays under the 1 MiB value limit.
      .node('items', async (ctx) => ({ status: 'ok', output: Number(ctx.item) * 2 }), {
        forEach: (ctx) => Array.from({ length: (ctx.input as { items: number }).items }, (_, i) => i),
        concurrency: 50,
      })
      .node('done', async () => ({ status: 'ok', output: { ok: true } }))
      .edge('items', 'done')
      .build()
  );
}

/** The client: plain JavaScript, evaluated in a worker thread. */
const CLIENT = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { url, scenario, concurrent, waves, runId } = workerData;
const healthAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const heavyAgent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
function get(path, agent, keepBody) {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = http.get(url + path, { agent }, (res) => {
      const chunks = [];
      let bytes = 0;
      res.on('data', (c) => { bytes += c.length; if (keepBody) chunks.push(c); });
      res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - started, bytes, body: keepBody ? Buffer.concat(chunks).toString() : null }));
    });
    req.on('error', () => resolve({ status: 'error', ms: performance.now() - started, bytes: 0, body: null }));
    req.setTimeout(300000, () => req.destroy());
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function probe(until, out) {
  while (!until()) {
    const r = await get('/health', healthAgent, false);
    out.push(r.ms);
    await sleep(25);
  }
}
// A whole timeline, page by page when the server pages it; a 503 BUSY is retried after a second.
async function readTimeline(answers) {
  let after = 0;
  for (;;) {
    const r = await get('/v1/runs/' + runId + '/timeline?limit=1000&after=' + after, heavyAgent, true);
    answers.push(r);
    if (r.status === 503) { await sleep(1000); continue; }
    if (r.status !== 200) return;
    const page = JSON.parse(r.body);
    r.body = null;
    if (page.nextCursor === undefined || page.nextCursor === null) return;
    after = page.nextCursor;
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
  let largest = 0;
  for (let w = 0; w < waves; w++) {
    const started = performance.now();
    const answers = [];
    if (scenario === 'list') answers.push(...(await Promise.all(Array.from({ length: concurrent }, () => get('/v1/runs?limit=1000', heavyAgent, false)))));
    else await Promise.all(Array.from({ length: concurrent }, () => readTimeline(answers)));
    waveMs = Math.max(waveMs, performance.now() - started);
    for (const a of answers) {
      statuses[a.status] = (statuses[a.status] || 0) + 1;
      largest = Math.max(largest, a.bytes);
    }
  }
  done = true;
  await prober;
  parentPort.postMessage({ idle, loaded, statuses, waveMs, largest });
})();
`;

const percentile = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};
const summary = (xs: number[]): Latencies => ({ p50: percentile(xs, 50), p99: percentile(xs, 99), max: Math.max(...xs), count: xs.length });

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

async function measure(
  runtime: FlowRuntime,
  scenario: 'list' | 'timelines',
  concurrent: number,
  waves: number,
  runId?: string,
): Promise<Omit<HealthUnderLoadResult, 'load' | 'runBytes'>> {
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  const result = await new Promise<{ idle: number[]; loaded: number[]; statuses: Record<string, number>; waveMs: number; largest: number }>(
    (resolve, reject) => {
      const worker = new Worker(CLIENT, { eval: true, workerData: { url: runtime.url, scenario, concurrent, waves, runId } });
      worker.once('message', resolve);
      worker.once('error', reject);
    },
  );
  loopDelay.disable();
  return {
    scenario,
    idle: summary(result.idle),
    loaded: summary(result.loaded),
    statuses: result.statuses,
    waveMs: result.waveMs,
    loopDelayMaxMs: loopDelay.max / 1e6,
    largestAnswerBytes: result.largest,
  };
}

/** `list`: `runs` runs stored, `concurrent` GET /v1/runs?limit=1000 at once, `waves` times. */
export async function benchHealthUnderLoad(runs = 1000, concurrent = 200, waves = 1): Promise<HealthUnderLoadResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flow-health-bench-'));
  const def = listFlow();
  const runtime = await runFlowRuntime({ flows: [def], port: 0, host: '127.0.0.1', dataDir, dashboard: false, worker: { logger: quiet } });
  try {
    const { engine } = runtime;
    for (let i = 0; i < runs; i++) {
      const { runId } = await engine.startRun({ flowId: def.flowId, version: def.version, input: { i, note: 'seeded for the /health bench' } });
      await engine.runToCompletion(runId);
    }
    const r = await measure(runtime, 'list', concurrent, waves);
    return { ...r, load: `${runs} runs stored, ${concurrent} concurrent GET /v1/runs?limit=1000${waves > 1 ? ` × ${waves} waves` : ''}` };
  } finally {
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** `timelines`: one run with a map of `items` items, `readers` clients reading its whole timeline at once. */
export async function benchHealthUnderTimelines(items = 40_000, readers = 6): Promise<HealthUnderLoadResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flow-health-bench-'));
  const def = mapFlow();
  const runtime = await runFlowRuntime({ flows: [def], port: 0, host: '127.0.0.1', dataDir, dashboard: false, worker: false });
  try {
    const { engine } = runtime;
    const { runId } = await engine.startRun({ flowId: def.flowId, version: def.version, input: { items } });
    const run = await engine.runToCompletion(runId);
    if (run.status !== 'COMPLETED') throw new Error(`the map's run ended ${run.status}: ${JSON.stringify(run.error)}`);
    const runBytes = (await (await fetch(`${runtime.url}/v1/runs/${runId}`)).arrayBuffer()).byteLength;
    const r = await measure(runtime, 'timelines', readers, 1, runId);
    return { ...r, load: `${readers} clients reading the whole timeline of a ${items}-item map (${run.lastSeq} events) at once`, runBytes };
  } finally {
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export function formatHealthUnderLoad(r: HealthUnderLoadResult): string {
  const ms = (n: number) => `${n.toFixed(n < 10 ? 1 : 0)} ms`;
  const mb = (n: number) => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${(n / 1024).toFixed(0)} KB`);
  const statuses = Object.entries(r.statuses)
    .map(([status, n]) => `${n}× ${status}`)
    .join(', ');
  return (
    `/health on PGlite, ${r.load}: p50 ${ms(r.loaded.p50)}, p99 ${ms(r.loaded.p99)}, max ${ms(r.loaded.max)} ` +
    `(${r.loaded.count} probes; idle p50 ${ms(r.idle.p50)}); heavy answers ${statuses}, largest ${mb(r.largestAnswerBytes)}` +
    `${r.runBytes === undefined ? '' : `, GET run ${mb(r.runBytes)}`}; the load took ${ms(r.waveMs)}, longest event-loop stall ${ms(r.loopDelayMaxMs)} ` +
    `(target < 100 ms: ${r.loaded.max < 100 ? 'met' : 'NOT met'})`
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
  const scenarios = (process.env.HEALTH_SCENARIOS ?? 'list,timelines').split(',').map((s) => s.trim());
  if (scenarios.includes('list')) {
    console.log(formatHealthUnderLoad(await benchHealthUnderLoad(num('HEALTH_RUNS', 1000), num('HEALTH_CONCURRENT', 200), num('HEALTH_WAVES', 1))));
  }
  if (scenarios.includes('timelines')) {
    console.log(formatHealthUnderLoad(await benchHealthUnderTimelines(num('HEALTH_MAP_ITEMS', 40_000), num('HEALTH_READERS', 6))));
  }
}
