/**
 * Prometheus metrics of one engine (`engine.metrics()`, the runtime's `GET /metrics`), on a
 * registry of its own (never prom-client's global one: two engines in a process do not collide).
 *
 * - Counted as it happens, in this process, from the engine's hooks and its workers:
 *   `hazel_flow_steps_total` and `hazel_flow_step_duration_seconds` (every committed attempt, by a
 *   worker or by `tick`/`runToCompletion`), `hazel_flow_claim_lag_seconds` (a worker's claims),
 *   `hazel_flow_commit_batch_size` (group commit, SQL stores), `hazel_flow_worker_in_flight`.
 * - Read from the store at a scrape, for every process alike: `hazel_flow_runs`,
 *   `hazel_flow_runs_due`, `hazel_flow_oldest_due_seconds`. Cached for `cacheMs` so that many
 *   scrapers cost one read; a change this process made since (a hook fired) reads them afresh,
 *   and concurrent scrapes share one read. `hazel_flow_store_up` says whether the last read worked
 *   (when it failed, the store's gauges are left out of the scrape rather than the scrape failing).
 *
 * Labels stay bounded: flows, versions, nodes, statuses and outcomes — never run ids.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { LIVE_STATUSES } from '../core/states.js';
import type { FlowEvents, FlowHookName, FlowHookPayload } from '../engine/events.js';
import type { DueRunCount, FlowRunRecord, FlowStorage, RunCount } from '../storage/types.js';

/** How long the gauges read from the store are reused, by default (ms). */
export const DEFAULT_METRICS_CACHE_MS = 5_000;

/** How a committed attempt ended, as the `outcome` label of `hazel_flow_steps_total`. */
export type StepOutcome = 'ok' | 'error' | 'wait' | 'interrupted';

const STEP_HOOKS: Array<['node:finished' | 'node:failed' | 'run:waiting' | 'node:interrupted', StepOutcome]> = [
  ['node:finished', 'ok'],
  ['node:failed', 'error'],
  ['run:waiting', 'wait'],
  ['node:interrupted', 'interrupted'],
];

/** Hooks after which the store's gauges are read afresh at the next scrape. */
const CHANGE_HOOKS: FlowHookName[] = ['run:started', 'node:started', 'node:retry-scheduled', 'run:resumed', 'run:completed', 'run:failed', 'run:cancelled'];

export interface MetricsSources {
  storage: FlowStorage;
  hooks: Pick<FlowEvents, 'on'>;
  /** Runs advanced right now by this engine's workers. */
  inFlight(): number;
  cacheMs: number;
}

interface StoreGauges {
  runs: RunCount[];
  due: DueRunCount[];
}

export class FlowMetrics {
  /** The registry every metric of this engine is on: add your own, or `collectDefaultMetrics({ register })`. */
  readonly registry = new Registry();
  private readonly steps: Counter<'flow' | 'node' | 'outcome'>;
  private readonly stepDuration: Histogram<'flow' | 'node'>;
  private readonly claimLag: Histogram<'flow'>;
  private readonly commitBatch: Histogram;
  private cached: { at: number; gauges: StoreGauges | null } | null = null;
  private reading: Promise<StoreGauges | null> | null = null;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];
    this.steps = new Counter({
      name: 'hazel_flow_steps_total',
      help: 'Node attempts committed in this process, by flow, node and outcome (ok, error, wait, interrupted).',
      labelNames: ['flow', 'node', 'outcome'],
      registers,
    });
    this.stepDuration = new Histogram({
      name: 'hazel_flow_step_duration_seconds',
      help: "Time a node's handler took, per committed attempt in this process.",
      labelNames: ['flow', 'node'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.claimLag = new Histogram({
      name: 'hazel_flow_claim_lag_seconds',
      help: "Time from a run becoming due to a worker of this process taking it (by the store's clock).",
      labelNames: ['flow'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
      registers,
    });
    this.commitBatch = new Histogram({
      name: 'hazel_flow_commit_batch_size',
      help: 'Commits carried by each grouped write to the store (group commit; SQL stores).',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    });
    new Gauge({
      name: 'hazel_flow_worker_in_flight',
      help: "Runs being advanced right now by this process's workers.",
      registers,
      collect() {
        this.set(sources.inFlight());
      },
    });
    const read = () => this.storeGauges();
    new Gauge({
      name: 'hazel_flow_runs',
      help: 'Runs in the store, by flow, version and status.',
      labelNames: ['flow', 'version', 'status'],
      registers,
      async collect() {
        this.reset();
        for (const c of (await read())?.runs ?? []) this.set({ flow: c.flowId, version: c.flowVersion, status: c.status }, c.count);
      },
    });
    new Gauge({
      name: 'hazel_flow_runs_due',
      help: 'Runs due now (waiting for a worker to take them), by flow.',
      labelNames: ['flow'],
      registers,
      async collect() {
        this.reset();
        for (const [flow, c] of byFlow((await read())?.due ?? [])) this.set({ flow }, c.due);
      },
    });
    new Gauge({
      name: 'hazel_flow_oldest_due_seconds',
      help: 'How long the oldest due run of each flow has been due, in seconds.',
      labelNames: ['flow'],
      registers,
      async collect() {
        this.reset();
        for (const [flow, c] of byFlow((await read())?.due ?? [])) this.set({ flow }, c.oldestDueSeconds);
      },
    });
    new Gauge({
      name: 'hazel_flow_store_up',
      help: "1 when the last read of the store's gauges worked, else 0.",
      registers,
      async collect() {
        this.set((await read()) === null ? 0 : 1);
      },
    });

    for (const [hook, outcome] of STEP_HOOKS) this.unsubscribe.push(sources.hooks.on(hook, (p: FlowHookPayload) => this.step(p, outcome)));
    for (const hook of CHANGE_HOOKS) this.unsubscribe.push(sources.hooks.on(hook, () => this.changed()));
    const offBatches = sources.storage.onCommitBatch?.((size) => this.commitBatch.observe(size));
    if (offBatches) this.unsubscribe.push(offBatches);
  }

  /** The Prometheus text of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * A worker of this process took `run`: from when it became due — its due time as read at the
   * lock (`nextAttemptAt`), or its last write for a RUNNING run with none (it was due at once) —
   * to the store's clock at the lock. A run due only for an answer in its inbox is not measured
   * (when the answer came is not on the record the lock reads).
   */
  claimed(run: FlowRunRecord): void {
    if (!LIVE_STATUSES.includes(run.status)) return;
    const nowMs = run.readAt.getTime();
    const dueMs = run.nextAttemptAt?.getTime() ?? (run.status === 'RUNNING' ? run.updatedAt.getTime() : null);
    if (dueMs === null || dueMs > nowMs) return;
    this.claimLag.observe({ flow: run.flowId }, (nowMs - dueMs) / 1000);
  }

  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  private step({ run, event }: FlowHookPayload, outcome: StepOutcome): void {
    const node = event?.nodeId;
    if (!node) return;
    this.steps.inc({ flow: run.flowId, node, outcome });
    if (event.durationMs != null) this.stepDuration.observe({ flow: run.flowId, node }, event.durationMs / 1000);
    this.changed();
  }

  private changed(): void {
    if (this.cached) this.cached.at = Number.NEGATIVE_INFINITY;
  }

  /** The store's gauges, read at most once per `cacheMs` (and once for concurrent scrapes); null when the read failed. */
  private storeGauges(): Promise<StoreGauges | null> {
    if (this.cached && Date.now() - this.cached.at < this.sources.cacheMs) return Promise.resolve(this.cached.gauges);
    this.reading ??= Promise.all([this.sources.storage.countRuns(), this.sources.storage.countDueRuns()])
      .then(
        ([runs, due]) => ({ runs, due }),
        () => null,
      )
      .then((gauges) => {
        this.cached = { at: Date.now(), gauges };
        this.reading = null;
        return gauges;
      });
    return this.reading;
  }
}

/** Due counts summed over versions, per flow (the oldest: the oldest of any version). */
function byFlow(due: DueRunCount[]): Map<string, { due: number; oldestDueSeconds: number }> {
  const flows = new Map<string, { due: number; oldestDueSeconds: number }>();
  for (const c of due) {
    const f = flows.get(c.flowId);
    if (f) {
      f.due += c.due;
      f.oldestDueSeconds = Math.max(f.oldestDueSeconds, c.oldestDueSeconds);
    } else flows.set(c.flowId, { due: c.due, oldestDueSeconds: c.oldestDueSeconds });
  }
  return flows;
}
