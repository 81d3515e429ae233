/**
 * The memory store's side of operating the engine: the gauges of `engine.metrics()` counted over
 * its runs, and the workers' registry as an in-process list — the same rules as the SQL
 * statements (statements/count-*.ts, *-worker*.ts), by the store's clock.
 */
import type { Clock } from '../core/clock.js';
import { isDueAt } from './due.js';
import type { RunRow } from './memory-lease.js';
import { WORKER_DROP_AFTER_BEATS, WORKER_SILENT_AFTER_BEATS, type DueRunCount, type RunCount, type WorkerBeat, type WorkerRecord } from './types.js';

export function countRunsOf(runs: Iterable<RunRow>): RunCount[] {
  const counts = new Map<string, RunCount>();
  for (const r of runs) {
    const key = `${r.flowId}\u0000${r.flowVersion}\u0000${r.status}`;
    const c = counts.get(key);
    if (c) c.count += 1;
    else counts.set(key, { flowId: r.flowId, flowVersion: r.flowVersion, status: r.status, count: 1 });
  }
  return [...counts.values()];
}

/** `firstInboxAt(runId)`: when the oldest entry of the run's inbox arrived (ms), or null when it is empty. */
export function countDueRunsOf(runs: Iterable<RunRow>, nowMs: number, firstInboxAt: (runId: string) => number | null): DueRunCount[] {
  const counts = new Map<string, DueRunCount & { since: number }>();
  for (const r of runs) {
    if (!isDueAt(r, nowMs)) continue;
    const inboxAt = r.hasInbox ? firstInboxAt(r.runId) : null;
    const dueAt = r.nextAttemptAt?.getTime() ?? null;
    const since = inboxAt !== null && (dueAt === null || dueAt > nowMs || inboxAt < dueAt) ? inboxAt : (dueAt ?? r.updatedAt.getTime());
    const key = `${r.flowId}\u0000${r.flowVersion}`;
    const c = counts.get(key);
    if (c) {
      c.due += 1;
      c.since = Math.min(c.since, since);
    } else counts.set(key, { flowId: r.flowId, flowVersion: r.flowVersion, due: 1, oldestDueSeconds: 0, since });
  }
  return [...counts.values()].map(({ since, ...c }) => ({ ...c, oldestDueSeconds: Math.max(0, (nowMs - since) / 1000) }));
}

export class MemoryWorkers {
  private readonly rows = new Map<string, WorkerBeat & { lastSeenAt: number }>();

  constructor(private readonly clock: Clock) {}

  record(w: WorkerBeat): void {
    const now = this.clock.now();
    for (const [id, row] of this.rows) if (id !== w.workerId && now - row.lastSeenAt > row.heartbeatMs * WORKER_DROP_AFTER_BEATS) this.rows.delete(id);
    // As the SQL upsert: a refresh keeps who the worker is (host, pid, start) and updates the rest.
    const kept = this.rows.get(w.workerId);
    const who = kept ? { host: kept.host, pid: kept.pid, startedAt: kept.startedAt } : { host: w.host, pid: w.pid, startedAt: new Date(w.startedAt) };
    this.rows.set(w.workerId, { ...w, ...who, flowKeys: [...w.flowKeys], lastSeenAt: now });
  }

  remove(workerId: string): void {
    this.rows.delete(workerId);
  }

  list(): WorkerRecord[] {
    const now = this.clock.now();
    return [...this.rows.values()]
      .filter((r) => now - r.lastSeenAt <= r.heartbeatMs * WORKER_DROP_AFTER_BEATS)
      .sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime() || (a.workerId < b.workerId ? -1 : 1))
      .map(({ lastSeenAt, ...r }) => ({
        ...r,
        flowKeys: [...r.flowKeys],
        startedAt: new Date(r.startedAt),
        lastSeenAt: new Date(lastSeenAt),
        status: now - lastSeenAt > r.heartbeatMs * WORKER_SILENT_AFTER_BEATS ? 'silent' : 'live',
      }));
  }
}
