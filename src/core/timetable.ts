/**
 * A schedule's timetable: the instants it fires at, from a cron expression in a time zone or from
 * a fixed interval. Cron parsing and time-zone arithmetic are croner's (no dependencies, IANA zones
 * through the platform's Intl, daylight-saving rules of the OCPS spec): a time that a spring-forward
 * change skips fires at the first valid time after the gap for a fixed-time expression (`30 2 * * *`),
 * and is skipped by an interval-like one (`0 * * * *`, `*\/5 * * * *`); a time that a fall-back
 * change repeats fires once for a fixed-time expression, on both occurrences for an interval-like
 * one. We never do that arithmetic ourselves.
 *
 * An interval (`every`) ticks at whole multiples of its length since the Unix epoch, so a timetable
 * is a pure function of its definition: every process, and `preview`, agree on the ticks without
 * reading anything, and re-declaring a schedule never moves them.
 */
import { Cron } from 'croner';
import { parseDurationMs } from '../config.js';

export interface TimetableDefinition {
  /** 5 fields, or 6 with seconds first; null with `everyMs`. */
  cron: string | null;
  /** Interval in ms; null with `cron`. */
  everyMs: number | null;
  /** IANA name; applies to `cron` (an interval is the same in every zone). */
  timezone: string;
}

export interface Timetable {
  /** The first tick strictly after `after`; null when the expression never fires again. */
  next(after: Date): Date | null;
  /** The latest tick at or before `at` and not before `notBefore`; null when there is none in between. */
  latest(at: Date, notBefore: Date): Date | null;
}

/** Whether `name` is a time zone this platform knows (an IANA name such as `Europe/Berlin`, or `UTC`). */
export function isKnownTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** Why `cron` is not an expression this package accepts (5 fields, or 6 with seconds first), or null. */
export function cronProblem(cron: string, timezone: string): string | null {
  try {
    const job = compileCron(cron, timezone);
    if (job.nextRun(new Date(0)) === null) return 'never fires';
    return null;
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).replace(/^CronPattern: /, '');
  }
}

function compileCron(cron: string, timezone: string): Cron {
  // `paused`: croner only computes here; ticks are fired by the workers, from the database.
  return new Cron(cron, { paused: true, timezone, mode: '5-or-6-parts' });
}

export function compileTimetable(def: TimetableDefinition): Timetable {
  if (def.everyMs !== null) return intervalTimetable(def.everyMs);
  if (def.cron === null) throw new TypeError('compileTimetable: a cron expression or an interval is required');
  const job = compileCron(def.cron, def.timezone);
  return {
    next: (after) => job.nextRun(after),
    latest: (at, notBefore) => {
      // croner counts a run earlier in the reference's second as "previous": 1 ms past `at` includes a tick at `at`.
      const [tick] = job.previousRuns(1, new Date(at.getTime() + 1));
      return tick && tick.getTime() <= at.getTime() && tick.getTime() >= notBefore.getTime() ? tick : null;
    },
  };
}

function intervalTimetable(everyMs: number): Timetable {
  return {
    next: (after) => new Date((Math.floor(after.getTime() / everyMs) + 1) * everyMs),
    latest: (at, notBefore) => {
      const tick = Math.floor(at.getTime() / everyMs) * everyMs;
      return tick >= notBefore.getTime() ? new Date(tick) : null;
    },
  };
}

/**
 * An interval given as milliseconds or as a duration text (`'15m'`, `'90s'`, `'2d'`, `'500ms'`,
 * `'1.5h'`; config.ts `parseDurationMs`, the package's one reading of durations). Null for anything else.
 */
export function parseDuration(value: number | string): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : null;
  if (typeof value !== 'string' || value.trim() === '') return null;
  try {
    return parseDurationMs('every', value) ?? null;
  } catch {
    return null;
  }
}
