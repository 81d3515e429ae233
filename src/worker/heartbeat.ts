/**
 * The worker's row in the workers' registry (`engine.listWorkers()`): written when the worker is
 * RUNNING, refreshed every `heartbeatIntervalMs` with what it serves and holds, deleted when it
 * stops. A worker that dies without stopping (SIGKILL, a lost machine) stops refreshing: the
 * registry shows it silent after 3 missed refreshes and deletes it after 30 (storage/types.ts).
 */
import { hostname } from 'node:os';
import type { FlowStorage, WorkerBeat } from '../storage/types.js';
import type { WorkerLogger } from './types.js';

export class WorkerHeartbeat {
  private timer?: NodeJS.Timeout;
  private beating: Promise<void> = Promise.resolve();
  private failing = false;
  private readonly host = hostname();
  private readonly startedAt = new Date();

  constructor(
    private readonly storage: FlowStorage,
    private readonly intervalMs: number,
    private readonly logger: WorkerLogger,
    private readonly describe: () => Pick<WorkerBeat, 'workerId' | 'flowKeys' | 'concurrency' | 'inFlight'>,
  ) {}

  /** Writes the row now and then every interval. */
  start(): Promise<void> {
    this.timer = setInterval(() => void this.beat(), this.intervalMs);
    this.timer.unref();
    return this.beat();
  }

  /** Stops refreshing and deletes the row (a failure is logged: the row then goes silent, then away). */
  async stop(): Promise<void> {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.beating;
    await this.storage
      .removeWorker(this.describe().workerId)
      .catch((err: unknown) => this.logger.warn('could not remove this worker from the registry', { error: text(err) }));
  }

  private beat(): Promise<void> {
    // One refresh at a time: a slow database must not pile them up.
    this.beating = this.beating.then(async () => {
      if (!this.timer) return;
      try {
        await this.storage.recordWorker({ ...this.describe(), host: this.host, pid: process.pid, startedAt: this.startedAt, heartbeatMs: this.intervalMs });
        if (this.failing) this.logger.info('the workers registry is written again');
        this.failing = false;
      } catch (err) {
        if (!this.failing) this.logger.warn('could not refresh this worker in the registry (it may show silent)', { error: text(err) });
        this.failing = true;
      }
    });
    return this.beating;
  }
}

function text(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
