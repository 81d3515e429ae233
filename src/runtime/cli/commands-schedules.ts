/**
 * `hazel-flow schedules list|set|pause|resume|delete|trigger` through a running server's API
 * (/v1/schedules). Option values are checked here, so that a bad one is a usage error (exit 2);
 * what a schedule may be (cron, time zone, flow) is the server's rule, reported as its error.
 */
import { flowKey, parseFlowKey } from '../../definitions/flow-key.js';
import { SCHEDULE_CATCHUPS, SCHEDULE_OVERLAPS } from '../../definitions/schedule-spec.js';
import { parseDurationMs } from '../../config.js';
import type { FlowSchedule } from '../../schedules/types.js';
import type { RemoteContext } from './commands-remote.js';
import { keyValues, table } from './table.js';
import { UsageError, parseJsonOption } from './usage.js';

type ScheduleJson = Omit<FlowSchedule, 'createdAt' | 'updatedAt'> & { createdAt: string; updatedAt: string; upcoming: string[] };

export interface ScheduleSetOptions {
  flow?: string;
  cron?: string;
  every?: string;
  timezone?: string;
  input?: string;
  overlap?: string;
  catchup?: string;
  catchupWindow?: string;
  jitter?: string;
  paused?: boolean;
}

const printJson = (ctx: RemoteContext, value: unknown) => ctx.print(JSON.stringify(value, null, 2));
const schedulePath = (scheduleId: string, suffix = '') => `/v1/schedules/${encodeURIComponent(scheduleId)}${suffix}`;
const timetableOf = (s: ScheduleJson) => (s.cron !== null ? `cron ${s.cron} (${s.timezone})` : `every ${s.every} ms`);

function printSchedule(ctx: RemoteContext, s: ScheduleJson, heading: string) {
  if (ctx.json) return printJson(ctx, { schedule: s });
  ctx.print(heading);
  ctx.print(
    keyValues([
      ['schedule', s.scheduleId],
      ['flow', s.version === null ? `${s.flowId} (newest version)` : flowKey(s.flowId, s.version)],
      ['timetable', timetableOf(s)],
      ['paused', s.paused ? 'yes' : 'no'],
      ['overlap', s.overlap],
      ['catch-up', `${s.catchup} within ${s.catchupWindowMs} ms`],
      ['jitter', s.jitterMs > 0 ? `${s.jitterMs} ms` : undefined],
      ['next', s.upcoming.length > 0 ? s.upcoming.join(', ') : undefined],
      ['last fired', s.lastFireAt ?? undefined],
      ['last skip', s.lastSkip ? `${s.lastSkip.scheduledAt}: ${s.lastSkip.reason} (${s.lastSkip.message})` : undefined],
      ['buffered', s.buffered.length > 0 ? s.buffered.join(', ') : undefined],
      ['input', JSON.stringify(s.input)],
    ]),
  );
}

export async function listSchedulesCommand(ctx: RemoteContext, flow?: string) {
  if (flow === '') throw new UsageError('--flow must not be empty');
  const query = flow === undefined ? '' : `?${new URLSearchParams({ flowId: flow })}`;
  const data = await ctx.client.request<{ schedules: ScheduleJson[] }>('GET', `/v1/schedules${query}`);
  if (ctx.json) return printJson(ctx, data);
  if (data.schedules.length === 0) return ctx.print('No schedules.');
  ctx.print(
    table(
      ['SCHEDULE', 'FLOW', 'TIMETABLE', 'NEXT', 'LAST FIRED', 'STATE'],
      data.schedules.map((s) => [
        s.scheduleId,
        s.version === null ? s.flowId : flowKey(s.flowId, s.version),
        timetableOf(s),
        s.nextFireAt,
        s.lastFireAt,
        s.paused ? 'paused' : s.lastSkip ? `skipped ${s.lastSkip.scheduledAt} (${s.lastSkip.reason})` : 'active',
      ]),
    ),
  );
}

function durationOption(name: string, text: string | undefined): number | undefined {
  try {
    return parseDurationMs(name, text);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export async function setScheduleCommand(ctx: RemoteContext, scheduleId: string, o: ScheduleSetOptions) {
  if (!o.flow) throw new UsageError('schedules set needs --flow <flowId>[@<version>]');
  const key = o.flow.includes('@') ? parseFlowKey(o.flow) : { flowId: o.flow, version: '' };
  if (!key?.flowId) throw new UsageError(`--flow must be <flowId> or <flowId>@<version>, got ${JSON.stringify(o.flow)}`);
  if ((o.cron === undefined) === (o.every === undefined)) throw new UsageError('schedules set needs one of --cron <expression> and --every <duration>');
  if (o.overlap !== undefined && !(SCHEDULE_OVERLAPS as readonly string[]).includes(o.overlap))
    throw new UsageError(`--overlap must be one of ${SCHEDULE_OVERLAPS.join(', ')}, got ${JSON.stringify(o.overlap)}`);
  if (o.catchup !== undefined && !(SCHEDULE_CATCHUPS as readonly string[]).includes(o.catchup))
    throw new UsageError(`--catchup must be one of ${SCHEDULE_CATCHUPS.join(', ')}, got ${JSON.stringify(o.catchup)}`);
  const body: Record<string, unknown> = { flowId: key.flowId };
  if (key.version) body.version = key.version;
  if (o.cron !== undefined) body.cron = o.cron;
  if (o.every !== undefined) body.every = durationOption('--every', o.every);
  if (o.timezone !== undefined) body.timezone = o.timezone;
  if (o.input !== undefined) body.input = parseJsonOption('--input', o.input);
  if (o.overlap !== undefined) body.overlap = o.overlap;
  if (o.catchup !== undefined) body.catchup = o.catchup;
  if (o.catchupWindow !== undefined) body.catchupWindowMs = durationOption('--catchup-window', o.catchupWindow);
  if (o.jitter !== undefined) body.jitterMs = durationOption('--jitter', o.jitter);
  if (o.paused) body.paused = true;
  const { schedule } = await ctx.client.request<{ schedule: ScheduleJson }>('PUT', schedulePath(scheduleId), body);
  printSchedule(ctx, schedule, `Schedule ${schedule.scheduleId} set`);
}

export async function scheduleActionCommand(ctx: RemoteContext, action: 'pause' | 'resume', scheduleId: string) {
  const { schedule } = await ctx.client.request<{ schedule: ScheduleJson }>('POST', schedulePath(scheduleId, `/${action}`), {});
  printSchedule(ctx, schedule, `Schedule ${schedule.scheduleId} ${action === 'pause' ? 'paused' : 'resumed'}`);
}

export async function deleteScheduleCommand(ctx: RemoteContext, scheduleId: string) {
  const result = await ctx.client.request<{ deleted: string }>('DELETE', schedulePath(scheduleId));
  if (ctx.json) return printJson(ctx, result);
  ctx.print(`Deleted schedule ${result.deleted} (its runs stay)`);
}

export async function triggerScheduleCommand(ctx: RemoteContext, scheduleId: string) {
  const result = await ctx.client.request<{ runId: string }>('POST', schedulePath(scheduleId, '/trigger'), {});
  if (ctx.json) return printJson(ctx, result);
  ctx.print(`Started run ${result.runId} of schedule ${scheduleId}`);
}
