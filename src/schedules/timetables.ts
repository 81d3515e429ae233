/**
 * Compiled timetables by definition (cron text and zone, or interval), so that a pass over many
 * schedules sharing an expression parses it once. Bounded: past `MAX_ENTRIES` it starts afresh.
 */
import { compileTimetable, type Timetable } from '../core/timetable.js';

const MAX_ENTRIES = 1000;

export class TimetableCache {
  private readonly compiled = new Map<string, Timetable>();

  of(s: { cron: string | null; every: number | null; timezone: string }): Timetable {
    const key = s.every !== null ? `every:${s.every}` : `cron:${s.timezone}:${s.cron}`;
    let timetable = this.compiled.get(key);
    if (!timetable) {
      if (this.compiled.size >= MAX_ENTRIES) this.compiled.clear();
      timetable = compileTimetable({ cron: s.cron, everyMs: s.every, timezone: s.timezone });
      this.compiled.set(key, timetable);
    }
    return timetable;
  }
}
