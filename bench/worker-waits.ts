/**
 * The measurements of bench/worker.ts about runs that wait on something other than their own
 * nodes, both in this process with separate pools (so wake-ups between the engines travel through
 * Postgres, LISTEN/NOTIFY):
 *
 *   events    N runs each park on an event keyed by its own run id; then a client engine sends the
 *             N events (8 lanes) while the worker drives: event → next node latency and throughput.
 *   children  one parent whose forEach node (concurrency 20) starts N child runs of the 3-node
 *             flow and finishes with their outputs: start → parent COMPLETED; against N plain runs
 *             of the same flow started one after the other (each awaited) on the same worker.
 *
 * Both workers poll only every 60 s, so what is measured is the wake-up path; a lost wake-up (or
 * an answer a run never gets) shows as a stall, which fails the scenario (nothing happening for
 * STALL_MS) rather than hiding in a poll. A failed scenario is reported by bench/worker.ts, and
 * the children one says whether its parent waits on child runs that have already ended.
 */
import { performance } from 'node:perf_hooks';
import { flow, type FlowEngine, type FlowRunRecord, type NodeResult } from '../src/index.js';
import { CONCURRENCY, engineOn, inLanes, quietLogger, stats, threeNodeFlow, within, WORKER_CONCURRENCY, type Stats } from './worker-scenarios.js';

/** No phase of these scenarios should go this long without a run moving; one that does has lost a wake-up or an answer. */
const STALL_MS = 20_000;
const IDLE_POLL_MS = 60_000;

/**
 * `promise`, or a rejection naming `what` once `progress()` (a count of hooks) has not moved for
 * `ms`: a long phase on a slow machine is not a stall, a phase where nothing happens is.
 */
function untilStalled<T>(promise: Promise<T>, ms: number, progress: () => number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stall = new Promise<never>((_, reject) => {
    let last = progress();
    let movedAt = performance.now();
    timer = setInterval(() => {
      const now = progress();
      if (now !== last) [last, movedAt] = [now, performance.now()];
      else if (performance.now() - movedAt >= ms)
        reject(new Error(`stalled: ${what()}, nothing happened for ${ms / 1000} s (the worker polls only every 60 s: a wake-up or an answer was lost)`));
    }, 250);
  });
  return Promise.race([promise, stall]).finally(() => clearInterval(timer));
}

/** Counts the `hook` hooks `engine` raises; `reached(n)` resolves once `n` have been seen. */
function counter(engine: FlowEngine, hook: 'run:waiting' | 'run:completed') {
  let seen = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const off = engine.on(hook, () => {
    seen += 1;
    for (let i = waiters.length - 1; i >= 0; i--) if (seen >= waiters[i]!.n) waiters.splice(i, 1)[0]!.resolve();
  });
  return {
    off,
    get seen() {
      return seen;
    },
    reached: (n: number) => (seen >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }))),
  };
}

/** Settles per run id when `engine` commits the run's end: resolves on COMPLETED, rejects otherwise. */
function runEnds(engine: FlowEngine) {
  const ended = new Map<string, string>();
  let count = 0;
  const waiting = new Map<string, { resolve: () => void; reject: (err: Error) => void }>();
  const settle = (runId: string, status: string) => {
    count += 1;
    const w = waiting.get(runId);
    if (!w) return void ended.set(runId, status);
    waiting.delete(runId);
    if (status === 'COMPLETED') w.resolve();
    else w.reject(new Error(`run ${runId} ended ${status}`));
  };
  const offs = [
    engine.on('run:completed', ({ run }) => settle(run.runId, 'COMPLETED')),
    engine.on('run:failed', ({ run }) => settle(run.runId, `FAILED at ${run.branches[0]?.nodeId ?? '?'}`)),
    engine.on('run:cancelled', ({ run }) => settle(run.runId, 'CANCELLED')),
  ];
  return {
    off: () => offs.forEach((off) => off()),
    /** How many run ends have been seen: the progress of a fan-out. */
    get count() {
      return count;
    },
    of: (runId: string) =>
      new Promise<void>((resolve, reject) => {
        const status = ended.get(runId);
        if (status === undefined) waiting.set(runId, { resolve, reject });
        else if (status === 'COMPLETED') resolve();
        else reject(new Error(`run ${runId} ended ${status}`));
      }),
  };
}

export interface EventsResult {
  events: number;
  /** Starting the N runs until all of them are parked on their event (the worker drives them there). */
  parkSeconds: number;
  /** `sendEvent` called → the node after the wait starts on the worker. */
  total: Stats;
  /** `sendEvent` returned → that node starts: wake-up + claim + the waiting node's second call. */
  wake: Stats;
  /** `sendEvent` called → returned (the client's own round trip, `lanes` of them at a time). */
  send: Stats;
  /** The first `sendEvent` call → the last run COMPLETED. */
  seconds: number;
  eventsPerSec: number;
}

/** N runs wait on `bench.ping` keyed by their run id; a client sends the N events in `lanes` lanes (8) while the worker drives. */
export async function eventLatency(url: string, schema: string, events: number, lanes = CONCURRENCY): Promise<EventsResult> {
  const nextNodeAt = new Map<string, number>();
  const eventFlow = flow('bench-event', '1')
    .entry('wait')
    .node('wait', (ctx): NodeResult =>
      ctx.state._resumePayload === undefined ? { status: 'wait', reason: 'ping', event: { name: 'bench.ping', key: ctx.runId } } : { status: 'ok' },
    )
    .node('after', (ctx) => (nextNodeAt.set(ctx.runId, performance.now()), { status: 'ok' }))
    .edge('wait', 'after')
    .build();
  const client = engineOn(url, schema, CONCURRENCY);
  const workerEngine = engineOn(url, schema);
  await client.registerDefinition(eventFlow);
  await workerEngine.registerDefinition(eventFlow);
  const parked = counter(workerEngine, 'run:waiting');
  const completed = counter(workerEngine, 'run:completed');
  try {
    const worker = workerEngine.startWorker({ concurrency: WORKER_CONCURRENCY, pollIntervalMs: IDLE_POLL_MS, logger: quietLogger });
    await worker.started;
    const runIds: string[] = new Array(events);
    const p0 = performance.now();
    await inLanes(events, CONCURRENCY, async (i) => {
      runIds[i] = (await client.startRun({ flowId: 'bench-event', version: '1', input: { i } })).runId;
    });
    await untilStalled(
      parked.reached(events),
      STALL_MS,
      () => parked.seen,
      () => `${parked.seen} of ${events} runs parked on their event`,
    );
    const parkSeconds = (performance.now() - p0) / 1000;

    const sentAt = new Map<string, { called: number; returned: number }>();
    const t0 = performance.now();
    await inLanes(events, lanes, async (i) => {
      const runId = runIds[i]!;
      const called = performance.now();
      const { delivered } = await client.sendEvent({ name: 'bench.ping', key: runId, payload: { i } });
      sentAt.set(runId, { called, returned: performance.now() });
      if (delivered !== 1) throw new Error(`sendEvent for run ${runId} (${i + 1} of ${events}) delivered to ${delivered} runs, expected 1`);
    });
    await untilStalled(
      completed.reached(events),
      STALL_MS,
      () => completed.seen,
      () => `${completed.seen} of ${events} woken runs completed`,
    );
    const seconds = (performance.now() - t0) / 1000;

    const total: number[] = [];
    const wake: number[] = [];
    const send: number[] = [];
    for (const [runId, at] of sentAt) {
      const started = nextNodeAt.get(runId);
      if (started === undefined) throw new Error(`run ${runId} completed without its 'after' node being seen`);
      total.push(started - at.called);
      wake.push(started - at.returned);
      send.push(at.returned - at.called);
    }
    return { events, parkSeconds, total: stats(total), wake: stats(wake), send: stats(send), seconds, eventsPerSec: events / seconds };
  } finally {
    parked.off();
    completed.off();
    await Promise.all([client.close(), workerEngine.close()]);
  }
}

/** Every child run of `parentId`, page by page. */
async function childRuns(client: FlowEngine, parentId: string): Promise<Array<Pick<FlowRunRecord, 'runId' | 'status'>>> {
  const runs: Array<Pick<FlowRunRecord, 'runId' | 'status'>> = [];
  let cursor: string | undefined;
  do {
    const page = await client.listRuns({ parentRunId: parentId, limit: 500, cursor });
    runs.push(...page.runs);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return runs;
}

/** What a parent that does not complete is waiting for: its map's items against its children's ends. */
async function fanOutState(client: FlowEngine, parentId: string): Promise<string> {
  const parent = await client.getRun(parentId);
  const kids = new Map((await childRuns(client, parentId)).map((r) => [r.runId, r.status]));
  const map = parent?.branches.flatMap((b) => (b.status === 'RUNNING' && b.map ? [b.map] : []))[0];
  if (!parent || !map) return `the parent is ${parent?.status ?? 'gone'} at ${parent?.currentNodeId ?? '?'}`;
  const waitingOnEnded = map.items.filter((i) => i.status === 'WAITING' && ['COMPLETED', 'FAILED', 'CANCELLED'].includes(kids.get(i.child.runId) ?? '')).length;
  const ended = [...kids.values()].filter((s) => s !== 'RUNNING' && s !== 'WAITING').length;
  return (
    `the parent is ${parent.status} with ${map.done} of ${map.total} items done and ${map.started} started, ` +
    `${kids.size} child runs of which ${ended} ended, ${waitingOnEnded} items still WAITING on a child run that has ended` +
    (waitingOnEnded > 0 ? ' (child ends lost by the engine, not a slow worker)' : '')
  );
}

export interface ChildrenResult {
  children: number;
  /** `startRun(parent)` called → the parent COMPLETED (its forEach waited for every child). */
  seconds: number;
  childrenPerSec: number;
  /** The same number of plain runs of the child flow, each started and awaited before the next. */
  sequential: { seconds: number; runsPerSec: number };
}

/** One parent fanning out to N children (forEach concurrency 20) with a worker running; then the sequential baseline. */
export async function childFanOut(url: string, schema: string, children: number, fanOut = 20): Promise<ChildrenResult> {
  const parentFlow = flow('bench-parent', '1')
    .entry('fan')
    .node('fan', (ctx): NodeResult => ({ status: 'child', flowId: 'bench-3', version: '1', input: ctx.item }), {
      forEach: (ctx) => Array.from({ length: (ctx.input as { children: number }).children }, (_, i) => ({ i })),
      concurrency: fanOut,
    })
    .node('done', (ctx) => ({ status: 'ok', output: (ctx.outputs.fan as unknown[]).length }))
    .edge('fan', 'done')
    .build();
  const client = engineOn(url, schema, 4);
  const workerEngine = engineOn(url, schema);
  for (const def of [threeNodeFlow, parentFlow]) {
    await client.registerDefinition(def);
    await workerEngine.registerDefinition(def);
  }
  const ends = runEnds(workerEngine);
  try {
    const worker = workerEngine.startWorker({ concurrency: WORKER_CONCURRENCY, pollIntervalMs: IDLE_POLL_MS, logger: quietLogger });
    await worker.started;
    // Warm-up: a few plain runs, so that neither measurement pays for first connections and the JIT.
    for (let i = 0; i < 5; i++) {
      const { runId } = await client.startRun({ flowId: 'bench-3', version: '1', input: { warm: i } });
      await within(ends.of(runId), STALL_MS, () => `warm-up run ${i + 1} did not complete`);
    }

    const t0 = performance.now();
    const { runId: parentId } = await client.startRun({ flowId: 'bench-parent', version: '1', input: { children } });
    await untilStalled(
      ends.of(parentId),
      STALL_MS,
      () => ends.count,
      () => `the parent of ${children} children did not complete`,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}; ${await fanOutState(client, parentId)}`);
    });
    const seconds = (performance.now() - t0) / 1000;
    const kids = await childRuns(client, parentId);
    const notDone = kids.filter((r) => r.status !== 'COMPLETED');
    if (kids.length !== children || notDone.length > 0)
      throw new Error(`the parent completed with ${kids.length} child runs (expected ${children}), ${notDone.length} not COMPLETED`);

    const s0 = performance.now();
    for (let i = 0; i < children; i++) {
      const { runId } = await client.startRun({ flowId: 'bench-3', version: '1', input: { i } });
      await within(ends.of(runId), STALL_MS, () => `sequential run ${i + 1} of ${children} did not complete`);
    }
    const sequentialSeconds = (performance.now() - s0) / 1000;
    return { children, seconds, childrenPerSec: children / seconds, sequential: { seconds: sequentialSeconds, runsPerSec: children / sequentialSeconds } };
  } finally {
    ends.off();
    await Promise.all([client.close(), workerEngine.close()]);
  }
}
