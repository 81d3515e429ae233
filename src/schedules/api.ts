/**
 * `engine.schedules`: create, replace, read, pause, resume, delete and trigger schedules, and
 * preview a timetable. Every change is a compare-and-set on the schedule's revision, retried on a
 * race, so it never overwrites a tick fired meanwhile with an older view of the row; firing ticks
 * is the workers' (fire.ts). Bad input is refused with a typed error before anything is written.
 */
import { FlowError, FlowNotFoundError, InvalidArgumentError, ScheduleNotFoundError } from '../errors.js';
import type { Clock } from '../core/clock.js';
import { serializeJson, unstorableTextReason, type JsonText } from '../core/json.js';
import { compileSchedule, timetableProblems, type ScheduleOptions, type ScheduleSpec } from '../definitions/schedule-spec.js';
import { parseDuration } from '../core/timetable.js';
import { newRunOf } from '../engine/start.js';
import { flowControlOf } from '../definitions/flow-control.js';
import type { FlowDefinition } from '../definitions/types.js';
import type { DefinitionRegistry } from '../engine/registry.js';
import type { FlowRunRecord, FlowStorage, NewRun, ScheduleRecord, ScheduleWrite } from '../storage/types.js';
import { dueAtOf } from './plan.js';
import { TimetableCache } from './timetables.js';
import type { FlowSchedule, SchedulePreviewOptions } from './types.js';

/** A flow not registered here: its flow control is unknown in this process (its runs get none). */
const NO_FLOW_CONTROL = {} as FlowDefinition;

/** Compare-and-set rounds before a change gives up (each lost round means someone else wrote the row). */
const MAX_CAS_ROUNDS = 20;
const MAX_PREVIEW = 1000;

export interface ScheduleApiEnv {
  storage: FlowStorage;
  registry: DefinitionRegistry;
  clock: Clock;
  maxJsonBytes: number;
  ready(): Promise<void>;
  runStarted(run: FlowRunRecord): void;
  /** A schedule changed: wake this process's schedule loops. */
  changed(): void;
}

export class FlowSchedules {
  private readonly timetables = new TimetableCache();

  constructor(private readonly env: ScheduleApiEnv) {}

  /**
   * Creates the schedule, or replaces the one with this `scheduleId`. A replaced schedule keeps
   * its place in the timetable when the timetable (cron or interval, and time zone) is unchanged,
   * what it did last, and — unless `paused` is given — its paused state; an identical one is not
   * written at all (every process declares its flows' schedules at start).
   */
  async set(options: ScheduleOptions): Promise<FlowSchedule> {
    const spec = compileSchedule('schedules.set', options);
    const input = serializeJson(spec.input, { what: 'schedule input', maxBytes: this.env.maxJsonBytes });
    await this.env.ready();
    await this.requireFlow(spec.flowId, spec.version);
    return this.change(spec.scheduleId, true, (existing) => this.writeOf(spec, input, existing));
  }

  async get(scheduleId: string): Promise<FlowSchedule | null> {
    requireId('schedules.get', scheduleId);
    await this.env.ready();
    const s = await this.env.storage.getSchedule(scheduleId);
    return s ? toFlowSchedule(s) : null;
  }

  /** Every schedule (or those of `flowId`), by id. */
  async list(filter: { flowId?: string } = {}): Promise<FlowSchedule[]> {
    if (typeof filter !== 'object' || filter === null) throw new InvalidArgumentError('schedules.list: filter must be an object like { flowId }');
    if (filter.flowId !== undefined) requireId('schedules.list', filter.flowId, 'flowId');
    await this.env.ready();
    return (await this.env.storage.listSchedules({ flowId: filter.flowId })).map(toFlowSchedule);
  }

  /** No tick fires while paused (`nextFireAt` is null); buffered ticks wait. */
  async pause(scheduleId: string): Promise<FlowSchedule> {
    requireId('schedules.pause', scheduleId);
    await this.env.ready();
    return this.change(scheduleId, false, (s) => (s!.paused ? null : { ...writeOf(s!), paused: true, nextFireAt: null, dueAt: null }));
  }

  /** Ticks fire again from the next one after now: those that fell while paused are not caught up. */
  async resume(scheduleId: string): Promise<FlowSchedule> {
    requireId('schedules.resume', scheduleId);
    await this.env.ready();
    return this.change(scheduleId, false, (s) => {
      if (!s!.paused) return null;
      const nextFireAt = this.timetables.of(s!).next(this.now());
      return { ...writeOf(s!), paused: false, nextFireAt, dueAt: dueAtOf(s!.scheduleId, nextFireAt, s!.jitterMs, s!.buffered) };
    });
  }

  /** Deletes the schedule; the runs it started stay (with their `scheduleId`). */
  async delete(scheduleId: string): Promise<void> {
    requireId('schedules.delete', scheduleId);
    await this.env.ready();
    if (!(await this.env.storage.deleteSchedule(scheduleId))) throw new ScheduleNotFoundError(scheduleId);
  }

  /**
   * Starts one run now, outside the timetable (its `scheduledAt` is now), whatever the overlap
   * rule and whether the schedule is paused; the timetable is left as it is.
   */
  async trigger(scheduleId: string): Promise<{ runId: string }> {
    requireId('schedules.trigger', scheduleId);
    await this.env.ready();
    const s = await this.env.storage.getSchedule(scheduleId);
    if (!s) throw new ScheduleNotFoundError(scheduleId);
    const def = await this.definitionFor(s.flowId, s.version);
    const input = serializeJson(s.input, { what: `input of schedule ${scheduleId}`, maxBytes: this.env.maxJsonBytes });
    const run: NewRun = {
      ...newRunOf(def, { input, state: '{}' as JsonText, tenantId: null, idempotencyKey: null }),
      scheduleId,
      scheduledAt: this.now(),
      flowControl: flowControlOf(this.env.registry.get(def.flowId, def.version) ?? NO_FLOW_CONTROL, s.input ?? null),
    };
    const created = await this.env.storage.createRun(run);
    if (created.created) this.env.runStarted(created.run);
    return { runId: created.run.runId };
  }

  /** The next `count` (default 5, at most 1000) fire times after `from` (default now), as ISO strings. */
  async preview(options: SchedulePreviewOptions): Promise<string[]> {
    if (typeof options !== 'object' || options === null)
      throw new InvalidArgumentError('schedules.preview: expected { cron | every, timezone?, from?, count? }');
    const problems = timetableProblems(options);
    const count = options.count ?? 5;
    if (!Number.isSafeInteger(count) || count < 1 || count > MAX_PREVIEW)
      problems.push(`count must be an integer from 1 to ${MAX_PREVIEW} (got ${String(count)})`);
    const from = options.from === undefined ? this.now() : new Date(options.from);
    if (Number.isNaN(from.getTime())) problems.push(`from must be a date, an ISO time or milliseconds since the epoch (got ${String(options.from)})`);
    if (problems.length > 0) throw new InvalidArgumentError(`schedules.preview: ${problems.join('; ')}`);
    const timetable = this.timetables.of({
      cron: options.cron ?? null,
      every: options.every === undefined ? null : parseDuration(options.every),
      timezone: options.timezone ?? 'UTC',
    });
    const ticks: string[] = [];
    for (let at: Date | null = timetable.next(from); at !== null && ticks.length < count; at = timetable.next(at)) ticks.push(at.toISOString());
    return ticks;
  }

  /**
   * Read, decide, write if the row is still as read; again on a race. `decide` returns the new
   * row, or null to leave it as it is. `creates`: a missing schedule is created (else refused).
   */
  private async change(scheduleId: string, creates: boolean, decide: (existing: ScheduleRecord | null) => ScheduleWrite | null): Promise<FlowSchedule> {
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      const existing = await this.env.storage.getSchedule(scheduleId);
      if (!existing && !creates) throw new ScheduleNotFoundError(scheduleId);
      const write = decide(existing);
      if (write === null) return toFlowSchedule(existing!);
      const saved = await this.env.storage.saveSchedule(write, existing?.revision ?? null);
      if (saved) {
        this.env.changed();
        return toFlowSchedule(saved);
      }
    }
    throw FlowError.retryable('SCHEDULE_CONTENDED', `Schedule ${scheduleId} kept changing under this write (${MAX_CAS_ROUNDS} tries); try again`);
  }

  /** The row `spec` makes of `existing` (null: it is already that). */
  private writeOf(spec: ScheduleSpec, input: JsonText, existing: ScheduleRecord | null): ScheduleWrite | null {
    const paused = spec.paused ?? existing?.paused ?? false;
    const sameTimetable = existing !== null && existing.cron === spec.cron && existing.every === spec.every && existing.timezone === spec.timezone;
    const keepsPlace = sameTimetable && !existing.paused && !paused;
    const nextFireAt = paused ? null : keepsPlace ? existing.nextFireAt : this.timetables.of(spec).next(this.now());
    const write: ScheduleWrite = {
      scheduleId: spec.scheduleId,
      flowId: spec.flowId,
      version: spec.version,
      cron: spec.cron,
      every: spec.every,
      timezone: spec.timezone,
      input,
      overlap: spec.overlap,
      catchup: spec.catchup,
      catchupWindowMs: spec.catchupWindowMs,
      jitterMs: spec.jitterMs,
      paused,
      nextFireAt,
      dueAt: paused ? null : dueAtOf(spec.scheduleId, nextFireAt, spec.jitterMs, existing?.buffered ?? []),
    };
    if (existing && sameRow(existing, write)) return null;
    return write;
  }

  /** `flowId` (at `version`, when given) must be known to the store: registered here or by another process. */
  private async requireFlow(flowId: string, version: string | null): Promise<void> {
    if (version !== null ? this.env.registry.get(flowId, version) : this.env.registry.definitions().some((d) => d.flowId === flowId)) return;
    const stored = await this.env.storage.listDefinitions();
    if (!stored.some((d) => d.flowId === flowId && (version === null || d.version === version)))
      throw new FlowNotFoundError(flowId, version ?? '(any version)');
  }

  /** The definition a run of the schedule starts: the pinned version, or the newest the store knows. */
  private async definitionFor(flowId: string, version: string | null): Promise<{ flowId: string; version: string; entry: string }> {
    if (version !== null) {
      const here = this.env.registry.get(flowId, version);
      if (here) return here;
    }
    const stored = (await this.env.storage.listDefinitions())
      .filter((d) => d.flowId === flowId && (version === null || d.version === version))
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.version < b.version ? 1 : a.version > b.version ? -1 : 0));
    const def = stored[0];
    if (!def) throw new FlowNotFoundError(flowId, version ?? '(any version)');
    return { flowId, version: def.version, entry: (def.graph as { entry: string }).entry };
  }

  private now(): Date {
    return new Date(this.env.clock.now());
  }
}

/** The row as stored, as a write (what pause and resume start from). */
function writeOf(s: ScheduleRecord): ScheduleWrite {
  return {
    scheduleId: s.scheduleId,
    flowId: s.flowId,
    version: s.version,
    cron: s.cron,
    every: s.every,
    timezone: s.timezone,
    input: JSON.stringify(s.input) as JsonText,
    overlap: s.overlap,
    catchup: s.catchup,
    catchupWindowMs: s.catchupWindowMs,
    jitterMs: s.jitterMs,
    paused: s.paused,
    nextFireAt: s.nextFireAt,
    dueAt: s.dueAt,
  };
}

function sameRow(s: ScheduleRecord, w: ScheduleWrite): boolean {
  const time = (d: Date | null) => d?.getTime() ?? null;
  return (
    s.flowId === w.flowId &&
    s.version === w.version &&
    s.cron === w.cron &&
    s.every === w.every &&
    s.timezone === w.timezone &&
    sameJson(s.input, JSON.parse(w.input)) &&
    s.overlap === w.overlap &&
    s.catchup === w.catchup &&
    s.catchupWindowMs === w.catchupWindowMs &&
    s.jitterMs === w.jitterMs &&
    s.paused === w.paused &&
    time(s.nextFireAt) === time(w.nextFireAt) &&
    time(s.dueAt) === time(w.dueAt)
  );
}

/** Equal JSON values, whatever the order of their keys (jsonb stores objects with sorted keys). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return (
    ka.length === kb.length &&
    ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}

function requireId(method: string, value: unknown, name = 'scheduleId'): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidArgumentError(`${method}: ${name} must be a non-empty string`);
  const problem = unstorableTextReason(value);
  if (problem) throw new InvalidArgumentError(`${method}: ${name} ${problem}`);
}

/** The schedule as the API shows it: its ticks as ISO strings (as `preview` gives them), no fence or due time. */
export function toFlowSchedule(s: ScheduleRecord): FlowSchedule {
  return {
    scheduleId: s.scheduleId,
    flowId: s.flowId,
    version: s.version,
    cron: s.cron,
    every: s.every,
    timezone: s.timezone,
    input: s.input,
    overlap: s.overlap,
    catchup: s.catchup,
    catchupWindowMs: s.catchupWindowMs,
    jitterMs: s.jitterMs,
    paused: s.paused,
    nextFireAt: s.nextFireAt?.toISOString() ?? null,
    lastFireAt: s.lastFireAt?.toISOString() ?? null,
    lastSkip: s.lastSkip,
    buffered: [...s.buffered],
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}
