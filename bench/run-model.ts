/**
 * Benchmarks of the run model (issue 9): what a step costs as a run accumulates outputs, what an
 * item of a `forEach` map costs as the map grows, and a 10-wide split/join next to a 10-node
 * chain. Each comparison is measured inside one call, its two sides interleaved run by run, so
 * that a busy machine slows both sides alike and the ratio holds better than absolute figures.
 *
 *   accumulated outputs  node `big` outputs a 1 KB or a 256 KB value, then `STEPS` trivial nodes
 *                        follow; ms per step = time from the first of them starting to the last
 *                        starting, divided by `STEPS` (the big write itself is not in it).
 *   map                  one `forEach` node over N items (trivial handler, `concurrency` 10), then
 *                        one node; ms per item = first item starting → the next node starting, / N.
 *   split/join           `fan` (split: 'all') → b0 … b9 → `join` (join: 'all'), 12 nodes, next to
 *                        a chain n0 → … → n9; ms per run = startRun called → runToCompletion returned.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import {
  FlowEngine,
  createMemoryStorage,
  createPGliteStorage,
  createPostgresStorage,
  flow,
  type FlowDefinition,
  type FlowStorage,
  type NodeHandler,
} from '../src/index.js';
import { measurePGliteUpdateBaseline, measurePgUpdateBaseline } from './raw-baseline.js';

export type StoreKind = 'memory' | 'pglite' | 'postgres';

/** A fresh store of `kind` (Postgres: a scratch schema, dropped afterwards) for the length of `body`. */
export async function withStore<T>(kind: StoreKind, url: string, poolSize: number, body: (storage: FlowStorage) => Promise<T>): Promise<T> {
  if (kind === 'memory') return body(createMemoryStorage());
  if (kind === 'pglite') return body(createPGliteStorage());
  const schema = `flow_bench_${randomBytes(4).toString('hex')}`;
  try {
    return await body(createPostgresStorage({ connectionString: url, schema, poolSize }));
  } finally {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => admin.end());
  }
}

/** ms per single-row UPDATE commit through the bare driver at concurrency 1 (bench/raw-baseline.ts). */
async function rawCommitMs(kind: StoreKind, url: string, durationMs: number): Promise<number | null> {
  if (kind === 'memory') return null;
  const r =
    kind === 'pglite'
      ? await measurePGliteUpdateBaseline({ concurrency: 1, durationMs })
      : await measurePgUpdateBaseline({ connectionString: url, concurrency: 1, durationMs });
  return 1000 / r.commitsPerSec;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Calls `pair()` (one run of each side) until `durationMs` has passed, at least `minPairs` times. */
async function pairsFor(durationMs: number, minPairs: number, pair: (i: number) => Promise<void>): Promise<number> {
  const deadline = performance.now() + durationMs;
  let i = 0;
  while (i < minPairs || performance.now() < deadline) await pair(i++);
  return i;
}

// ── accumulated outputs ────────────────────────────────────────────────────────────────────────

/** A JSON value (an array of records with random ids, so that TOAST cannot squeeze it to nothing) of about `bytes` bytes. */
export function valueOfSize(bytes: number): unknown[] {
  const rows: unknown[] = [];
  let size = 2;
  for (let i = 0; size < bytes; i++) {
    const row = { id: randomBytes(8).toString('hex'), n: i, name: `item ${i}`, ok: i % 3 === 0 };
    size += JSON.stringify(row).length + 1;
    rows.push(row);
  }
  return rows;
}

export interface OutputsBenchResult {
  store: StoreKind;
  steps: number;
  runs: number;
  small: { bytes: number; msPerStep: number };
  large: { bytes: number; msPerStep: number };
  ratio: number;
  rawCommitMs: number | null;
}

export async function benchAccumulatedOutputs(
  kind: StoreKind,
  url: string,
  options: { steps: number; durationMs: number; smallBytes?: number; largeBytes?: number },
): Promise<OutputsBenchResult> {
  const { steps, durationMs } = options;
  const values: Record<string, unknown> = { small: valueOfSize(options.smallBytes ?? 1024), large: valueOfSize(options.largeBytes ?? 256 * 1024) };
  let marks: number[] = [];
  const step: NodeHandler = (ctx) => (marks.push(performance.now()), { status: 'ok', output: ctx.meta.nodeId });
  let b = flow('bench-outputs', '1')
    .entry('big')
    .node('big', (ctx) => ({ status: 'ok', output: values[(ctx.input as { size: string }).size] }))
    .edge('big', 's0');
  for (let i = 0; i <= steps; i++) b = b.node(`s${i}`, step);
  for (let i = 0; i < steps; i++) b = b.edge(`s${i}`, `s${i + 1}`);
  const def = b.build();

  const rawMs = await rawCommitMs(kind, url, durationMs);
  return withStore(kind, url, 4, async (storage) => {
    const engine = new FlowEngine({ storage });
    try {
      await engine.registerDefinition(def);
      const once = async (size: 'small' | 'large'): Promise<number> => {
        marks = [];
        const { runId } = await engine.startRun({ flowId: def.flowId, version: '1', input: { size } });
        const run = await engine.runToCompletion(runId);
        if (run.status !== 'COMPLETED' || marks.length !== steps + 1)
          throw new Error(`bench-outputs run ${runId} ended ${run.status} after ${marks.length} of ${steps + 1} steps`);
        return (marks[steps]! - marks[0]!) / steps;
      };
      for (let i = 0; i < 3; i++) await once(i % 2 === 0 ? 'small' : 'large'); // warm-up
      const small: number[] = [];
      const large: number[] = [];
      // Alternate which side goes first, so neither always follows the other's garbage.
      const runs = await pairsFor(durationMs, 3, async (i) => {
        if (i % 2 === 0) {
          small.push(await once('small'));
          large.push(await once('large'));
        } else {
          large.push(await once('large'));
          small.push(await once('small'));
        }
      });
      const s = median(small);
      const l = median(large);
      return {
        store: kind,
        steps,
        runs,
        small: { bytes: JSON.stringify(values.small).length, msPerStep: s },
        large: { bytes: JSON.stringify(values.large).length, msPerStep: l },
        ratio: l / s,
        rawCommitMs: rawMs,
      };
    } finally {
      await engine.close();
    }
  });
}

// ── map ────────────────────────────────────────────────────────────────────────────────────────

export interface MapSample {
  items: number;
  runs: number;
  /** First item starting → the node after the map starting, / items (median over runs). */
  msPerItem: number;
  /** Items / (startRun called → run COMPLETED), median over runs. */
  itemsPerSec: number;
  /**
   * ms per item between item starts in the first and in the last tenth of the map (median over
   * runs): a per-item cost that grows with the items already done shows as last > first.
   */
  firstTenthMsPerItem: number;
  lastTenthMsPerItem: number;
  /** The last item starting → the node after the map starting (the map's finish), ms, median over runs. */
  finishMs: number;
}

export interface MapBenchResult {
  store: StoreKind;
  concurrency: number;
  small: MapSample;
  large: MapSample;
  ratio: number;
  rawCommitsPerSec: number | null;
}

export async function benchMap(
  kind: StoreKind,
  url: string,
  options: { smallItems: number; largeItems: number; concurrency: number; smallRuns: number; largeRuns: number; durationMs: number },
): Promise<MapBenchResult> {
  const { concurrency } = options;
  let starts: number[] = [];
  let after = 0;
  const def = flow('bench-map', '1')
    .entry('map')
    .node(
      'map',
      (ctx) => {
        starts.push(performance.now());
        return { status: 'ok', output: ctx.itemIndex };
      },
      { forEach: (ctx) => (ctx.input as { items: number[] }).items, concurrency },
    )
    .node('after', (ctx) => ((after = performance.now()), { status: 'ok', output: (ctx.outputs.map as unknown[]).length }))
    .edge('map', 'after')
    .build();
  const raw =
    kind === 'memory'
      ? null
      : kind === 'pglite'
        ? await measurePGliteUpdateBaseline({ concurrency, durationMs: options.durationMs })
        : await measurePgUpdateBaseline({ connectionString: url, concurrency, durationMs: options.durationMs });

  return withStore(kind, url, concurrency + 4, async (storage) => {
    const engine = new FlowEngine({ storage });
    try {
      await engine.registerDefinition(def);
      const once = async (items: number) => {
        starts = [];
        const t0 = performance.now();
        const { runId } = await engine.startRun({ flowId: def.flowId, version: '1', input: { items: Array.from({ length: items }, (_, i) => i) } });
        const run = await engine.runToCompletion(runId);
        const total = performance.now() - t0;
        if (run.status !== 'COMPLETED' || starts.length !== items)
          throw new Error(`bench-map run ${runId} ended ${run.status} after ${starts.length} of ${items} item calls`);
        const tenth = Math.max(1, Math.floor(items / 10));
        return {
          msPerItem: (after - starts[0]!) / items,
          itemsPerSec: (items * 1000) / total,
          firstTenth: (starts[tenth]! - starts[0]!) / tenth,
          lastTenth: (starts[items - 1]! - starts[items - 1 - tenth]!) / tenth,
          finish: after - starts[items - 1]!,
        };
      };
      await once(Math.min(options.smallItems, 50)); // warm-up
      const small: Array<Awaited<ReturnType<typeof once>>> = [];
      const large: typeof small = [];
      // Small maps before and after each large one, so both sides see the same machine.
      const before = Math.ceil(options.smallRuns / 2);
      for (let i = 0; i < before; i++) small.push(await once(options.smallItems));
      for (let i = 0; i < options.largeRuns; i++) large.push(await once(options.largeItems));
      for (let i = before; i < options.smallRuns; i++) small.push(await once(options.smallItems));
      const sample = (items: number, xs: typeof small): MapSample => ({
        items,
        runs: xs.length,
        msPerItem: median(xs.map((x) => x.msPerItem)),
        itemsPerSec: median(xs.map((x) => x.itemsPerSec)),
        firstTenthMsPerItem: median(xs.map((x) => x.firstTenth)),
        lastTenthMsPerItem: median(xs.map((x) => x.lastTenth)),
        finishMs: median(xs.map((x) => x.finish)),
      });
      const s = sample(options.smallItems, small);
      const l = sample(options.largeItems, large);
      return { store: kind, concurrency, small: s, large: l, ratio: l.msPerItem / s.msPerItem, rawCommitsPerSec: raw?.commitsPerSec ?? null };
    } finally {
      await engine.close();
    }
  });
}

// ── split/join vs chain ────────────────────────────────────────────────────────────────────────

const WIDTH = 10;
const trivial: NodeHandler = (ctx) => ({ status: 'ok', output: ctx.meta.nodeId });

export function splitJoinFlow(): FlowDefinition {
  let b = flow('bench-split', '1').entry('fan').node('fan', trivial, { split: 'all' }).node('join', trivial, { join: 'all' });
  for (let i = 0; i < WIDTH; i++) b = b.node(`b${i}`, trivial).edge('fan', `b${i}`).edge(`b${i}`, 'join');
  return b.build();
}

export function chainFlow(): FlowDefinition {
  let b = flow('bench-chain', '1').entry('n0');
  for (let i = 0; i < WIDTH; i++) b = b.node(`n${i}`, trivial);
  for (let i = 0; i + 1 < WIDTH; i++) b = b.edge(`n${i}`, `n${i + 1}`);
  return b.build();
}

export interface ShapeSample {
  nodes: number;
  msPerRun: number;
  msPerNode: number;
}

export interface SplitJoinBenchResult {
  store: StoreKind;
  runs: number;
  split: ShapeSample;
  chain: ShapeSample;
  /** split/join ms per run ÷ chain ms per run. */
  ratio: number;
}

export async function benchSplitJoin(kind: StoreKind, url: string, options: { durationMs: number }): Promise<SplitJoinBenchResult> {
  const split = splitJoinFlow();
  const chain = chainFlow();
  return withStore(kind, url, 4, async (storage) => {
    const engine = new FlowEngine({ storage });
    try {
      await engine.registerDefinition(split);
      await engine.registerDefinition(chain);
      const once = async (def: FlowDefinition): Promise<number> => {
        const t0 = performance.now();
        const { runId } = await engine.startRun({ flowId: def.flowId, version: '1', input: {} });
        const run = await engine.runToCompletion(runId);
        const ms = performance.now() - t0;
        if (run.status !== 'COMPLETED') throw new Error(`${def.flowId} run ${runId} ended ${run.status}`);
        return ms;
      };
      for (let i = 0; i < 3; i++) {
        await once(split); // warm-up
        await once(chain);
      }
      const s: number[] = [];
      const c: number[] = [];
      const runs = await pairsFor(options.durationMs, 3, async (i) => {
        if (i % 2 === 0) {
          s.push(await once(split));
          c.push(await once(chain));
        } else {
          c.push(await once(chain));
          s.push(await once(split));
        }
      });
      const splitNodes = WIDTH + 2;
      const ms = median(s);
      const mc = median(c);
      return {
        store: kind,
        runs,
        split: { nodes: splitNodes, msPerRun: ms, msPerNode: ms / splitNodes },
        chain: { nodes: WIDTH, msPerRun: mc, msPerNode: mc / WIDTH },
        ratio: ms / mc,
      };
    } finally {
      await engine.close();
    }
  });
}
