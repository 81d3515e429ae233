/**
 * Engine steps per second on Postgres (pg) and PGlite, each next to the raw-driver baseline of
 * the same store measured in the same process: single-row UPDATE commits through the bare driver
 * at the same concurrency. The engine's ratio to that baseline is what this bench reports — on a
 * shared machine absolute numbers move, the ratio much less.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { FlowEngine, createPGliteStorage, createPostgresStorage, flow, type FlowStorage } from '../src/index.js';
import { measurePGliteUpdateBaseline, measurePgUpdateBaseline } from './raw-baseline.js';

const NODES = 3;

function threeNodeFlow() {
  return flow('bench-3', '1')
    .entry('a')
    .node('a', async (ctx) => ({ status: 'ok', patch: { a: ctx.meta.attempt } }))
    .node('b', async () => ({ status: 'ok', output: 'b' }))
    .node('c', async (ctx) => ({ status: 'ok', output: Object.keys(ctx.outputs).length }))
    .edge('a', 'b')
    .edge('b', 'c')
    .build();
}

export interface EngineBenchResult {
  store: string;
  concurrency: number;
  steps: number;
  stepsPerSec: number;
  commitsPerStep: number;
}

/** `concurrency` loops, each starting a run and driving it to completion, for `durationMs`. */
export async function benchEngine(storage: FlowStorage, concurrency: number, durationMs: number): Promise<EngineBenchResult> {
  const engine = new FlowEngine({ storage });
  let commits = 0;
  const count = () => commits++;
  for (const hook of ['run:started', 'node:started', 'node:finished'] as const) engine.on(hook, count);
  try {
    const def = threeNodeFlow();
    await engine.registerDefinition(def);
    const loop = async (until: number) => {
      let runs = 0;
      while (Date.now() < until) {
        const { runId } = await engine.startRun({ flowId: def.flowId, version: '1', input: {} });
        await engine.runToCompletion(runId);
        runs++;
      }
      return runs;
    };
    await Promise.all(Array.from({ length: concurrency }, () => loop(Date.now() + 300))); // warm-up
    commits = 0;
    const start = Date.now();
    const runs = (await Promise.all(Array.from({ length: concurrency }, () => loop(start + durationMs)))).reduce((a, b) => a + b, 0);
    const elapsed = Date.now() - start;
    const steps = runs * NODES;
    return { store: storage.kind, concurrency, steps, stepsPerSec: Math.round(steps / (elapsed / 1000)), commitsPerStep: commits / steps };
  } finally {
    await engine.close();
  }
}

export async function benchPostgres(connectionString: string, concurrency: number, durationMs: number) {
  const schema = `flow_bench_${randomBytes(4).toString('hex')}`;
  const storage = createPostgresStorage({ connectionString, schema, poolSize: concurrency + 2 });
  try {
    const raw = await measurePgUpdateBaseline({ connectionString, concurrency, durationMs });
    const engine = await benchEngine(storage, concurrency, durationMs);
    return { engine, raw, ratio: engine.stepsPerSec / raw.commitsPerSec };
  } finally {
    const admin = new pg.Client({ connectionString });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => admin.end());
  }
}

export async function benchPGlite(concurrency: number, durationMs: number) {
  const raw = await measurePGliteUpdateBaseline({ concurrency, durationMs });
  const storage = createPGliteStorage();
  const engine = await benchEngine(storage, concurrency, durationMs);
  return { engine, raw, ratio: engine.stepsPerSec / raw.commitsPerSec };
}
