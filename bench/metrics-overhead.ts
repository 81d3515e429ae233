/**
 * What counting metrics costs a step: runs of a 10-node flow on the memory store (where the
 * engine's own overhead is all there is), driven by `runToCompletion`, with the engine's metrics
 * listening to its hooks and with them unsubscribed (`flowMetrics.close()`), alternated in the
 * same script; the ratio of the medians of 4 rounds each.
 * Run alone: `npx tsx --conditions=hazel-source bench/metrics-overhead.ts [runs per round, default 400]`.
 */
import { performance } from 'node:perf_hooks';
import { FlowEngine, flow } from '../src/index.js';
import { createMemoryStorage } from '../src/storage/memory.js';

const RUNS = Number(process.argv[2] ?? 400);
const ok = () => ({ status: 'ok' as const });
let builder = flow('bench-metrics', '1').entry('n0');
for (let i = 0; i < 10; i++) builder = builder.node(`n${i}`, ok);
for (let i = 0; i < 9; i++) builder = builder.edge(`n${i}`, `n${i + 1}`);
const def = builder.build();

async function stepsPerSecond(withMetrics: boolean): Promise<number> {
  const engine = new FlowEngine({ storage: createMemoryStorage() });
  if (!withMetrics) engine.flowMetrics.close();
  await engine.registerDefinition(def);
  const started = performance.now();
  for (let i = 0; i < RUNS; i++) await engine.runToCompletion((await engine.startRun({ flowId: 'bench-metrics', version: '1', input: null })).runId);
  const seconds = (performance.now() - started) / 1000;
  await engine.close();
  return (RUNS * 10) / seconds;
}

const on: number[] = [];
const off: number[] = [];
for (let round = 0; round < 4; round++) {
  off.push(await stepsPerSecond(false));
  on.push(await stepsPerSecond(true));
}
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`steps/s with metrics ${median(on).toFixed(0)}, without ${median(off).toFixed(0)}, ratio ${(median(on) / median(off)).toFixed(3)}`);
