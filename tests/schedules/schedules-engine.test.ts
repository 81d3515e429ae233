/**
 * `engine.schedules` on every store: set / get / list / pause / resume / delete / trigger /
 * preview, bad input refused with a typed error and nothing written, schedules declared with the
 * flow, catch-up after a stop, every overlap rule, and ticks fired by a worker whose runs carry
 * their schedule and tick. A stop is made by writing the schedule's next tick back into the past
 * through the store (its own `saveSchedule`), as a store left alone for a while would hold it.
 */
import { describe, expect, it } from 'vitest';
import { FlowNotFoundError, InvalidArgumentError, ScheduleNotFoundError, flow, type FlowEngine, type FlowRunSummary } from '@hazeljs/flow';
import type { FlowStorage, ScheduleRecord } from '../../src/storage/types.js';
import type { JsonText } from '../../src/core/json.js';
import { dueAtOf } from '../../src/schedules/plan.js';
import { engineOnStore } from '../helpers/engine-on-store.js';
import { storeCases } from '../helpers/stores.js';

const HOUR = 3_600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Moves the schedule's next tick `ms` back (as if no worker ran since then), keeping it on its timetable. */
async function stopFor(storage: FlowStorage, scheduleId: string, ticksBack: number, everyMs: number): Promise<Date> {
  const s = (await storage.getSchedule(scheduleId))!;
  const next = new Date((Math.floor(Date.now() / everyMs) - ticksBack) * everyMs);
  const write = { ...s, input: JSON.stringify(s.input) as JsonText, nextFireAt: next, dueAt: dueAtOf(s.scheduleId, next, s.jitterMs, s.buffered) };
  expect(await storage.saveSchedule(write, s.revision)).not.toBeNull();
  return next;
}

/** Fires what is due until nothing is. */
async function fireAll(engine: FlowEngine): Promise<void> {
  for (let i = 0; i < 50; i++) if (!(await engine.scheduleFirer.fireDue(64)).more) return;
}

async function runsOf(engine: FlowEngine, scheduleId: string): Promise<FlowRunSummary[]> {
  const page = await engine.listRuns({ scheduleId, limit: 1000, summary: true });
  return page.runs.sort((a, b) => (a.scheduledAt! < b.scheduledAt! ? -1 : 1));
}

describe.each(storeCases)('schedules on $name', (store) => {
  const t = engineOnStore(store);
  const waits = (flowId: string, version = '1') =>
    flow(flowId, version)
      .entry('w')
      .node('w', async () => ({ status: 'wait', reason: 'manual' }))
      .build();
  const quick = (flowId: string, options?: Parameters<typeof flow>[2]) =>
    flow(flowId, '1', options)
      .entry('a')
      .node('a', async (ctx) => ({ status: 'ok', output: { scheduledInput: ctx.input } }))
      .build();

  it('set, get, list, pause, resume, delete — and preview', async () => {
    const { engine } = t;
    const def = quick(t.uniq('crud'));
    await engine.registerDefinition(def);
    const scheduleId = t.uniq('nightly');
    const s = await engine.schedules.set({ scheduleId, flowId: def.flowId, cron: '30 2 * * *', timezone: 'Europe/Berlin', input: { report: 'daily' } });
    expect(s).toMatchObject({
      scheduleId,
      flowId: def.flowId,
      version: null,
      cron: '30 2 * * *',
      every: null,
      timezone: 'Europe/Berlin',
      input: { report: 'daily' },
      overlap: 'skip',
      catchup: 'latest',
      catchupWindowMs: 86_400_000,
      jitterMs: 0,
      paused: false,
      lastFireAt: null,
      lastSkip: null,
    });
    const [first] = await engine.schedules.preview({ cron: '30 2 * * *', timezone: 'Europe/Berlin' });
    expect(s.nextFireAt).toBe(first);
    expect(s.createdAt).toBeInstanceOf(Date);
    expect(await engine.schedules.get(scheduleId)).toEqual(s);
    expect((await engine.schedules.list({ flowId: def.flowId })).map((x) => x.scheduleId)).toEqual([scheduleId]);
    expect((await engine.schedules.list()).map((x) => x.scheduleId)).toContain(scheduleId);

    // Replaced with the same timetable: keeps its place; an identical set writes nothing.
    const same = await engine.schedules.set({ scheduleId, flowId: def.flowId, cron: '30 2 * * *', timezone: 'Europe/Berlin', input: { report: 'daily' } });
    expect(same.updatedAt).toEqual(s.updatedAt);
    const interval = await engine.schedules.set({ scheduleId, flowId: def.flowId, every: '15m' });
    expect(interval).toMatchObject({ cron: null, every: 900_000, timezone: 'UTC', input: null });
    expect(Date.parse(interval.nextFireAt!) % 900_000).toBe(0);

    const paused = await engine.schedules.pause(scheduleId);
    expect(paused).toMatchObject({ paused: true, nextFireAt: null });
    // `set` without `paused` keeps it paused (a flow re-declaring its schedules at start does not undo a pause).
    expect(await engine.schedules.set({ scheduleId, flowId: def.flowId, every: '15m' })).toMatchObject({ paused: true, nextFireAt: null });
    const resumed = await engine.schedules.resume(scheduleId);
    expect(resumed.paused).toBe(false);
    expect(Date.parse(resumed.nextFireAt!)).toBeGreaterThan(Date.now() - 1000);

    await engine.schedules.delete(scheduleId);
    expect(await engine.schedules.get(scheduleId)).toBeNull();
    await expect(engine.schedules.delete(scheduleId)).rejects.toBeInstanceOf(ScheduleNotFoundError);
    await expect(engine.schedules.pause(scheduleId)).rejects.toMatchObject({ code: 'SCHEDULE_NOT_FOUND' });
    await expect(engine.schedules.resume(scheduleId)).rejects.toBeInstanceOf(ScheduleNotFoundError);
    await expect(engine.schedules.trigger(scheduleId)).rejects.toBeInstanceOf(ScheduleNotFoundError);

    expect(await engine.schedules.preview({ every: '1h', from: '2030-01-01T00:30:00Z', count: 3 })).toEqual([
      '2030-01-01T01:00:00.000Z',
      '2030-01-01T02:00:00.000Z',
      '2030-01-01T03:00:00.000Z',
    ]);
    expect(await engine.schedules.preview({ cron: '0 9 * * 1', timezone: 'America/New_York', from: new Date('2030-01-01T00:00:00Z'), count: 2 })).toEqual([
      '2030-01-07T14:00:00.000Z',
      '2030-01-14T14:00:00.000Z',
    ]);
  });

  it('refuses bad input with a typed error and writes nothing', async () => {
    const { engine } = t;
    const def = quick(t.uniq('bad'));
    await engine.registerDefinition(def);
    const scheduleId = t.uniq('bad');
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ cron: '61 * * * *' }, /cron "61 \* \* \* \*" is not a valid cron expression/],
      [{ cron: 'every day' }, /not a valid cron expression/],
      [{ cron: '* * * * *', timezone: 'Mars/Olympus' }, /timezone "Mars\/Olympus" is not a time zone/],
      [{ cron: '* * * * *', every: 60_000 }, /one of cron and every, not both/],
      [{}, /one of cron and every \(neither/],
      [{ every: 500 }, /at least one second/],
      [{ every: '500ms' }, /at least one second/],
      [{ every: 'soon' }, /every must be milliseconds or a duration/],
      [{ every: '1m', overlap: 'queue' }, /overlap must be one of/],
      [{ every: '1m', catchup: 'some' }, /catchup must be one of/],
      [{ every: '1m', catchupWindowMs: -1 }, /catchupWindowMs/],
      [{ every: '1m', jitterMs: 1.5 }, /jitterMs/],
      [{ every: '1m', paused: 'yes' }, /paused must be a boolean/],
      [{ every: '1m', colour: 'red' }, /unknown schedule option "colour"/],
    ];
    for (const [fields, message] of bad) {
      const err = await engine.schedules.set({ scheduleId, flowId: def.flowId, ...fields } as never).catch((e: unknown) => e);
      expect(err, JSON.stringify(fields)).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toMatch(message);
    }
    await expect(engine.schedules.set({ scheduleId, flowId: 'no-such-flow', every: '1m' })).rejects.toBeInstanceOf(FlowNotFoundError);
    await expect(engine.schedules.set({ scheduleId, flowId: def.flowId, version: '9', every: '1m' })).rejects.toBeInstanceOf(FlowNotFoundError);
    await expect(engine.schedules.set({ scheduleId, flowId: def.flowId, every: '1m', input: { f: () => 1 } })).rejects.toMatchObject({
      code: 'SERIALIZATION_ERROR',
    });
    await expect(engine.schedules.preview({ cron: '* * *' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(engine.schedules.preview({ every: '1m', count: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await engine.schedules.get(scheduleId)).toBeNull();
  });

  it('applies the schedules a flow declares when it is registered, and again unchanged', async () => {
    const { engine, storage } = t;
    const scheduleId = t.uniq('declared');
    const def = quick(t.uniq('declaring'), { schedules: [{ scheduleId, every: '1h', input: { from: 'declaration' } }] });
    await engine.registerDefinition(def);
    const s = (await engine.schedules.get(scheduleId))!;
    expect(s).toMatchObject({ flowId: def.flowId, version: null, every: HOUR, input: { from: 'declaration' } });
    const revision = (await storage.getSchedule(scheduleId))!.revision;
    await engine.registerDefinition(def);
    expect((await storage.getSchedule(scheduleId))!.revision).toBe(revision);
    expect(() =>
      quick('x', {
        schedules: [
          { scheduleId: 'a', every: '1m' },
          { scheduleId: 'a', cron: 'nope' },
        ],
      }),
    ).toThrow(/declared twice[\s\S]*|not a valid cron/);
  });

  it('trigger starts one run now, outside the timetable', async () => {
    const { engine } = t;
    const def = quick(t.uniq('trigger'));
    await engine.registerDefinition(def);
    const scheduleId = t.uniq('trigger');
    const before = await engine.schedules.set({ scheduleId, flowId: def.flowId, every: '1h', input: { x: 1 }, paused: true });
    const { runId } = await engine.schedules.trigger(scheduleId);
    const run = await engine.runToCompletion(runId);
    expect(run).toMatchObject({ status: 'COMPLETED', scheduleId, flowVersion: '1', outputsJson: { a: { scheduledInput: { x: 1 } } } });
    expect(Math.abs(Date.parse(run.scheduledAt!) - Date.now())).toBeLessThan(60_000);
    expect((await engine.listRuns({ scheduleId })).runs.map((r) => r.runId)).toEqual([runId]);
    expect(await engine.schedules.get(scheduleId)).toMatchObject({ paused: true, lastFireAt: null, nextFireAt: before.nextFireAt });
  });

  it("catches up after a stop: 'all' fires each missed tick, 'latest' the latest, 'none' none", async () => {
    const { engine, storage } = t;
    const def = waits(t.uniq('catchup'));
    await engine.registerDefinition(def);
    const made = async (catchup: 'all' | 'latest' | 'none') => {
      const scheduleId = t.uniq(`catchup-${catchup}`);
      await engine.schedules.set({ scheduleId, flowId: def.flowId, every: '1h', catchup, overlap: 'allow' });
      return { scheduleId, from: await stopFor(storage, scheduleId, 5, HOUR) };
    };
    const all = await made('all');
    const latest = await made('latest');
    const none = await made('none');
    await fireAll(engine);

    const ticks = (await runsOf(engine, all.scheduleId)).map((r) => Date.parse(r.scheduledAt!));
    expect(ticks[0]).toBe(all.from.getTime());
    expect(ticks.length).toBeGreaterThanOrEqual(6);
    ticks.forEach((at, i) => expect(at - all.from.getTime()).toBe(i * HOUR));
    const lastHour = Math.floor(Date.now() / HOUR) * HOUR;
    expect(ticks.at(-1)).toBe(lastHour);

    const one = await runsOf(engine, latest.scheduleId);
    expect(one.map((r) => Date.parse(r.scheduledAt!))).toEqual([lastHour]);
    expect(await engine.schedules.get(latest.scheduleId)).toMatchObject({ lastFireAt: new Date(lastHour).toISOString(), lastSkip: { reason: 'missed' } });

    // 'none': the latest tick is on time only in the first minute of an hour.
    const onTime = Date.now() - lastHour < 55_000;
    expect((await runsOf(engine, none.scheduleId)).length).toBe(onTime ? 1 : 0);
    expect((await engine.schedules.get(none.scheduleId))!.nextFireAt).toBe(new Date(lastHour + HOUR).toISOString());
  });

  describe('overlap, when the previous run is unfinished', () => {
    /** A schedule of a flow whose runs stay unfinished, 3 hours behind with catch-up 'all'. */
    const behind = async (overlap: 'skip' | 'allow' | 'cancelPrevious' | 'bufferOne' | 'bufferAll') => {
      const { engine, storage } = t;
      const def = waits(t.uniq(`overlap-${overlap}`));
      await engine.registerDefinition(def);
      const scheduleId = t.uniq(overlap);
      await engine.schedules.set({ scheduleId, flowId: def.flowId, every: '1h', catchup: 'all', overlap });
      const from = await stopFor(storage, scheduleId, 3, HOUR);
      await fireAll(engine);
      const ticks = Math.floor((Date.now() - from.getTime()) / HOUR) + 1; // 4, or 5 across an hour
      return { scheduleId, from, ticks, runs: await runsOf(engine, scheduleId), schedule: (await engine.schedules.get(scheduleId))! };
    };

    it("'skip': one run, the other ticks skipped with the reason", async () => {
      const { runs, schedule, from } = await behind('skip');
      expect(runs.map((r) => r.scheduledAt)).toEqual([from.toISOString()]);
      expect(schedule.lastSkip).toMatchObject({ reason: 'overlap', message: expect.stringMatching(/unfinished/) });
      expect(schedule.lastFireAt).toBe(from.toISOString());
    });

    it("'allow': a run for every tick", async () => {
      const { runs, ticks } = await behind('allow');
      expect(runs).toHaveLength(ticks);
      expect(runs.every((r) => r.status === 'RUNNING')).toBe(true);
    });

    it("'cancelPrevious': each tick cancels the run before it", async () => {
      const { runs, ticks } = await behind('cancelPrevious');
      expect(runs).toHaveLength(ticks);
      expect(runs.slice(0, -1).every((r) => r.status === 'CANCELLED')).toBe(true);
      expect(runs.at(-1)!.status).toBe('RUNNING');
      expect(runs[0]!.error!.message).toMatch(/cancelPrevious/);
    });

    it("'bufferOne': one tick waits for the run to end, then starts", async () => {
      const { engine } = t;
      const { runs, schedule, scheduleId, from } = await behind('bufferOne');
      expect(runs).toHaveLength(1);
      const second = new Date(from.getTime() + HOUR).toISOString();
      expect(schedule.buffered).toEqual([second]);
      expect(schedule.lastSkip).toMatchObject({ reason: 'overlap' });
      await engine.cancelRun(runs[0]!.runId);
      await sleep(1100); // the buffered tick looks again every second
      await fireAll(engine);
      const after = await runsOf(engine, scheduleId);
      expect(after.map((r) => r.scheduledAt)).toEqual([from.toISOString(), second]);
      expect((await engine.schedules.get(scheduleId))!.buffered).toEqual([]);
    });

    it("'bufferAll': every tick waits, and they start one at a time", async () => {
      const { runs, schedule, ticks } = await behind('bufferAll');
      expect(runs).toHaveLength(1);
      expect(schedule.buffered).toHaveLength(ticks - 1);
    });
  });

  it('a worker fires the ticks: each tick one run, with its schedule and tick, its first step run', async () => {
    const { engine } = t;
    const def = quick(t.uniq('worker'));
    await engine.registerDefinition(def);
    const scheduleId = t.uniq('every-second');
    await engine.schedules.set({ scheduleId, flowId: def.flowId, every: '1s', input: { hello: 'tick' }, overlap: 'allow' });
    const worker = engine.startWorker({ pollIntervalMs: 100, logger: { debug() {}, info() {}, warn() {}, error: console.error } });
    let done: FlowRunSummary[] = [];
    for (let i = 0; i < 100 && done.length < 2; i++) {
      await sleep(100);
      done = (await runsOf(engine, scheduleId)).filter((r) => r.status === 'COMPLETED');
    }
    await engine.schedules.pause(scheduleId);
    await worker.stop();
    expect(done.length).toBeGreaterThanOrEqual(2);
    const all = await runsOf(engine, scheduleId);
    const ticks = all.map((r) => Date.parse(r.scheduledAt!));
    expect(new Set(ticks).size).toBe(ticks.length);
    ticks.forEach((at, i) => expect(at - ticks[0]!).toBe(i * 1000));
    const run = (await engine.getRun(done[0]!.runId))!;
    expect(run.outputsJson).toEqual({ a: { scheduledInput: { hello: 'tick' } } });
    const s = (await engine.schedules.get(scheduleId)) as unknown as ScheduleRecord;
    expect(s.lastFireAt).toBe(all.at(-1)!.scheduledAt);
  });
});
