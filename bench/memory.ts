/**
 * Memory-mode throughput: node steps per second through the whole engine (serializer, fenced
 * commits, timeline) on one core, next to a baseline that only calls the same handlers, so the
 * difference is the engine's own per-step overhead.
 */
import { FlowEngine, createMemoryStorage, flow, type NodeHandler } from '../src/index.js';

const NODES = 10;

function linearFlow(id: string, handler: NodeHandler) {
  let b = flow(id, '1').entry('n0');
  for (let i = 0; i < NODES; i++) b = b.node(`n${i}`, handler);
  for (let i = 0; i + 1 < NODES; i++) b = b.edge(`n${i}`, `n${i + 1}`);
  return b.build();
}

const handler: NodeHandler = async (ctx) => ({ status: 'ok', output: ctx.meta.attempt, patch: { [ctx.meta.nodeId]: true } });

export interface MemoryBenchResult {
  steps: number;
  stepsPerSec: number;
  usPerStep: number;
  baselineUsPerStep: number;
  overheadUsPerStep: number;
}

export async function benchMemory(runs = 3000): Promise<MemoryBenchResult> {
  const engine = new FlowEngine({ storage: createMemoryStorage() });
  const def = linearFlow('bench-linear', handler);
  await engine.registerDefinition(def);
  // Warm up the JIT before measuring.
  for (let i = 0; i < 200; i++) {
    const { runId } = await engine.startRun({ flowId: def.flowId, version: '1', input: { i } });
    await engine.runToCompletion(runId);
  }
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) {
    const { runId } = await engine.startRun({ flowId: def.flowId, version: '1', input: { i } });
    await engine.runToCompletion(runId);
  }
  const elapsedNs = Number(process.hrtime.bigint() - t0);
  await engine.close();
  const steps = runs * NODES;

  // Baseline: the same handlers called in sequence with a context, no engine.
  const ctx = { meta: { attempt: 1, nodeId: 'n0' } } as Parameters<NodeHandler>[0];
  const b0 = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) {
    ctx.meta.nodeId = `n${i % NODES}`;
    await handler(ctx);
  }
  const baselineNs = Number(process.hrtime.bigint() - b0);

  const usPerStep = elapsedNs / 1000 / steps;
  const baselineUsPerStep = baselineNs / 1000 / steps;
  return {
    steps,
    stepsPerSec: Math.round(steps / (elapsedNs / 1e9)),
    usPerStep,
    baselineUsPerStep,
    overheadUsPerStep: usPerStep - baselineUsPerStep,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchMemory(Number(process.env.BENCH_RUNS ?? 3000));
  console.log(JSON.stringify(r, null, 2));
}
