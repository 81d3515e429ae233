/**
 * A worker only claims runs of flows registered in its own process (it has no handlers for the
 * others), so runs of other flows are left alone, never failed — they wait for a process that
 * registers their flow. That silence would be puzzling ("why does my run never move?"), so the
 * worker looks, now and then, for due runs it is not claiming and says why, once per flow.
 */
import { flowKey } from '../definitions/flow-key.js';
import type { FlowStorage } from '../storage/types.js';
import type { WorkerLogger } from './types.js';

/** Runs looked at per check: enough to spot a flow, cheap enough to do once a minute. */
const SAMPLE_SIZE = 200;
export const UNREGISTERED_CHECK_INTERVAL_MS = 60_000;

export class UnregisteredFlowReporter {
  private readonly reported = new Set<string>();
  private lastCheck = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly storage: FlowStorage,
    private readonly logger: WorkerLogger,
  ) {}

  /** Flow keys already reported (for the tests and the status of a health endpoint). */
  get reportedFlowKeys(): string[] {
    return [...this.reported];
  }

  /** Checks at most once per interval; never throws (it is advice, not work). */
  async maybeCheck(registered: readonly string[], now = Date.now()): Promise<void> {
    if (now - this.lastCheck < UNREGISTERED_CHECK_INTERVAL_MS) return;
    this.lastCheck = now;
    try {
      await this.check(new Set(registered));
    } catch (err) {
      this.logger.debug('could not look for runs of unregistered flows', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  private async check(registered: ReadonlySet<string>): Promise<void> {
    const page = await this.storage.listRuns({ status: 'RUNNING', limit: SAMPLE_SIZE, summary: true });
    const waiting = new Map<string, { count: number; example: string }>();
    for (const run of page.runs) {
      const key = flowKey(run.flowId, run.flowVersion);
      if (registered.has(key) || this.reported.has(key) || run.dueInMs > 0) continue;
      const seen = waiting.get(key);
      if (seen) seen.count += 1;
      else waiting.set(key, { count: 1, example: run.runId });
    }
    for (const [flowKey, { count, example }] of waiting) {
      this.reported.add(flowKey);
      this.logger.warn(
        `runs of flow ${flowKey} are due but this worker leaves them alone: the flow is not registered in this process ` +
          `(call engine.registerDefinition for it in the process that should run it). They stay RUNNING until a worker that registers it claims them.`,
        { flowKey, dueRunsSeen: count, exampleRunId: example, registered: [...registered] },
      );
    }
  }
}
