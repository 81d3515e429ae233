/**
 * Schedules on the SQL store: the `FlowStorage` schedule methods over their statements
 * (statements/*-schedule*.ts), and the wake-up a fired tick owes its new run.
 */
import type { ScheduleClaim, ScheduleRecord, ScheduleStep, ScheduleStepResult, ScheduleWrite } from '../schedule-types.js';
import type { SqlExecutor } from './executor.js';
import { newRunJson } from './statements/create-runs.js';
import type { Statements } from './statements/index.js';
import { toRunRecord, type RunReadRow } from './rows.js';
import { scheduleWriteParams, toClaimedSchedule, toScheduleRecord, type ClaimedScheduleRow, type ScheduleRow } from './schedule-rows.js';
import type { WakeHub } from './wake.js';

export class SqlSchedules {
  constructor(
    private readonly executor: SqlExecutor,
    private readonly sql: Statements,
    private readonly wake: WakeHub,
  ) {}

  async save(schedule: ScheduleWrite, expectedRevision: number | null): Promise<ScheduleRecord | null> {
    const [row] = await this.executor.query<ScheduleRow>(this.sql.saveSchedule, [...scheduleWriteParams(schedule), expectedRevision]);
    return row ? toScheduleRecord(row) : null;
  }

  async get(scheduleId: string): Promise<ScheduleRecord | null> {
    const [row] = await this.executor.query<ScheduleRow>(this.sql.getSchedule, [scheduleId]);
    return row ? toScheduleRecord(row) : null;
  }

  async list(filter: { flowId?: string }): Promise<ScheduleRecord[]> {
    return (await this.executor.query<ScheduleRow>(this.sql.listSchedules, [filter.flowId ?? null])).map(toScheduleRecord);
  }

  async delete(scheduleId: string): Promise<boolean> {
    return (await this.executor.query(this.sql.deleteSchedule, [scheduleId])).length > 0;
  }

  async claim(query: { limit: number; leaseMs: number }): Promise<ScheduleClaim> {
    const limit = Math.max(0, Math.floor(query.limit));
    const rows = limit === 0 ? [] : await this.executor.query<ClaimedScheduleRow>(this.sql.claimDueSchedules, [limit, query.leaseMs]);
    // No row, no clock reading: the claim's own "now" is only needed to decide the rows it took.
    const now = rows[0]?.claimed_at ?? new Date();
    return { now: now instanceof Date ? now : new Date(now), schedules: rows.map(toClaimedSchedule) };
  }

  async fire(step: ScheduleStep): Promise<ScheduleStepResult | null> {
    const params = [
      step.scheduleId,
      step.expectedRevision,
      step.nextFireAt?.toISOString() ?? null,
      step.dueAt?.toISOString() ?? null,
      step.lastFireAt?.toISOString() ?? null,
      step.lastSkip ? JSON.stringify(step.lastSkip) : null,
      JSON.stringify(step.buffered),
      step.holdMs,
      step.run ? `[${newRunJson(step.run)}]` : '[]',
    ];
    const runId = step.run?.runId ?? null;
    const [row] = await this.wake.announcing(
      runId,
      () => this.executor.query<ScheduleRow & { run: RunReadRow | null; woke: number }>(this.sql.fireSchedule, params),
      ([r]) => (r?.run ? [r.run.run_id] : []),
    );
    if (!row) return null;
    return { schedule: toScheduleRecord(row), run: row.run ? toRunRecord(row.run) : null };
  }

  async msUntilNext(): Promise<number | null> {
    const [row] = await this.executor.query(this.sql.msUntilNextSchedule);
    return row ? Number(row.ms) : null;
  }
}
