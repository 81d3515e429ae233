/**
 * The rules of a tick (schedules/plan.ts), alone: catch-up within its window, overlap with an
 * unfinished previous run, buffered ticks, an unknown flow, jitter. Each case walks a schedule
 * through its steps as the firer does, applying every step's write to the row.
 */
import { describe, expect, it } from 'vitest';
import { compileTimetable } from '../../src/core/timetable.js';
import { dueAtOf, planStep, type PlannedStep } from '../../src/schedules/plan.js';
import type { ClaimedSchedule } from '../../src/storage/types.js';

const MIN = 60_000;
const T0 = Date.parse('2030-01-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function schedule(overrides: Partial<ClaimedSchedule> = {}): ClaimedSchedule {
  return {
    scheduleId: 's',
    flowId: 'f',
    version: null,
    cron: null,
    every: MIN,
    timezone: 'UTC',
    input: null,
    overlap: 'skip',
    catchup: 'latest',
    catchupWindowMs: 86_400_000,
    jitterMs: 0,
    paused: false,
    nextFireAt: new Date(T0),
    dueAt: new Date(T0),
    lastFireAt: null,
    lastSkip: null,
    buffered: [],
    createdAt: new Date(T0),
    updatedAt: new Date(T0),
    revision: 1,
    liveRunIds: [],
    flowVersion: '1',
    entryNodeId: 'a',
    ...overrides,
  };
}

/** Every step at `now` until one says nothing more is due; `live` says whether runs stay unfinished. */
function walk(s: ClaimedSchedule, now: number, live: 'runs stay live' | 'runs end at once' = 'runs end at once') {
  const timetable = compileTimetable({ cron: s.cron, everyMs: s.every, timezone: s.timezone });
  const started: string[] = [];
  const cancelled: string[] = [];
  let liveIds = [...s.liveRunIds];
  const steps: PlannedStep[] = [];
  for (let i = 0; i < 1000; i++) {
    const p = planStep(s, timetable, new Date(now), liveIds.length > 0, 10_000);
    steps.push(p);
    cancelled.push(...p.cancel);
    if (p.cancel.length) liveIds = [];
    if (p.start) {
      started.push(p.start.toISOString());
      if (live === 'runs stay live') liveIds.push(`run-${started.length}`);
    }
    s = {
      ...s,
      nextFireAt: p.write.nextFireAt,
      dueAt: p.write.dueAt,
      lastFireAt: p.write.lastFireAt ?? s.lastFireAt,
      lastSkip: p.write.lastSkip ?? s.lastSkip,
      buffered: p.write.buffered,
      liveRunIds: liveIds,
    };
    if (!p.again) break;
  }
  return { started, cancelled, s, steps };
}

describe('catch-up after a stop', () => {
  // Ticks every minute from T0; the workers come back 10 minutes and 30 seconds later.
  const now = T0 + 10 * MIN + 30_000;

  it("'all' fires every missed tick, oldest first, and goes on from the next one", () => {
    const { started, s } = walk(schedule({ catchup: 'all' }), now);
    expect(started).toEqual(Array.from({ length: 11 }, (_, i) => iso(T0 + i * MIN)));
    expect(s.nextFireAt!.toISOString()).toBe(iso(T0 + 11 * MIN));
    expect(s.lastFireAt!.toISOString()).toBe(iso(T0 + 10 * MIN));
    expect(s.lastSkip).toBeNull();
  });

  it("'latest' (the default) fires only the latest and records the others as missed", () => {
    const { started, s } = walk(schedule(), now);
    expect(started).toEqual([iso(T0 + 10 * MIN)]);
    expect(s.lastSkip).toMatchObject({ reason: 'missed', scheduledAt: iso(T0 + 9 * MIN) });
    expect(s.nextFireAt!.toISOString()).toBe(iso(T0 + 11 * MIN));
  });

  it("'none' fires nothing that is more than a minute late", () => {
    // Every 10 minutes; back 2 minutes after the second tick.
    const late = walk(schedule({ catchup: 'none', every: 10 * MIN }), T0 + 12 * MIN);
    expect(late.started).toEqual([]);
    expect(late.s.lastSkip).toMatchObject({ reason: 'missed', scheduledAt: iso(T0 + 10 * MIN) });
    expect(late.s.nextFireAt!.toISOString()).toBe(iso(T0 + 20 * MIN));
    // A tick a busy worker reaches a little late is not missed.
    expect(walk(schedule({ catchup: 'none', every: 10 * MIN }), T0 + 10 * MIN + 5_000).started).toEqual([iso(T0 + 10 * MIN)]);
  });

  it('fires nothing older than catchupWindowMs', () => {
    expect(walk(schedule({ catchup: 'all', catchupWindowMs: 3 * MIN }), now).started).toEqual([iso(T0 + 8 * MIN), iso(T0 + 9 * MIN), iso(T0 + 10 * MIN)]);
    const tooOld = walk(schedule({ catchup: 'latest', catchupWindowMs: 20_000 }), now);
    expect(tooOld.started).toEqual([]);
    expect(tooOld.s.lastSkip).toMatchObject({ reason: 'missed', scheduledAt: iso(T0 + 10 * MIN) });
  });

  it('a tick on time is fired alone, and a tick not yet due does nothing but let the claim go', () => {
    expect(walk(schedule(), T0 + 200).started).toEqual([iso(T0)]);
    const early = walk(schedule(), T0 - 1);
    expect(early.started).toEqual([]);
    expect(early.steps[0]!.write.holdMs).toBeNull();
  });
});

describe('overlap with an unfinished previous run', () => {
  // Five ticks are due and every run stays unfinished.
  const now = T0 + 4 * MIN;
  const all = { catchup: 'all' as const };

  it("'skip' (the default) starts no run while one is live, and says why", () => {
    const { started, s } = walk(schedule({ ...all, liveRunIds: ['old'] }), now, 'runs stay live');
    expect(started).toEqual([]);
    expect(s.lastSkip).toMatchObject({ reason: 'overlap', scheduledAt: iso(now) });
  });

  it("'allow' starts every tick's run", () => {
    expect(walk(schedule({ ...all, overlap: 'allow', liveRunIds: ['old'] }), now, 'runs stay live').started).toHaveLength(5);
  });

  it("'cancelPrevious' cancels the live run before each start", () => {
    const { started, cancelled } = walk(schedule({ ...all, overlap: 'cancelPrevious', liveRunIds: ['old'] }), now, 'runs stay live');
    expect(started).toHaveLength(5);
    expect(cancelled).toEqual(['old', 'run-1', 'run-2', 'run-3', 'run-4']);
  });

  it("'bufferOne' keeps one tick for when the run ends, and skips further ones", () => {
    const { started, s, steps } = walk(schedule({ ...all, overlap: 'bufferOne', liveRunIds: ['old'] }), now, 'runs stay live');
    expect(started).toEqual([]);
    expect(s.buffered).toEqual([iso(T0)]);
    expect(s.lastSkip).toMatchObject({ reason: 'overlap' });
    // Buffered: due at once, claimed again within a second to look whether the run ended.
    expect(s.dueAt!.toISOString()).toBe(iso(T0));
    expect(steps.at(-1)!.write.holdMs).toBe(1000);
    // The run ended: the buffered tick starts.
    const after = walk({ ...s, liveRunIds: [] }, now + 1000);
    expect(after.started).toEqual([iso(T0)]);
    expect(after.s.buffered).toEqual([]);
  });

  it("'bufferAll' keeps every tick and starts them one at a time, oldest first", () => {
    const first = walk(schedule({ ...all, overlap: 'bufferAll', liveRunIds: ['old'] }), now, 'runs stay live');
    expect(first.s.buffered).toHaveLength(5);
    const second = walk({ ...first.s, liveRunIds: [] }, now + 1000, 'runs stay live');
    expect(second.started).toEqual([iso(T0)]);
    expect(second.s.buffered).toHaveLength(4);
  });
});

describe('other rules', () => {
  it('a flow the store does not know skips the tick, with the reason', () => {
    const { started, s } = walk(schedule({ flowVersion: null, entryNodeId: null }), T0);
    expect(started).toEqual([]);
    expect(s.lastSkip).toMatchObject({ reason: 'flowNotFound', scheduledAt: iso(T0) });
    expect(s.nextFireAt!.toISOString()).toBe(iso(T0 + MIN));
  });

  it('jitter delays a tick by the same amount everywhere, within jitterMs', () => {
    const tick = new Date(T0);
    const a = dueAtOf('s', tick, 30_000, []);
    expect(a!.getTime() - T0).toBeGreaterThanOrEqual(0);
    expect(a!.getTime() - T0).toBeLessThanOrEqual(30_000);
    expect(dueAtOf('s', tick, 30_000, [])).toEqual(a);
    const spread = new Set(Array.from({ length: 50 }, (_, i) => dueAtOf(`s${i}`, tick, 30_000, [])!.getTime()));
    expect(spread.size).toBeGreaterThan(40);
    expect(dueAtOf('s', tick, 0, [])).toEqual(tick);
  });
});
