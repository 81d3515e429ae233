/**
 * What a worker needs of the engine it works for, and nothing more. `FlowEngine` implements it and
 * hands itself over (`engine.startWorker()`, or `new FlowWorker(engine)`), so the worker never
 * reaches into the engine's fields and the engine's module is not imported by the worker's: the
 * worker stands on the run machinery (engine/advance.ts), the front door (flow-engine.ts) on both.
 */
import type { Clock } from '../core/clock.js';
import type { FlowDefinition } from '../definitions/types.js';
import type { AdvanceOptions, AdvanceResult } from '../engine/advance.js';
import type { FlowEvents } from '../engine/events.js';
import type { FlowRunRecord, FlowStorage, RunLease } from '../storage/types.js';
import type { ScheduleFirer } from '../schedules/fire.js';
import type { FlowMetrics } from './metrics.js';

export interface WorkerHost {
  /** The store runs are claimed from and committed to. */
  readonly storage: FlowStorage;
  /** The clock a worker sleeps on until the next due time (a test's ManualClock included). */
  readonly clock: Clock;
  /** Connects and migrates; the worker retries it while the store is unreachable. */
  ready(): Promise<void>;
  /** `flowId@version` of the flows registered in this process: the only runs the worker claims. */
  flowKeys(): string[];
  /** The definition a claimed run follows; undefined when its flow is not registered here. */
  definitionOf(run: FlowRunRecord): FlowDefinition | undefined;
  /**
   * Drives a run the worker has locked, with the engine's services and limits (as `tick` does, see
   * engine/advance.ts), and always releases the lease. `trackAttempt` is told of each attempt's
   * controller while the attempt runs, and returns what to call when it ends: a stopping worker
   * aborts the attempts still running when its grace period is over.
   */
  advanceLocked(
    lease: RunLease,
    def: FlowDefinition,
    options: AdvanceOptions & { trackAttempt(controller: AbortController): () => void },
  ): Promise<AdvanceResult>;
  /** Fires due schedule ticks (the worker's schedule loop, worker/schedule-loop.ts). */
  readonly scheduleFirer: ScheduleFirer;
  /** The engine's lifecycle hooks (telemetry turns them into spans). */
  on: FlowEvents['on'];
  /** The engine's metrics, told of each claim (`hazel_flow_claim_lag_seconds`). */
  readonly flowMetrics?: Pick<FlowMetrics, 'claimed'>;
}
