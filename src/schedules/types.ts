/**
 * Public types of schedules: a schedule as `engine.schedules` returns it, and what `preview`
 * takes. What `set` takes (`ScheduleOptions`) lives with its check, in definitions/schedule-spec.ts.
 */
import type { ScheduleFields } from '../definitions/schedule-spec.js';
import type { ScheduleSkip } from '../storage/types.js';

export interface FlowSchedule extends ScheduleFields {
  paused: boolean;
  /** The next tick (ISO); null while paused. */
  nextFireAt: string | null;
  /** The tick of the newest run the timetable started (ISO); null before the first. */
  lastFireAt: string | null;
  /** The last tick that started no run, and why; null if none. */
  lastSkip: ScheduleSkip | null;
  /** Ticks (ISO, oldest first) waiting for the previous run to end (overlap 'bufferOne' / 'bufferAll'). */
  buffered: string[];
  createdAt: Date;
  updatedAt: Date;
}

export interface SchedulePreviewOptions {
  cron?: string;
  every?: number | string;
  /** Default 'UTC'. */
  timezone?: string;
  /** Fire times strictly after this (default now). */
  from?: Date | string | number;
  /** How many (default 5, at most 1000). */
  count?: number;
}
