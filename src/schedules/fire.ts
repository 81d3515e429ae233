/**
 * Firing due ticks: what a worker's schedule loop calls (worker/schedule-loop.ts). One pass
 * claims a batch of due schedules (`claimDueSchedules`: across processes, each goes to one
 * claimer) and takes each through its steps (plan.ts), every step one fenced write that advances
 * the schedule and inserts its tick's run together (`fireSchedule`). A step refused by its fence
 * (the schedule was replaced, paused or deleted meanwhile) ends that schedule's turn: whoever
 * moved it decided. A worker that dies mid-pass loses its claims when their lease runs out, and
 * the next claimer goes on from the last step written.
 */
import type { Clock } from '../core/clock.js';
import { serializeJson } from '../core/json.js';
import { newRunOf } from '../engine/start.js';
import { flowControlOf } from '../definitions/flow-control.js';
import type { DefinitionRegistry } from '../engine/registry.js';
import type { ClaimedSchedule, FlowRunRecord, FlowStorage, NewRun } from '../storage/types.js';
import { planStep } from './plan.js';
import { TimetableCache } from './timetables.js';

/** How long a claim keeps a schedule from other claimers: far above a step's round trip. */
export const SCHEDULE_LEASE_MS = 10_000;
/** Steps one claim takes at most (a long catch-up goes on at the next claim). */
const MAX_STEPS_PER_CLAIM = 500;
/** Schedules taken through their steps at once within a pass. */
const PARALLEL_SCHEDULES = 8;

/** What firing needs of the engine. */
export interface ScheduleFiringEnv {
  storage: FlowStorage;
  registry: DefinitionRegistry;
  clock: Clock;
  maxJsonBytes: number;
  /** Cancels a live run of a schedule whose overlap is 'cancelPrevious' (already finished: ignored). */
  cancelRun(runId: string, reason: string): Promise<unknown>;
  /** A run was started (the engine's `run:started` hook). */
  runStarted(run: FlowRunRecord): void;
}

export interface FirePass {
  /** Schedules claimed by this pass. */
  claimed: number;
  /** Runs started. */
  started: number;
  /** The batch was full: more may be due at once. */
  more: boolean;
}

export class ScheduleFirer {
  private readonly timetables = new TimetableCache();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly env: ScheduleFiringEnv) {}

  /** Claims up to `batchSize` due schedules and fires what is due of each. */
  async fireDue(batchSize: number): Promise<FirePass> {
    const { now, schedules } = await this.env.storage.claimDueSchedules({ limit: batchSize, leaseMs: SCHEDULE_LEASE_MS });
    let started = 0;
    let failure: unknown = null;
    const queue = [...schedules];
    const lane = async () => {
      for (let s = queue.shift(); s; s = queue.shift()) {
        try {
          started += await this.fireClaimed(s, now);
        } catch (err) {
          failure ??= err; // the others go on; the claim of this one runs out and it is tried again
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_SCHEDULES, queue.length) }, lane));
    if (failure !== null) throw failure;
    return { claimed: schedules.length, started, more: schedules.length >= batchSize };
  }

  /** Milliseconds until the next schedule is due, by the store's clock; null when none is. */
  msUntilNext(): Promise<number | null> {
    return this.env.storage.msUntilNextSchedule();
  }

  /** Tells schedule loops in this process that a schedule changed (a new one may be due soon). */
  changed(): void {
    for (const listener of this.listeners) listener();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Takes one claimed schedule through its steps; returns how many runs it started. */
  private async fireClaimed(claimed: ClaimedSchedule, now: Date): Promise<number> {
    const timetable = this.timetables.of(claimed);
    let s = claimed;
    let live = [...claimed.liveRunIds];
    let started = 0;
    for (let steps = 0; ; steps++) {
      const plan = planStep(s, timetable, now, live.length > 0, SCHEDULE_LEASE_MS);
      if (steps >= MAX_STEPS_PER_CLAIM && plan.again) {
        // Let go; the next claim goes on from here.
        const unchanged = { nextFireAt: s.nextFireAt, dueAt: s.dueAt, buffered: s.buffered, holdMs: null };
        await this.env.storage.fireSchedule({ scheduleId: s.scheduleId, expectedRevision: s.revision, ...unchanged });
        return started;
      }
      for (const runId of plan.cancel) {
        await this.env
          .cancelRun(runId, `schedule ${s.scheduleId}: a new tick (${plan.start?.toISOString()}) cancels the previous run (overlap 'cancelPrevious')`)
          .catch(() => undefined);
      }
      if (plan.cancel.length > 0) live = [];
      const run = plan.start ? this.newRun(s, plan.start) : undefined;
      const result = await this.env.storage.fireSchedule({ scheduleId: s.scheduleId, expectedRevision: s.revision, ...plan.write, run });
      if (!result) return started; // replaced, paused or deleted meanwhile: the new row decides
      if (result.run) {
        started += 1;
        live.push(result.run.runId);
        this.env.runStarted(result.run);
      }
      if (!plan.again) return started;
      s = { ...result.schedule, liveRunIds: live, flowVersion: s.flowVersion, entryNodeId: s.entryNodeId };
    }
  }

  /** The run of tick `scheduledAt`: the flow's entry node from this process's definition, else from the stored graph. */
  private newRun(s: ClaimedSchedule, scheduledAt: Date): NewRun {
    const version = s.flowVersion!;
    const def = this.env.registry.get(s.flowId, version) ?? { flowId: s.flowId, version, entry: s.entryNodeId! };
    const input = serializeJson(s.input, { what: `input of schedule ${s.scheduleId}`, maxBytes: this.env.maxJsonBytes });
    const run = newRunOf(def, { input, state: '{}' as NewRun['state'], tenantId: null, idempotencyKey: null });
    // Its flow control keys, from this process's definition (a flow registered elsewhere has none here).
    const flowControl = 'nodes' in def ? flowControlOf(def, s.input ?? null) : null;
    return { ...run, scheduleId: s.scheduleId, scheduledAt, flowControl };
  }
}
