/**
 * What operating the engine reads of the SQL store: the gauges of `engine.metrics()` (runs per
 * status, runs due and the age of the oldest) and the workers' registry — the `FlowStorage`
 * methods over their statements (statements/count-*.ts, *-worker*.ts), with their rows converted.
 */
import type { FlowRunStatus } from '../../definitions/types.js';
import { WORKER_DROP_AFTER_BEATS, WORKER_SILENT_AFTER_BEATS, type DueRunCount, type RunCount, type WorkerBeat, type WorkerRecord } from '../types.js';
import type { SqlExecutor } from './executor.js';
import type { Statements } from './statements/index.js';

type RunCountRow = { flow_id: string; flow_version: string; status: string; count: number | string };
type DueRunCountRow = { flow_id: string; flow_version: string; due: number | string; oldest_due_seconds: number | string };
type WorkerRow = {
  worker_id: string;
  host: string;
  pid: number;
  started_at: Date | string;
  last_seen_at: Date | string;
  heartbeat_ms: number;
  flow_keys: unknown;
  concurrency: number;
  in_flight: number;
  silent: boolean;
};

export class SqlOperations {
  constructor(
    private readonly executor: SqlExecutor,
    private readonly sql: Statements,
  ) {}

  async countRuns(): Promise<RunCount[]> {
    const rows = await this.executor.query<RunCountRow>(this.sql.countRuns);
    return rows.map((r) => ({ flowId: r.flow_id, flowVersion: r.flow_version, status: r.status as FlowRunStatus, count: Number(r.count) }));
  }

  async countDueRuns(): Promise<DueRunCount[]> {
    const rows = await this.executor.query<DueRunCountRow>(this.sql.countDueRuns);
    return rows.map((r) => ({ flowId: r.flow_id, flowVersion: r.flow_version, due: Number(r.due), oldestDueSeconds: Number(r.oldest_due_seconds) }));
  }

  async recordWorker(w: WorkerBeat): Promise<void> {
    await this.executor.query(this.sql.recordWorker, [
      w.workerId,
      w.host,
      w.pid,
      w.startedAt.toISOString(),
      w.heartbeatMs,
      JSON.stringify(w.flowKeys),
      w.concurrency,
      w.inFlight,
      WORKER_DROP_AFTER_BEATS,
    ]);
  }

  async removeWorker(workerId: string): Promise<void> {
    await this.executor.query(this.sql.removeWorker, [workerId]);
  }

  async listWorkers(): Promise<WorkerRecord[]> {
    const rows = await this.executor.query<WorkerRow>(this.sql.listWorkers, [WORKER_SILENT_AFTER_BEATS, WORKER_DROP_AFTER_BEATS]);
    return rows.map((r) => ({
      workerId: r.worker_id,
      host: r.host,
      pid: Number(r.pid),
      startedAt: new Date(r.started_at),
      lastSeenAt: new Date(r.last_seen_at),
      heartbeatMs: Number(r.heartbeat_ms),
      flowKeys: Array.isArray(r.flow_keys) ? (r.flow_keys as string[]) : [],
      concurrency: Number(r.concurrency),
      inFlight: Number(r.in_flight),
      status: r.silent ? 'silent' : 'live',
    }));
  }
}
