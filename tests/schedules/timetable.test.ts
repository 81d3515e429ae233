/**
 * Timetables (core/timetable.ts): cron in a time zone across daylight-saving changes — a European
 * and an American zone, on the days the clocks go forward and back — intervals on the epoch, and
 * durations.
 */
import { describe, expect, it } from 'vitest';
import { compileTimetable, cronProblem, isKnownTimeZone, parseDuration } from '../../src/core/timetable.js';

const ticks = (cron: string, timezone: string, from: string, count: number) => {
  const t = compileTimetable({ cron, everyMs: null, timezone });
  const out: string[] = [];
  for (let at = t.next(new Date(from)); at && out.length < count; at = t.next(at)) out.push(at.toISOString());
  return out;
};

describe('cron across daylight-saving changes', () => {
  it('Europe/Berlin, spring forward (2026-03-29, 02:00 → 03:00): 02:30 falls in the gap and fires at the first valid time after it', () => {
    expect(ticks('30 2 * * *', 'Europe/Berlin', '2026-03-27T12:00:00Z', 3)).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST: the gap's first valid time
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
  });

  it('Europe/Berlin, fall back (2026-10-25, 03:00 → 02:00): 02:30 happens twice and fires once', () => {
    expect(ticks('30 2 * * *', 'Europe/Berlin', '2026-10-23T12:00:00Z', 3)).toEqual([
      '2026-10-24T00:30:00.000Z', // CEST
      '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST) only
      '2026-10-26T01:30:00.000Z', // CET
    ]);
  });

  it('America/New_York, spring forward (2026-03-08): an hourly expression skips the hour that does not exist', () => {
    expect(ticks('0 * * * *', 'America/New_York', '2026-03-08T05:30:00Z', 4)).toEqual([
      '2026-03-08T06:00:00.000Z', // 01:00 EST
      '2026-03-08T07:00:00.000Z', // 03:00 EDT (02:00 never happened)
      '2026-03-08T08:00:00.000Z',
      '2026-03-08T09:00:00.000Z',
    ]);
  });

  it('America/New_York, fall back (2026-11-01): an hourly expression fires on both 01:00s, a fixed time once', () => {
    expect(ticks('0 * * * *', 'America/New_York', '2026-11-01T04:30:00Z', 4)).toEqual([
      '2026-11-01T05:00:00.000Z', // 01:00 EDT
      '2026-11-01T06:00:00.000Z', // 01:00 EST
      '2026-11-01T07:00:00.000Z', // 02:00 EST
      '2026-11-01T08:00:00.000Z',
    ]);
    expect(ticks('30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', 2)).toEqual(['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']);
  });

  it('reads six fields with seconds first, and finds the latest tick at or before a time', () => {
    expect(ticks('*/20 * * * * *', 'UTC', '2030-01-01T00:00:05Z', 3)).toEqual([
      '2030-01-01T00:00:20.000Z',
      '2030-01-01T00:00:40.000Z',
      '2030-01-01T00:01:00.000Z',
    ]);
    const t = compileTimetable({ cron: '0 * * * *', everyMs: null, timezone: 'UTC' });
    expect(t.latest(new Date('2030-01-01T05:00:00Z'), new Date(0))?.toISOString()).toBe('2030-01-01T05:00:00.000Z');
    expect(t.latest(new Date('2030-01-01T05:59:59Z'), new Date(0))?.toISOString()).toBe('2030-01-01T05:00:00.000Z');
    expect(t.latest(new Date('2030-01-01T05:59:59Z'), new Date('2030-01-01T05:30:00Z'))).toBeNull();
  });
});

describe('intervals and durations', () => {
  it('ticks at whole multiples of the interval since the epoch', () => {
    const t = compileTimetable({ cron: null, everyMs: 15 * 60_000, timezone: 'UTC' });
    expect(t.next(new Date('2030-01-01T00:07:00Z'))!.toISOString()).toBe('2030-01-01T00:15:00.000Z');
    expect(t.next(new Date('2030-01-01T00:15:00Z'))!.toISOString()).toBe('2030-01-01T00:30:00.000Z');
    expect(t.latest(new Date('2030-01-01T00:29:59Z'), new Date(0))?.toISOString()).toBe('2030-01-01T00:15:00.000Z');
  });

  it('parses durations and refuses what is not one', () => {
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration(2000)).toBe(2000);
    for (const bad of ['m', '1h30m', '-1s', '', '10 minutes', 1.5]) expect(parseDuration(bad)).toBeNull();
  });

  it('knows time zones and cron mistakes', () => {
    expect(isKnownTimeZone('Europe/Berlin')).toBe(true);
    expect(isKnownTimeZone('UTC')).toBe(true);
    expect(isKnownTimeZone('Mars/Olympus')).toBe(false);
    expect(cronProblem('* * * * *', 'UTC')).toBeNull();
    expect(cronProblem('61 * * * *', 'UTC')).toMatch(/minute/);
    expect(cronProblem('* * *', 'UTC')).not.toBeNull();
    expect(cronProblem('* * * * * * *', 'UTC')).not.toBeNull(); // no year field
    expect(cronProblem('0 0 30 2 *', 'UTC')).toBe('never fires');
  });
});
