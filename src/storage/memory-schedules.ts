/**
 * The memory store's schedules: the SQL store's flow_schedules table and its statements
 * (statements/*-schedule*.ts), kept apart from memory.ts. A step's write — the schedule advanced,
 * the tick's run inserted — happens in one synchronous stretch, so nothing can come between its
 * parts, as one SQL statement would have it; the run table refuses a second run for one
 * (schedule, tick) as the SQL store's unique index does.
 */
import type { JsonText } from '../core/json.js';
import type { ClaimedSchedule, ScheduleClaim, ScheduleRecord, ScheduleStep, ScheduleStepResult, ScheduleWrite } from './schedule-types.js';
import type { FlowRunRecord, NewRun } from './types.js';

type ScheduleRow = Omit<ScheduleRecord, 'input'> & { input: JsonText; claimedUntil: number | null };

/** What the schedules need of the memory store they live in. */
export interface MemoryScheduleHost {
  /** The store's clock (the engine's, when it passed one). */
  now(): number;
  /** The schedule's RUNNING/WAITING runs, oldest first. */
  liveRunIds(scheduleId: string): string[];
  /** The newest stored definition of `flowId` (or exactly `version`): its version and entry node. */
  definitionFor(flowId: string, version: string | null): { version: string; entry: string } | null;
  /** Inserts the run unless its idempotency key or (schedule, tick) has one already, synchronously. */
  insertRun(run: NewRun): { run: FlowRunRecord; created: boolean };
}

export class MemorySchedules {
  private readonly rows = new Map<string, ScheduleRow>();

  constructor(private readonly host: MemoryScheduleHost) {}

  save(s: ScheduleWrite, expectedRevision: number | null): ScheduleRecord | null {
    const existing = this.rows.get(s.scheduleId);
    if (expectedRevision === null ? existing !== undefined : existing?.revision !== expectedRevision) return null;
    const now = new Date(this.host.now());
    const row: ScheduleRow = {
      ...s,
      nextFireAt: copyDate(s.nextFireAt),
      dueAt: copyDate(s.dueAt),
      lastFireAt: existing?.lastFireAt ?? null,
      lastSkip: existing?.lastSkip ?? null,
      buffered: existing?.buffered ?? [],
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
      revision: (existing?.revision ?? 0) + 1,
      claimedUntil: null,
    };
    this.rows.set(s.scheduleId, row);
    return recordOf(row);
  }

  get(scheduleId: string): ScheduleRecord | null {
    const row = this.rows.get(scheduleId);
    return row ? recordOf(row) : null;
  }

  list(filter: { flowId?: string }): ScheduleRecord[] {
    return [...this.rows.values()]
      .filter((r) => filter.flowId === undefined || r.flowId === filter.flowId)
      .sort((a, b) => (a.scheduleId < b.scheduleId ? -1 : a.scheduleId > b.scheduleId ? 1 : 0))
      .map(recordOf);
  }

  delete(scheduleId: string): boolean {
    return this.rows.delete(scheduleId);
  }

  claim(query: { limit: number; leaseMs: number }): ScheduleClaim {
    const now = this.host.now();
    const due = [...this.rows.values()]
      .filter((r) => !r.paused && r.dueAt !== null && r.dueAt.getTime() <= now && (r.claimedUntil === null || r.claimedUntil <= now))
      .sort((a, b) => a.dueAt!.getTime() - b.dueAt!.getTime() || (a.scheduleId < b.scheduleId ? -1 : 1))
      .slice(0, Math.max(0, Math.floor(query.limit)));
    const schedules: ClaimedSchedule[] = due.map((row) => {
      row.claimedUntil = now + query.leaseMs;
      const def = this.host.definitionFor(row.flowId, row.version);
      return { ...recordOf(row), liveRunIds: this.host.liveRunIds(row.scheduleId), flowVersion: def?.version ?? null, entryNodeId: def?.entry ?? null };
    });
    return { now: new Date(now), schedules };
  }

  fire(step: ScheduleStep): ScheduleStepResult | null {
    const row = this.rows.get(step.scheduleId);
    if (!row || row.revision !== step.expectedRevision) return null;
    const now = this.host.now();
    row.nextFireAt = copyDate(step.nextFireAt);
    row.dueAt = copyDate(step.dueAt);
    if (step.lastFireAt) row.lastFireAt = copyDate(step.lastFireAt);
    if (step.lastSkip) row.lastSkip = { ...step.lastSkip };
    row.buffered = [...step.buffered];
    row.claimedUntil = step.holdMs === null ? null : now + step.holdMs;
    row.revision += 1;
    row.updatedAt = new Date(now);
    const inserted = step.run ? this.host.insertRun(step.run) : null;
    return { schedule: recordOf(row), run: inserted?.created ? inserted.run : null };
  }

  msUntilNext(): number | null {
    const now = this.host.now();
    let best: number | null = null;
    for (const r of this.rows.values()) {
      const ms = r.paused || r.dueAt === null ? 0 : r.dueAt.getTime() - now;
      if (ms > 0 && (best === null || ms < best)) best = ms;
    }
    return best;
  }
}

function copyDate(d: Date | null | undefined): Date | null {
  return d ? new Date(d.getTime()) : null;
}

/** A fresh copy, values parsed from their text, as a database read gives. */
function recordOf(row: ScheduleRow): ScheduleRecord {
  return {
    scheduleId: row.scheduleId,
    flowId: row.flowId,
    version: row.version,
    cron: row.cron,
    every: row.every,
    timezone: row.timezone,
    input: JSON.parse(row.input),
    overlap: row.overlap,
    catchup: row.catchup,
    catchupWindowMs: row.catchupWindowMs,
    jitterMs: row.jitterMs,
    paused: row.paused,
    nextFireAt: copyDate(row.nextFireAt),
    dueAt: copyDate(row.dueAt),
    lastFireAt: copyDate(row.lastFireAt),
    lastSkip: row.lastSkip ? { ...row.lastSkip } : null,
    buffered: [...row.buffered],
    createdAt: new Date(row.createdAt),
    updatedAt: new Date(row.updatedAt),
    revision: row.revision,
  };
}
