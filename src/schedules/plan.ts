/**
 * The rules of a schedule's ticks, as one pure function: given a claimed schedule, the store's
 * clock and whether its previous run is unfinished, what the next step writes — which tick starts
 * a run, which is skipped or buffered and why, where the timetable goes next. The firer
 * (fire.ts) writes each step in one fenced statement and plans again from what it wrote, until a
 * step says nothing more is due. Nothing here reads or writes: every rule can be tested alone.
 *
 * Catch-up: when several ticks are due at once (no worker ran for a while), `'all'` fires each
 * of them that is within `catchupWindowMs` (one step each, oldest first), `'latest'` fires only
 * the latest within the window, and `'none'` fires the latest only if it is less than
 * `ON_TIME_GRACE_MS` late — a tick that late was not missed, a worker was merely busy. Ticks passed
 * over are recorded as one skip (`'missed'`, the latest of them).
 *
 * Overlap, when the schedule's previous run is RUNNING or WAITING: `'skip'` records the tick as
 * skipped; `'bufferOne'` keeps it (one at most; a further one is skipped) and `'bufferAll'` keeps
 * every one, to start, oldest first, once no run of the schedule is live; `'cancelPrevious'`
 * cancels the live runs and starts the tick's; `'allow'` starts it regardless.
 */
import { createHash } from 'node:crypto';
import type { Timetable } from '../core/timetable.js';
import type { ClaimedSchedule, ScheduleSkip, ScheduleStep } from '../storage/types.js';

/** A tick less late than this is on time, even with catch-up `'none'`. */
export const ON_TIME_GRACE_MS = 60_000;
/** How often a buffered tick looks again whether the previous run has ended. */
export const BUFFER_RECHECK_MS = 1000;

export interface PlannedStep {
  /** The tick whose run this step starts; null when it starts none. */
  start: Date | null;
  /** Runs to cancel before the step is written (overlap `'cancelPrevious'`). */
  cancel: string[];
  /** The step's write, but for its fence and its run (the firer's). */
  write: Omit<ScheduleStep, 'scheduleId' | 'expectedRevision' | 'run'>;
  /** Something more is due after this step: plan again from the row it wrote. */
  again: boolean;
}

/**
 * The next step of `s`, claimed at `now` (the store's clock) for `leaseMs`; `live`: its previous
 * run is unfinished.
 */
export function planStep(s: ClaimedSchedule, timetable: Timetable, now: Date, live: boolean, leaseMs: number): PlannedStep {
  const at = now.toISOString();
  // 1. A buffered tick starts once the previous run has ended.
  if (s.buffered.length > 0 && !live) {
    const [first, ...rest] = s.buffered;
    const tick = new Date(first!);
    return step(s, now, leaseMs, { start: tick, nextFireAt: s.nextFireAt, lastFireAt: tick, buffered: rest, liveAfter: true });
  }
  const next = s.nextFireAt;
  // 2. No tick of the timetable is due (a buffered one waits for the run): look again later.
  if (next === null || next.getTime() > now.getTime()) return step(s, now, leaseMs, { start: null, nextFireAt: next, buffered: s.buffered, liveAfter: live });

  // 3. Which of the due ticks is fired (catch-up), and which are passed over.
  const windowMs = s.catchup === 'none' ? Math.min(ON_TIME_GRACE_MS, s.catchupWindowMs) : s.catchupWindowMs;
  const notBefore = new Date(now.getTime() - windowMs);
  const latest = timetable.latest(now, next) ?? next;
  let tick: Date | null;
  if (s.catchup === 'all') {
    tick = next.getTime() >= notBefore.getTime() ? next : timetable.next(new Date(notBefore.getTime() - 1));
    if (tick !== null && tick.getTime() > now.getTime()) tick = null;
  } else {
    tick = latest.getTime() >= notBefore.getTime() ? latest : null;
  }
  const passedOver = tick === null ? latest : tick.getTime() > next.getTime() ? timetable.latest(new Date(tick.getTime() - 1), next) : null;
  const missed: ScheduleSkip | undefined = passedOver
    ? { scheduledAt: passedOver.toISOString(), reason: 'missed', message: missedMessage(s, passedOver, next), at }
    : undefined;
  if (tick === null) return step(s, now, leaseMs, { start: null, nextFireAt: timetable.next(now), lastSkip: missed, buffered: s.buffered, liveAfter: live });

  const nextFireAt = timetable.next(tick);
  const skip = (reason: ScheduleSkip['reason'], message: string) =>
    step(s, now, leaseMs, {
      start: null,
      nextFireAt,
      lastSkip: { scheduledAt: tick.toISOString(), reason, message, at },
      buffered: s.buffered,
      liveAfter: live,
    });
  // 4. The flow must be known to the store.
  if (s.flowVersion === null || s.entryNodeId === null) {
    const which = s.version === null ? `no version of flow ${s.flowId}` : `flow ${s.flowId}@${s.version}`;
    return skip('flowNotFound', `${which} is known to the store`);
  }
  // 5. Overlap with the previous run.
  if (live && s.overlap !== 'allow') {
    if (s.overlap === 'skip') return skip('overlap', 'the previous run was unfinished');
    if (s.overlap === 'bufferOne' && s.buffered.length >= 1) return skip('overlap', 'the previous run was unfinished and one tick was buffered already');
    if (s.overlap === 'bufferOne' || s.overlap === 'bufferAll') {
      return step(s, now, leaseMs, { start: null, nextFireAt, lastSkip: missed, buffered: [...s.buffered, tick.toISOString()], liveAfter: live });
    }
    return {
      ...step(s, now, leaseMs, { start: tick, nextFireAt, lastFireAt: tick, lastSkip: missed, buffered: s.buffered, liveAfter: true }),
      cancel: [...s.liveRunIds],
    };
  }
  return step(s, now, leaseMs, { start: tick, nextFireAt, lastFireAt: tick, lastSkip: missed, buffered: s.buffered, liveAfter: true });
}

/** A step's write, with its due time and whether more is due after it (and so whether the claim is kept). */
function step(
  s: ClaimedSchedule,
  now: Date,
  leaseMs: number,
  w: { start: Date | null; nextFireAt: Date | null; lastFireAt?: Date; lastSkip?: ScheduleSkip; buffered: string[]; liveAfter: boolean },
): PlannedStep {
  const timetableDue = w.nextFireAt !== null && w.nextFireAt.getTime() <= now.getTime();
  const again = timetableDue || (w.buffered.length > 0 && !w.liveAfter);
  return {
    start: w.start,
    cancel: [],
    write: {
      nextFireAt: w.nextFireAt,
      dueAt: dueAtOf(s.scheduleId, w.nextFireAt, s.jitterMs, w.buffered),
      lastFireAt: w.lastFireAt,
      lastSkip: w.lastSkip,
      buffered: w.buffered,
      // Kept while this worker goes on; a buffered tick looks again soon; otherwise let go.
      holdMs: again ? leaseMs : w.buffered.length > 0 ? BUFFER_RECHECK_MS : null,
    },
    again,
  };
}

/**
 * When the schedule is next worth a look: its next tick plus that tick's jitter, or at once when
 * a tick is buffered. The jitter is drawn from (schedule, tick), so every process and every
 * rewrite of the row give the same one.
 */
export function dueAtOf(scheduleId: string, nextFireAt: Date | null, jitterMs: number, buffered: readonly string[]): Date | null {
  const jittered = nextFireAt === null ? null : nextFireAt.getTime() + jitterOf(scheduleId, nextFireAt, jitterMs);
  const oldestBuffered = buffered.length > 0 ? Date.parse(buffered[0]!) : null;
  if (jittered === null) return oldestBuffered === null ? null : new Date(oldestBuffered);
  return new Date(oldestBuffered === null ? jittered : Math.min(jittered, oldestBuffered));
}

function jitterOf(scheduleId: string, tick: Date, jitterMs: number): number {
  if (jitterMs <= 0) return 0;
  const digest = createHash('sha256').update(`${scheduleId}\u0000${tick.toISOString()}`).digest();
  return digest.readUInt32BE(0) % (jitterMs + 1);
}

function missedMessage(s: ClaimedSchedule, passedOver: Date, first: Date): string {
  const span = passedOver.getTime() === first.getTime() ? 'a tick' : `ticks from ${first.toISOString()}`;
  if (s.catchup === 'none') return `${span} missed while no worker ran (catchup 'none')`;
  if (s.catchup === 'latest') return `${span} missed while no worker ran (catchup 'latest' fires only the latest)`;
  return `${span} missed while no worker ran, more than catchupWindowMs (${s.catchupWindowMs} ms) ago`;
}
