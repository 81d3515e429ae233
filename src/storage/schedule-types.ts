/**
 * The schedules part of the storage contract (`FlowStorage`, types.ts). A schedule is one row:
 * its definition, where its timetable stands (`nextFireAt`, `dueAt`), what it did last, and a
 * fence (`revision`). Firing a tick is one write fenced by the revision — the schedule advanced and
 * the tick's run inserted together — and the runs table holds at most one run per (schedule, tick)
 * (a unique index on SQL stores): a tick can start two runs neither by a race nor by a replay.
 */
import type { JsonText } from '../core/json.js';
import type { ScheduleFields } from '../definitions/schedule-spec.js';
import type { FlowRunRecord, NewRun } from './types.js';

/** Why a tick started no run. */
export type ScheduleSkipReason =
  /** The previous run was unfinished (overlap 'skip', or 'bufferOne' with one tick already buffered). */
  | 'overlap'
  /** Missed while no worker ran, and not caught up (catch-up rule or window). */
  | 'missed'
  /** No version of the flow is known to the store (or not the pinned one). */
  | 'flowNotFound';

export interface ScheduleSkip {
  /** The tick (ISO). With several missed at once, the latest of them. */
  scheduledAt: string;
  reason: ScheduleSkipReason;
  /** In words, for people. */
  message: string;
  /** When it was decided (ISO, the store's clock). */
  at: string;
}

/** A schedule as stored. */
export interface ScheduleRecord extends ScheduleFields {
  paused: boolean;
  /** The next tick of the timetable; null while paused (or when the expression never fires again). */
  nextFireAt: Date | null;
  /** When the schedule is next worth a look: `nextFireAt` plus its jitter, or the oldest buffered tick. */
  dueAt: Date | null;
  /** The tick of the newest run the timetable started. */
  lastFireAt: Date | null;
  lastSkip: ScheduleSkip | null;
  /** Ticks (ISO, oldest first) that wait for the previous run to end (overlap 'bufferOne' / 'bufferAll'). */
  buffered: string[];
  createdAt: Date;
  updatedAt: Date;
  /** Fence: +1 on every write. */
  revision: number;
}

/** A schedule written by `saveSchedule`; `lastFireAt`, `lastSkip`, `buffered` and `createdAt` of a replaced one are kept. */
export interface ScheduleWrite extends Omit<ScheduleFields, 'input'> {
  input: JsonText;
  paused: boolean;
  nextFireAt: Date | null;
  dueAt: Date | null;
}

/** A due schedule a worker has claimed, with what deciding its tick needs, read in the same statement. */
export interface ClaimedSchedule extends ScheduleRecord {
  /** Its runs that are RUNNING or WAITING, oldest first. */
  liveRunIds: string[];
  /** The version a run would start (`version`, or the newest the store knows); null when none is known. */
  flowVersion: string | null;
  /** That version's entry node (from the stored graph); null when none is known. */
  entryNodeId: string | null;
}

export interface ScheduleClaim {
  /** The store's clock at the claim: what is due, late or missed is reckoned from it. */
  now: Date;
  schedules: ClaimedSchedule[];
}

/**
 * One step of a claimed schedule, written at once: the new timetable position, what it did (a
 * run, a skip, a buffered tick), and whether the claim ends. Refused (null) when the revision
 * moved; the run is not inserted when its (schedule, tick) already has one.
 */
export interface ScheduleStep {
  scheduleId: string;
  expectedRevision: number;
  nextFireAt: Date | null;
  dueAt: Date | null;
  /** Set when the timetable started a run; unchanged when absent. */
  lastFireAt?: Date;
  /** Set when a tick started no run; unchanged when absent. */
  lastSkip?: ScheduleSkip;
  buffered: string[];
  /** Keep the claim this many ms more (a buffered tick waits for a run to end); null: let go. */
  holdMs: number | null;
  /** The tick's run, with `scheduleId` and `scheduledAt` set. */
  run?: NewRun;
}

export interface ScheduleStepResult {
  schedule: ScheduleRecord;
  /** The run inserted; null when the step carried none or its tick already had one. */
  run: FlowRunRecord | null;
}
