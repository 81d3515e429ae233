/**
 * Contract of schedules: a schedule row written by compare-and-set, read, listed and deleted;
 * claimed when due by the store's clock, by one claimer at a time, until its lease runs out;
 * fired in one fenced write that advances it and inserts the tick's run — at most one run per
 * (schedule, tick), whatever comes before; the run carries its schedule and tick, `listRuns`
 * finds it by schedule, and the next claim sees it live. Instants on daylight-saving days (a
 * European and an American zone) come back exactly as written.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { FlowStorage, ScheduleWrite } from '../../src/storage/types.js';
import { j, newRun, step } from './contract-helpers.js';
import type { StoreHandle } from './storage-contract.js';

const ago = (ms: number) => new Date(Date.now() - ms);

function scheduleWrite(overrides: Partial<ScheduleWrite> = {}): ScheduleWrite {
  const due = ago(5_000);
  return {
    scheduleId: `sched-${randomUUID()}`,
    flowId: `sched-flow-${randomUUID()}`,
    version: null,
    cron: null,
    every: 60_000,
    timezone: 'UTC',
    input: j({ n: 1 }),
    overlap: 'skip',
    catchup: 'latest',
    catchupWindowMs: 86_400_000,
    jitterMs: 0,
    paused: false,
    nextFireAt: due,
    dueAt: due,
    ...overrides,
  };
}

/** Claims until the schedule `scheduleId` is among the claimed (other tests' due schedules may come first). */
async function claimOne(s: FlowStorage, scheduleId: string, leaseMs = 10_000) {
  for (let i = 0; i < 20; i++) {
    const claim = await s.claimDueSchedules({ limit: 100, leaseMs });
    const mine = claim.schedules.find((c) => c.scheduleId === scheduleId);
    if (mine) return { claim, mine };
    if (claim.schedules.length < 100) return { claim, mine: undefined };
  }
  throw new Error('too many due schedules');
}

export function schedulesContract(get: () => StoreHandle): void {
  const st = () => get().storage;

  it('schedules: creates by compare-and-set, replaces only at the revision read, and keeps what the schedule did', async () => {
    const s = st();
    const w = scheduleWrite({ version: '2', input: j({ deep: { b: 1, a: [1, 'x'] } }) });
    const created = (await s.saveSchedule(w, null))!;
    expect(created).toMatchObject({ scheduleId: w.scheduleId, flowId: w.flowId, version: '2', every: 60_000, cron: null, paused: false, revision: 1 });
    expect(created.input).toEqual({ deep: { b: 1, a: [1, 'x'] } });
    expect(created.nextFireAt).toEqual(new Date(w.nextFireAt!.getTime()));
    expect(created.lastFireAt).toBeNull();
    expect(created.buffered).toEqual([]);
    expect(await s.saveSchedule(w, null)).toBeNull(); // exists already
    expect(await s.getSchedule(w.scheduleId)).toEqual(created);

    // A step records what it did; a replace at the revision read keeps it.
    const { mine } = await claimOne(s, w.scheduleId);
    const fired = (await s.fireSchedule({
      scheduleId: w.scheduleId,
      expectedRevision: mine!.revision,
      nextFireAt: ago(-60_000),
      dueAt: ago(-60_000),
      lastFireAt: w.nextFireAt!,
      buffered: ['2030-01-01T00:00:00.000Z'],
      holdMs: null,
    }))!;
    expect(fired.run).toBeNull();
    const replaced = (await s.saveSchedule({ ...w, cron: '*/5 * * * *', every: null, timezone: 'Europe/Berlin' }, fired.schedule.revision))!;
    expect(replaced).toMatchObject({
      cron: '*/5 * * * *',
      every: null,
      timezone: 'Europe/Berlin',
      lastFireAt: w.nextFireAt,
      buffered: ['2030-01-01T00:00:00.000Z'],
    });
    expect(replaced.createdAt).toEqual(created.createdAt);
    expect(replaced.revision).toBeGreaterThan(fired.schedule.revision);
    expect(await s.saveSchedule(w, fired.schedule.revision)).toBeNull(); // stale revision: refused, nothing written
    expect((await s.getSchedule(w.scheduleId))!.cron).toBe('*/5 * * * *');
  });

  it("schedules: lists by id (all, or one flow's) and deletes", async () => {
    const s = st();
    const flowId = `list-flow-${randomUUID()}`;
    for (const id of ['b', 'a', 'c']) await s.saveSchedule(scheduleWrite({ scheduleId: `${flowId}-${id}`, flowId, nextFireAt: null, dueAt: null }), null);
    expect((await s.listSchedules({ flowId })).map((x) => x.scheduleId)).toEqual(['a', 'b', 'c'].map((id) => `${flowId}-${id}`));
    expect((await s.listSchedules({})).length).toBeGreaterThanOrEqual(3);
    expect(await s.deleteSchedule(`${flowId}-b`)).toBe(true);
    expect(await s.deleteSchedule(`${flowId}-b`)).toBe(false);
    expect(await s.getSchedule(`${flowId}-b`)).toBeNull();
    expect((await s.listSchedules({ flowId })).map((x) => x.scheduleId)).toEqual([`${flowId}-a`, `${flowId}-c`]);
  });

  it('schedules: claims a due schedule once until its lease runs out, never a paused or future one', async () => {
    const s = st();
    const due = (await s.saveSchedule(scheduleWrite(), null))!;
    const paused = (await s.saveSchedule(scheduleWrite({ paused: true }), null))!;
    const future = (await s.saveSchedule(scheduleWrite({ nextFireAt: ago(-60_000), dueAt: ago(-60_000) }), null))!;
    const first = await claimOne(s, due.scheduleId, 300);
    expect(first.mine).toMatchObject({ scheduleId: due.scheduleId, revision: due.revision });
    expect(Math.abs(first.claim.now.getTime() - Date.now())).toBeLessThan(10_000);
    const ids = first.claim.schedules.map((c) => c.scheduleId);
    expect(ids).not.toContain(paused.scheduleId);
    expect(ids).not.toContain(future.scheduleId);
    // Claimed: not claimable again (here or elsewhere) while the lease lasts…
    const other = (await get().second?.()) ?? s;
    expect((await claimOne(other, due.scheduleId)).mine).toBeUndefined();
    // …and claimable once it ran out (its holder died).
    await new Promise((r) => setTimeout(r, 400));
    expect((await claimOne(other, due.scheduleId)).mine).toBeDefined();
    const ms = await s.msUntilNextSchedule();
    expect(ms).not.toBeNull();
    expect(ms!).toBeGreaterThan(0);
    expect(ms!).toBeLessThanOrEqual(60_000);
  });

  it("schedules: a step is one fenced write — the schedule moves on and the tick's run is inserted with it, once", async () => {
    const s = st();
    const flowId = `fire-flow-${randomUUID()}`;
    await s.saveDefinition({ flowId, version: '1', fingerprint: 'f1', graph: j({ flowId, version: '1', entry: 'one', nodes: [], edges: [] }) });
    await new Promise((r) => setTimeout(r, 5));
    await s.saveDefinition({ flowId, version: '2', fingerprint: 'f2', graph: j({ flowId, version: '2', entry: 'two', nodes: [], edges: [] }) });
    const w = scheduleWrite({ flowId });
    await s.saveSchedule(w, null);
    const { mine } = await claimOne(s, w.scheduleId);
    // The newest version the store knows, with its entry node; no run is live yet.
    expect(mine).toMatchObject({ flowVersion: '2', entryNodeId: 'two', liveRunIds: [] });

    const tick = new Date(w.nextFireAt!.getTime());
    const run = newRun({ flowId, flowVersion: '2', currentNodeId: 'two', scheduleId: w.scheduleId, scheduledAt: tick });
    const next = new Date(tick.getTime() + 60_000);
    const stepOf = (revision: number, runId: string = randomUUID()) => ({
      scheduleId: w.scheduleId,
      expectedRevision: revision,
      nextFireAt: next,
      dueAt: next,
      lastFireAt: tick,
      buffered: [],
      holdMs: null,
      run: { ...run, runId },
    });
    const fired = (await s.fireSchedule(stepOf(mine!.revision, run.runId)))!;
    expect(fired.schedule).toMatchObject({ nextFireAt: next, lastFireAt: tick, revision: mine!.revision + 1 });
    expect(fired.run).toMatchObject({ runId: run.runId, status: 'RUNNING', flowVersion: '2', scheduleId: w.scheduleId, scheduledAt: tick.toISOString() });
    expect(await s.getRun(run.runId)).toMatchObject({ scheduleId: w.scheduleId, scheduledAt: tick.toISOString(), currentNodeId: 'two' });
    expect((await s.getEvents(run.runId)).map((e) => e.type)).toEqual(['RUN_STARTED']);

    // The same revision again: refused, nothing written.
    const again = stepOf(mine!.revision);
    expect(await s.fireSchedule(again)).toBeNull();
    expect(await s.getRun(again.run.runId)).toBeNull();
    // The schedule sent back onto a tick that has its run: it advances, without a second run.
    const rewound = (await s.saveSchedule({ ...w, nextFireAt: tick, dueAt: tick }, fired.schedule.revision))!;
    const replay = stepOf(rewound.revision);
    const replayed = (await s.fireSchedule(replay))!;
    expect(replayed.run).toBeNull();
    expect(replayed.schedule.nextFireAt).toEqual(next);
    expect(await s.getRun(replay.run.runId)).toBeNull();
    // Deleted and set again under the same id: still one run for the tick.
    await s.deleteSchedule(w.scheduleId);
    const reborn = (await s.saveSchedule({ ...w, nextFireAt: tick, dueAt: tick }, null))!;
    expect((await s.fireSchedule(stepOf(reborn.revision)))!.run).toBeNull();

    const page = await s.listRuns({ scheduleId: w.scheduleId });
    expect(page.runs.map((r) => r.runId)).toEqual([run.runId]);
    expect((await s.listRuns({ scheduleId: w.scheduleId, summary: true })).runs[0]).toMatchObject({
      scheduleId: w.scheduleId,
      scheduledAt: tick.toISOString(),
    });
    expect((await s.listRuns({ scheduleId: 'no-such-schedule' })).runs).toEqual([]);

    // The next claim sees the run live; once it ends, it is not.
    await s.saveSchedule({ ...w, nextFireAt: ago(1000), dueAt: ago(1000) }, (await s.getSchedule(w.scheduleId))!.revision);
    expect((await claimOne(s, w.scheduleId)).mine!.liveRunIds).toEqual([run.runId]);
    const lease = (await s.lockRun(run.runId))!;
    await lease.commit(step(lease.run!, { status: 'COMPLETED', currentNodeId: null, branches: j([]) }, { release: true }));
    await s.saveSchedule({ ...w, nextFireAt: ago(1000), dueAt: ago(1000) }, (await s.getSchedule(w.scheduleId))!.revision);
    expect((await claimOne(s, w.scheduleId)).mine!.liveRunIds).toEqual([]);
  });

  it('schedules: a pinned version that the store does not know resolves to nothing', async () => {
    const s = st();
    const w = scheduleWrite({ version: 'nope' });
    await s.saveSchedule(w, null);
    expect((await claimOne(s, w.scheduleId)).mine).toMatchObject({ flowVersion: null, entryNodeId: null });
  });

  it('schedules: instants on daylight-saving days (Europe/Berlin, America/New_York) come back exactly', async () => {
    const s = st();
    const instants = ['2026-03-29T01:00:00.000Z', '2026-10-25T00:30:00.000Z', '2026-03-08T07:00:00.000Z', '2026-11-01T06:00:00.000Z'];
    for (const [i, at] of instants.entries()) {
      const w = scheduleWrite({
        cron: '30 2 * * *',
        every: null,
        timezone: i < 2 ? 'Europe/Berlin' : 'America/New_York',
        nextFireAt: new Date(at),
        dueAt: new Date(at),
      });
      const saved = (await s.saveSchedule(w, null))!;
      expect(saved.nextFireAt!.toISOString()).toBe(at);
      expect(saved.timezone).toBe(w.timezone);
      const run = newRun({ scheduleId: w.scheduleId, scheduledAt: new Date(at) });
      await s.createRun(run);
      expect((await s.getRun(run.runId))!.scheduledAt).toBe(at);
    }
  });
}
