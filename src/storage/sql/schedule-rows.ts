/**
 * Rows of flow_schedules and their conversion (the schedules migration): what the schedule
 * statements (statements/*-schedule*.ts) return and the parameters they take.
 */
import type { ScheduleCatchup, ScheduleOverlap } from '../../definitions/schedule-spec.js';
import type { ClaimedSchedule, ScheduleRecord, ScheduleSkip, ScheduleWrite } from '../schedule-types.js';

/**
 * The columns of a schedule row, named one by one (a prepared statement's result type must not
 * change when a later migration adds a column). `claimed_until` is the claim's, never read back.
 */
const SCHEDULE_COLUMNS = [
  'schedule_id',
  'flow_id',
  'flow_version',
  'cron',
  'every_ms',
  'timezone',
  'input_json',
  'overlap',
  'catchup',
  'catchup_window_ms',
  'jitter_ms',
  'paused',
  'next_fire_at',
  'due_at',
  'last_fire_at',
  'last_skip_json',
  'buffered_json',
  'created_at',
  'updated_at',
  'revision',
] as const;

/** `a.schedule_id, a.flow_id, …`: every schedule column of `alias`. */
export function scheduleColumnsSql(alias: string): string {
  return SCHEDULE_COLUMNS.map((c) => `${alias}.${c}`).join(', ');
}

/** A schedule row. BIGINT columns may arrive as strings (pg) or bigints (Prisma). */
export type ScheduleRow = {
  schedule_id: string;
  flow_id: string;
  flow_version: string | null;
  cron: string | null;
  every_ms: number | string | bigint | null;
  timezone: string;
  input_json: unknown;
  overlap: ScheduleOverlap;
  catchup: ScheduleCatchup;
  catchup_window_ms: number | string | bigint;
  jitter_ms: number | string | bigint;
  paused: boolean;
  next_fire_at: Date | null;
  due_at: Date | null;
  last_fire_at: Date | null;
  last_skip_json: ScheduleSkip | null;
  buffered_json: string[];
  created_at: Date;
  updated_at: Date;
  revision: number;
};

/** A claimed row (statements/claim-due-schedules.ts): the schedule and what deciding its tick needs. */
export type ClaimedScheduleRow = ScheduleRow & {
  live_run_ids: string[] | null;
  resolved_version: string | null;
  entry_node_id: string | null;
  claimed_at: Date;
};

const toDateOrNull = (v: Date | string | null | undefined): Date | null => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(v));

export function toScheduleRecord(row: ScheduleRow): ScheduleRecord {
  return {
    scheduleId: row.schedule_id,
    flowId: row.flow_id,
    version: row.flow_version ?? null,
    cron: row.cron ?? null,
    every: row.every_ms === null || row.every_ms === undefined ? null : Number(row.every_ms),
    timezone: row.timezone,
    input: row.input_json ?? null,
    overlap: row.overlap,
    catchup: row.catchup,
    catchupWindowMs: Number(row.catchup_window_ms),
    jitterMs: Number(row.jitter_ms),
    paused: row.paused === true,
    nextFireAt: toDateOrNull(row.next_fire_at),
    dueAt: toDateOrNull(row.due_at),
    lastFireAt: toDateOrNull(row.last_fire_at),
    lastSkip: row.last_skip_json ?? null,
    buffered: Array.isArray(row.buffered_json) ? row.buffered_json : [],
    createdAt: toDateOrNull(row.created_at)!,
    updatedAt: toDateOrNull(row.updated_at)!,
    revision: Number(row.revision),
  };
}

export function toClaimedSchedule(row: ClaimedScheduleRow): ClaimedSchedule {
  return {
    ...toScheduleRecord(row),
    liveRunIds: row.live_run_ids ?? [],
    flowVersion: row.resolved_version ?? null,
    entryNodeId: row.entry_node_id ?? null,
  };
}

/** `saveSchedule`'s parameters $1…$14 (see statements/save-schedule.ts). */
export function scheduleWriteParams(s: ScheduleWrite): Array<string | number | boolean | null> {
  return [
    s.scheduleId,
    s.flowId,
    s.version,
    s.cron,
    s.every,
    s.timezone,
    s.input,
    s.overlap,
    s.catchup,
    s.catchupWindowMs,
    s.jitterMs,
    s.paused,
    s.nextFireAt?.toISOString() ?? null,
    s.dueAt?.toISOString() ?? null,
  ];
}
