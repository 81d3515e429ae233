/**
 * The soak's worker processes: one slot per worker, each a real process with its own pool and
 * an application_name of its own (`<tag>-w<slot>`), so faults can target one worker's sessions.
 */
import { fileURLToPath } from 'node:url';
import { spawnScript, withApplicationName, type ScriptProcess } from './child-process.js';

const WORKER_SCRIPT = fileURLToPath(new URL('./soak-worker.ts', import.meta.url));

export type WorkerCountersSnapshot = Record<string, number>;

interface Slot {
  index: number;
  proc: ScriptProcess;
  /** Frozen by a pause fault: not to be killed meanwhile. */
  paused: boolean;
  /** Printed READY: its signal handlers are installed (SIGUSR1/2 would kill it before that). */
  ready: boolean;
  /** The soak ends this process itself (SIGKILL, graceful stop): its exit is no crash. */
  endedBySoak: boolean;
}

/** A worker process that exited on its own: a crash (an unhandled error, say), not one of the soak's faults. */
export interface WorkerCrash {
  slot: number;
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The end of its stderr. */
  stderr: string;
}

export class WorkerFleet {
  readonly slots: Slot[] = [];
  /** Counters reported at graceful stop, summed (a SIGKILLed process reports nothing). */
  readonly stoppedCounters: WorkerCountersSnapshot = {};
  spawned = 0;
  /** Processes that exited without the soak ending them. */
  readonly crashes: WorkerCrash[] = [];

  constructor(private readonly config: { databaseUrl: string; schema: string; tag: string; concurrency: number; maxRecoveries: number }) {}

  appName(index: number): string {
    return `${this.config.tag}-w${index}`;
  }

  async start(count: number): Promise<void> {
    await Promise.all(Array.from({ length: count }, (_, i) => this.startSlot(i)));
  }

  private async startSlot(index: number): Promise<Slot> {
    const proc = spawnScript(WORKER_SCRIPT, {
      DATABASE_URL: withApplicationName(this.config.databaseUrl, this.appName(index)),
      CHAOS_SCHEMA: this.config.schema,
      CONCURRENCY: String(this.config.concurrency),
      MAX_RECOVERIES: String(this.config.maxRecoveries),
    });
    this.spawned += 1;
    const slot: Slot = { index, proc, paused: false, ready: false, endedBySoak: false };
    this.slots[index] = slot;
    void proc.exited.then(({ code, signal }) => {
      if (!slot.endedBySoak) this.crashes.push({ slot: index, pid: proc.pid, code, signal, stderr: proc.stderr().slice(-2000) });
    });
    // Startup can coincide with a fault (a storm, a restart): the worker retries its connection itself.
    await proc.line((l) => l.startsWith('READY'), 120_000);
    slot.ready = true;
    return slot;
  }

  randomSlot(): Slot | undefined {
    // Not one a kill fault is ending: between its SIGKILL and its exit it looks alive, and a pause
    // fault that picked it would find it gone.
    const candidates = this.slots.filter((s) => s.ready && !s.paused && !s.endedBySoak && !s.proc.hasExited);
    return candidates[Math.floor(Math.random() * candidates.length)];
  }

  /** SIGKILL (no chance to clean up: its locks go with its connections), then a fresh process in the slot. */
  async killAndRestart(slot: Slot, restartDelayMs: number): Promise<void> {
    slot.endedBySoak = true;
    slot.proc.child.kill('SIGKILL');
    await slot.proc.exited;
    await new Promise((r) => setTimeout(r, restartDelayMs));
    await this.startSlot(slot.index);
  }

  /** Asks a worker for its counters (SIGUSR1 → `COUNTERS <json>`). */
  async counters(slot: Slot): Promise<WorkerCountersSnapshot> {
    const mark = slot.proc.lines.length;
    slot.proc.child.kill('SIGUSR1');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const line = slot.proc.lines.slice(mark).find((l) => l.startsWith('COUNTERS '));
      if (line) return JSON.parse(line.slice('COUNTERS '.length)) as WorkerCountersSnapshot;
      if (slot.proc.hasExited)
        throw new Error(`worker ${slot.index} (pid ${slot.proc.pid}) exited before it reported its counters; stderr: ${slot.proc.stderr().slice(-600)}`);
      if (Date.now() > deadline) throw new Error(`worker ${slot.index} did not report its counters`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Graceful stop of every worker (SIGTERM); one that does not exit in time is killed. */
  async stopAll(): Promise<void> {
    await Promise.all(
      this.slots.map(async (slot) => {
        slot.endedBySoak = true;
        if (slot.proc.hasExited) return;
        slot.proc.child.kill('SIGCONT');
        slot.proc.child.kill('SIGTERM');
        const exited = await Promise.race([slot.proc.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 30_000))]);
        if (!exited) {
          slot.proc.child.kill('SIGKILL');
          await slot.proc.exited;
        }
        const stopped = slot.proc.lines.find((l) => l.startsWith('STOPPED '));
        if (stopped) {
          for (const [k, v] of Object.entries(JSON.parse(stopped.slice('STOPPED '.length)) as WorkerCountersSnapshot)) {
            this.stoppedCounters[k] = (this.stoppedCounters[k] ?? 0) + v;
          }
        }
      }),
    );
  }

  /** Kills whatever is left (the soak failing half-way must not leave processes behind). */
  killAll(): void {
    for (const slot of this.slots) {
      if (!slot || slot.proc.hasExited) continue;
      slot.endedBySoak = true;
      slot.proc.child.kill('SIGKILL');
    }
  }
}
