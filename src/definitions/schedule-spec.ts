/**
 * What a schedule is, as a user writes it (`engine.schedules.set`, the flow option `schedules`),
 * and the one check of it: every problem is found before anything is written, and reported
 * together, naming the field.
 */
import { InvalidArgumentError } from '../errors.js';
import { unstorableTextReason } from '../core/json.js';
import { cronProblem, isKnownTimeZone, parseDuration } from '../core/timetable.js';

/** What a tick does while the schedule's previous run is unfinished (RUNNING or WAITING). */
export type ScheduleOverlap = 'skip' | 'bufferOne' | 'bufferAll' | 'allow' | 'cancelPrevious';
/** Which ticks missed while no worker ran are fired late, within `catchupWindowMs`. */
export type ScheduleCatchup = 'none' | 'latest' | 'all';

export const SCHEDULE_OVERLAPS: readonly ScheduleOverlap[] = ['skip', 'bufferOne', 'bufferAll', 'allow', 'cancelPrevious'];
export const SCHEDULE_CATCHUPS: readonly ScheduleCatchup[] = ['none', 'latest', 'all'];

export const SCHEDULE_DEFAULTS = {
  timezone: 'UTC',
  overlap: 'skip',
  catchup: 'latest',
  /** One day. */
  catchupWindowMs: 86_400_000,
  jitterMs: 0,
} as const;

/** Shortest interval (`every`): one second, the finest a cron expression can say too. */
export const MIN_SCHEDULE_INTERVAL_MS = 1000;
/** Longest interval, catch-up window and jitter: a year. */
export const MAX_SCHEDULE_SPAN_MS = 366 * 86_400_000;
const MAX_SCHEDULE_ID_LENGTH = 200;

/** The argument of `engine.schedules.set`. */
export interface ScheduleOptions {
  /** Names the schedule; `set` with a known id replaces that schedule. */
  scheduleId: string;
  flowId: string;
  /** The flow version its runs start; absent: the newest version the store knows when the tick fires. */
  version?: string;
  /** A cron expression: 5 fields, or 6 with seconds first. Exactly one of `cron` and `every`. */
  cron?: string;
  /** An interval: milliseconds, or a duration such as `'15m'`, `'12h'`; at least one second. Ticks at whole multiples of it since the Unix epoch. */
  every?: number | string;
  /** IANA time zone the cron expression is read in (default `'UTC'`). */
  timezone?: string;
  /** Each run's input (default null). */
  input?: unknown;
  /** Default `'skip'`. */
  overlap?: ScheduleOverlap;
  /** Default `'latest'`. */
  catchup?: ScheduleCatchup;
  /** How late a missed tick may still be fired (default one day). */
  catchupWindowMs?: number;
  /** Each tick fires up to this many ms after its time, at random, so that schedules sharing a time spread out (default 0). */
  jitterMs?: number;
  /** Absent: a new schedule is active, a replaced one keeps its paused state. */
  paused?: boolean;
}

/** A schedule declared with its flow (flow option `schedules`): its flow is that flow; `version` absent = the newest. */
export type FlowScheduleOption = Omit<ScheduleOptions, 'flowId'>;

/**
 * A schedule's timetable and rules, defaults filled in, `every` in milliseconds: what a checked
 * schedule, a stored one and the one `engine.schedules` returns all have.
 */
export interface ScheduleFields {
  scheduleId: string;
  flowId: string;
  /** null: each tick starts the newest version the store knows then. */
  version: string | null;
  cron: string | null;
  /** The interval in milliseconds (a duration text given to `set` is stored as milliseconds); null with `cron`. */
  every: number | null;
  timezone: string;
  input: unknown;
  overlap: ScheduleOverlap;
  catchup: ScheduleCatchup;
  catchupWindowMs: number;
  jitterMs: number;
}

/** A checked schedule (`ScheduleFields`) and whether `set` said to pause it. */
export interface ScheduleSpec extends ScheduleFields {
  /** undefined: not said (see `ScheduleOptions.paused`). */
  paused: boolean | undefined;
}

const SET_KEYS = ['scheduleId', 'flowId', 'version', 'cron', 'every', 'timezone', 'input', 'overlap', 'catchup', 'catchupWindowMs', 'jitterMs', 'paused'];

const show = (v: unknown): string =>
  typeof v === 'string' ? JSON.stringify(v) : v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : String(v);

function textProblem(name: string, value: unknown, optional: boolean): string | null {
  if (value === undefined && optional) return null;
  if (typeof value !== 'string' || value.length === 0) return `${name} must be a non-empty string (got ${show(value)})`;
  const problem = unstorableTextReason(value);
  return problem ? `${name} ${problem}` : null;
}

function msProblem(name: string, value: unknown, min: number, max: number): string | null {
  if (value === undefined) return null;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max) return null;
  return `${name} must be a whole number of milliseconds from ${min} to ${max} (got ${show(value)})`;
}

/** Every problem of a schedule (`withFlowId`: a `set` argument; without, a flow's declared schedule). */
export function scheduleProblems(value: unknown, withFlowId: boolean): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return [`a schedule must be an object like { scheduleId, cron | every } (got ${show(value)})`];
  const s = value as Record<string, unknown>;
  const known = withFlowId ? SET_KEYS : SET_KEYS.filter((k) => k !== 'flowId');
  const problems = Object.keys(s)
    .filter((k) => !known.includes(k))
    .map((k) => `unknown schedule option ${JSON.stringify(k)} (the options are ${known.join(', ')})`);
  const push = (p: string | null) => p && problems.push(p);
  push(textProblem('scheduleId', s.scheduleId, false));
  if (typeof s.scheduleId === 'string' && s.scheduleId.length > MAX_SCHEDULE_ID_LENGTH)
    problems.push(`scheduleId must be at most ${MAX_SCHEDULE_ID_LENGTH} characters`);
  if (withFlowId) push(textProblem('flowId', s.flowId, false));
  push(textProblem('version', s.version, true));
  problems.push(...timetableProblems(s));
  if (s.overlap !== undefined && !SCHEDULE_OVERLAPS.includes(s.overlap as ScheduleOverlap)) {
    problems.push(`overlap must be one of ${SCHEDULE_OVERLAPS.map((o) => `'${o}'`).join(', ')} (got ${show(s.overlap)})`);
  }
  if (s.catchup !== undefined && !SCHEDULE_CATCHUPS.includes(s.catchup as ScheduleCatchup)) {
    problems.push(`catchup must be one of ${SCHEDULE_CATCHUPS.map((o) => `'${o}'`).join(', ')} (got ${show(s.catchup)})`);
  }
  push(msProblem('catchupWindowMs', s.catchupWindowMs, 1000, MAX_SCHEDULE_SPAN_MS));
  push(msProblem('jitterMs', s.jitterMs, 0, MAX_SCHEDULE_SPAN_MS));
  if (s.paused !== undefined && typeof s.paused !== 'boolean') problems.push(`paused must be a boolean (got ${show(s.paused)})`);
  return problems;
}

/** Problems of a timetable: `cron` xor `every`, and `timezone`. */
export function timetableProblems(s: { cron?: unknown; every?: unknown; timezone?: unknown }): string[] {
  const problems: string[] = [];
  const tz = s.timezone ?? SCHEDULE_DEFAULTS.timezone;
  const tzOk = typeof tz === 'string' && tz.length > 0 && isKnownTimeZone(tz);
  if (!tzOk) problems.push(`timezone ${show(tz)} is not a time zone this platform knows (an IANA name such as "Europe/Berlin", or "UTC")`);
  if ((s.cron === undefined) === (s.every === undefined)) {
    problems.push(s.cron === undefined ? 'give one of cron and every (neither was given)' : 'give one of cron and every, not both');
  } else if (s.cron !== undefined) {
    if (typeof s.cron !== 'string' || s.cron.trim().length === 0) problems.push(`cron must be a cron expression (got ${show(s.cron)})`);
    else if (tzOk) {
      const problem = cronProblem(s.cron, tz as string);
      if (problem) problems.push(`cron ${JSON.stringify(s.cron)} is not a valid cron expression (5 fields, or 6 with seconds first): ${problem}`);
    }
  } else {
    const ms = typeof s.every === 'number' || typeof s.every === 'string' ? parseDuration(s.every) : null;
    if (ms === null) problems.push(`every must be milliseconds or a duration such as '15m', '12h', '90s' (got ${show(s.every)})`);
    else if (ms < MIN_SCHEDULE_INTERVAL_MS) problems.push(`every must be at least one second (got ${ms} ms)`);
    else if (ms > MAX_SCHEDULE_SPAN_MS) problems.push(`every must be at most ${MAX_SCHEDULE_SPAN_MS} ms (a year)`);
  }
  return problems;
}

/** The checked, filled-in form of a `set` argument; `InvalidArgumentError` listing every problem otherwise. */
export function compileSchedule(where: string, value: unknown, flow?: { flowId: string }): ScheduleSpec {
  const problems = scheduleProblems(value, flow === undefined);
  if (problems.length > 0) throw new InvalidArgumentError(`${where}: ${problems.join('; ')}`);
  const s = value as ScheduleOptions;
  return {
    scheduleId: s.scheduleId,
    flowId: flow?.flowId ?? s.flowId,
    version: s.version ?? null,
    cron: s.cron ?? null,
    every: s.every === undefined ? null : parseDuration(s.every),
    timezone: s.timezone ?? SCHEDULE_DEFAULTS.timezone,
    input: s.input === undefined ? null : s.input,
    overlap: s.overlap ?? SCHEDULE_DEFAULTS.overlap,
    catchup: s.catchup ?? SCHEDULE_DEFAULTS.catchup,
    catchupWindowMs: s.catchupWindowMs ?? SCHEDULE_DEFAULTS.catchupWindowMs,
    jitterMs: s.jitterMs ?? SCHEDULE_DEFAULTS.jitterMs,
    paused: s.paused,
  };
}
