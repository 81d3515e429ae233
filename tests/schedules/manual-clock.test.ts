/**
 * Schedules on the engine's clock (memory store, `ManualClock`): whole days fired tick by tick
 * across the daylight-saving changes of Europe/Berlin and America/New_York, and a worker that
 * stops and starts again later catching up by the schedule's rule.
 */
import { describe, expect, it } from 'vitest';
import { FlowEngine, ManualClock, createMemoryStorage, flow, type FlowRunSummary } from '@hazeljs/flow';

const MIN = 60_000;
const quiet = { debug() {}, info() {}, warn() {}, error: console.error };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup(start: string) {
  const clock = new ManualClock(new Date(start), false);
  const engine = new FlowEngine({ storage: createMemoryStorage(), clock });
  const def = flow('job', '1')
    .entry('a')
    .node('a', async () => ({ status: 'ok' }))
    .build();
  return { clock, engine, ready: engine.registerDefinition(def) };
}

async function ticksOf(engine: FlowEngine, scheduleId: string): Promise<string[]> {
  const runs: FlowRunSummary[] = (await engine.listRuns({ scheduleId, limit: 1000, summary: true })).runs;
  return runs.map((r) => r.scheduledAt!).sort();
}

/** Moves the clock to `until` in steps of `stepMs`, firing what is due at each. */
async function walk(engine: FlowEngine, clock: ManualClock, until: string, stepMs: number): Promise<void> {
  while (clock.now() < Date.parse(until)) {
    clock.advance(stepMs);
    while ((await engine.scheduleFirer.fireDue(64)).more);
  }
}

describe('daylight-saving days, fired tick by tick', () => {
  it('Europe/Berlin: 02:30 daily fires at 03:00 on the spring-forward day and once on the fall-back day', async () => {
    for (const [start, until, expected] of [
      ['2026-03-27T12:00:00Z', '2026-03-30T12:00:00Z', ['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']],
      ['2026-10-23T12:00:00Z', '2026-10-26T12:00:00Z', ['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']],
    ] as const) {
      const { clock, engine, ready } = setup(start);
      await ready;
      await engine.schedules.set({ scheduleId: 'berlin', flowId: 'job', cron: '30 2 * * *', timezone: 'Europe/Berlin', overlap: 'allow' });
      await walk(engine, clock, until, 10 * MIN);
      expect(await ticksOf(engine, 'berlin')).toEqual(expected);
      await engine.close();
    }
  });

  it('America/New_York: hourly skips the missing hour in March and fires both 01:00s in November', async () => {
    const { clock, engine, ready } = setup('2026-03-08T04:30:00Z');
    await ready;
    await engine.schedules.set({ scheduleId: 'ny', flowId: 'job', cron: '0 * * * *', timezone: 'America/New_York', overlap: 'allow' });
    await walk(engine, clock, '2026-03-08T08:30:00Z', 5 * MIN);
    // 00:00 EST, 01:00 EST, 03:00 EDT, 04:00 EDT: 02:00 did not exist.
    expect(await ticksOf(engine, 'ny')).toEqual([
      '2026-03-08T05:00:00.000Z',
      '2026-03-08T06:00:00.000Z',
      '2026-03-08T07:00:00.000Z',
      '2026-03-08T08:00:00.000Z',
    ]);
    await engine.close();

    const fall = setup('2026-11-01T03:30:00Z');
    await fall.ready;
    await fall.engine.schedules.set({ scheduleId: 'ny', flowId: 'job', cron: '0 * * * *', timezone: 'America/New_York', overlap: 'allow' });
    await walk(fall.engine, fall.clock, '2026-11-01T07:30:00Z', 5 * MIN);
    // 00:00 EDT, 01:00 EDT, 01:00 EST, 02:00 EST.
    expect(await ticksOf(fall.engine, 'ny')).toEqual([
      '2026-11-01T04:00:00.000Z',
      '2026-11-01T05:00:00.000Z',
      '2026-11-01T06:00:00.000Z',
      '2026-11-01T07:00:00.000Z',
    ]);
    await fall.engine.close();
  });
});

describe('catch-up after a stop, with a worker', () => {
  for (const [catchup, expected] of [
    ['latest', ['2030-01-01T00:30:00.000Z']],
    ['all', ['2030-01-01T00:10:00.000Z', '2030-01-01T00:20:00.000Z', '2030-01-01T00:30:00.000Z']],
    ['none', []],
  ] as const) {
    it(`'${catchup}'`, async () => {
      const { clock, engine, ready } = setup('2030-01-01T00:00:00Z');
      await ready;
      await engine.schedules.set({ scheduleId: 'ten-minutes', flowId: 'job', every: '10m', catchup, overlap: 'allow' });
      // Stopped: three ticks pass with no worker; the latest is 5 minutes late.
      clock.advance(35 * MIN);
      expect(await ticksOf(engine, 'ten-minutes')).toEqual([]);
      const worker = engine.startWorker({ pollIntervalMs: 20, logger: quiet });
      await worker.started;
      for (let i = 0; i < 100 && (await ticksOf(engine, 'ten-minutes')).length < expected.length; i++) await sleep(20);
      await sleep(100);
      expect(await ticksOf(engine, 'ten-minutes')).toEqual(expected);
      // Running again: the next tick fires when the engine's clock reaches it.
      clock.advance(5 * MIN);
      for (let i = 0; i < 100 && (await ticksOf(engine, 'ten-minutes')).length < expected.length + 1; i++) await sleep(20);
      expect((await ticksOf(engine, 'ten-minutes')).at(-1)).toBe('2030-01-01T00:40:00.000Z');
      await worker.stop();
      const runs = (await engine.listRuns({ scheduleId: 'ten-minutes', limit: 100 })).runs;
      expect(runs.every((r) => r.status === 'COMPLETED')).toBe(true);
      await engine.close();
    });
  }
});
