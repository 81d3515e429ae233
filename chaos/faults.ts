/**
 * The faults of the soak, planned over the load window and injected one after another:
 *   kill       SIGKILL a random worker at a random moment, then start a new one in its place
 *   storm      pg_terminate_backend every session of the soak (workers and the soak itself)
 *   pause      freeze a worker inside a handler (SIGSTOP), terminate its sessions so its locks
 *              go, wait until another worker has taken its run over, then thaw it (SIGCONT):
 *              its late commit must be refused
 *   pg-restart restart the Postgres server
 */
import type { DatabaseAdmin } from './database-admin.js';
import type { WorkerFleet } from './worker-fleet.js';
import type { SoakOptions } from './options.js';

export type FaultKind = 'kill' | 'storm' | 'pause' | 'pg-restart';

export interface FaultRecord {
  kind: FaultKind;
  atMs: number;
  detail: string;
  /** A fault whose own expectation failed (e.g. the paused worker's commit was not refused). */
  violation?: string;
}

export function planFaults(options: SoakOptions): Array<{ atMs: number; kind: FaultKind }> {
  const window = options.loadSeconds * 1000;
  const plan: Array<{ atMs: number; kind: FaultKind }> = [];
  for (let k = 0; k < options.storms; k++) plan.push({ atMs: Math.round(((k + 0.5) / options.storms) * window * 0.9), kind: 'storm' });
  for (let k = 0; k < options.pauses; k++) plan.push({ atMs: Math.round(((k + 1) / (options.pauses + 1)) * window * 0.5), kind: 'pause' });
  if (options.pgRestart) plan.push({ atMs: Math.round(window * 0.6), kind: 'pg-restart' });
  // Kills at random moments: exponential gaps with the configured mean.
  if (options.killEveryMs > 0) {
    for (let at = -Math.log(1 - Math.random()) * options.killEveryMs; at < window; at += -Math.log(1 - Math.random()) * options.killEveryMs) {
      plan.push({ atMs: Math.round(at), kind: 'kill' });
    }
  }
  return plan.sort((a, b) => a.atMs - b.atMs);
}

/**
 * Kills run on their own schedule, concurrently with the other faults (which run one after
 * another: a freeze/takeover takes seconds and must not push a storm past the load window).
 */
export async function injectFaults(plan: Array<{ atMs: number; kind: FaultKind }>, deps: Deps): Promise<FaultRecord[]> {
  const [kills, others] = await Promise.all([
    injectInOrder(
      plan.filter((p) => p.kind === 'kill'),
      deps,
    ),
    injectInOrder(
      plan.filter((p) => p.kind !== 'kill'),
      deps,
    ),
  ]);
  return [...kills, ...others].sort((a, b) => a.atMs - b.atMs);
}

async function injectInOrder(plan: Array<{ atMs: number; kind: FaultKind }>, deps: Deps): Promise<FaultRecord[]> {
  const records: FaultRecord[] = [];
  for (const step of plan) {
    const wait = deps.startedAt + step.atMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (deps.finished()) break;
    const atMs = Date.now() - deps.startedAt;
    try {
      const outcome = await FAULTS[step.kind](deps);
      records.push({ kind: step.kind, atMs, ...outcome });
      deps.log(`fault ${step.kind} at ${(atMs / 1000).toFixed(1)}s: ${outcome.detail}${outcome.violation ? ` — VIOLATION: ${outcome.violation}` : ''}`);
    } catch (err) {
      records.push({ kind: step.kind, atMs, detail: 'could not be injected', violation: `${step.kind} fault failed: ${(err as Error).message}` });
    }
  }
  return records;
}

type Deps = {
  fleet: WorkerFleet;
  admin: DatabaseAdmin;
  schema: string;
  startedAt: number;
  log: (line: string) => void;
  /** True once every run rests: faults still planned then would test nothing, so they are skipped. */
  finished: () => boolean;
};
type Outcome = { detail: string; violation?: string };

const FAULTS: Record<FaultKind, (deps: Deps) => Promise<Outcome>> = {
  async kill({ fleet }) {
    const slot = fleet.randomSlot();
    if (!slot) return { detail: 'no worker to kill' };
    const pid = slot.proc.pid;
    await fleet.killAndRestart(slot, Math.random() * 500);
    return { detail: `SIGKILL worker ${slot.index} (pid ${pid}), restarted as pid ${fleet.slots[slot.index]!.proc.pid}` };
  },

  async storm({ admin }) {
    const n = await admin.terminateSessions(`${admin.tag}-`);
    return { detail: `terminated ${n} sessions` };
  },

  async 'pg-restart'({ admin }) {
    const { restartMs, answeringAfterMs } = await admin.restartPostgres();
    return { detail: `pg_ctlcluster restart took ${restartMs} ms; answering again after ${answeringAfterMs} ms` };
  },

  async pause({ fleet, admin, schema }) {
    const slot = fleet.randomSlot();
    if (!slot) return { detail: 'no worker to pause', violation: 'pause fault found no worker' };
    slot.paused = true;
    try {
      const before = await fleet.counters(slot);
      const mark = slot.proc.lines.length;
      slot.proc.child.kill('SIGUSR2'); // arm: the next handler it enters prints PAUSED and lingers
      const line = await waitUntil(15_000, () => slot.proc.lines.slice(mark).find((l) => l.startsWith('PAUSED ')));
      if (!line) return { detail: `worker ${slot.index} entered no handler`, violation: 'pause fault: the worker never entered a handler' };
      slot.proc.child.kill('SIGSTOP');
      const [, runId, nodeId, attempt, item] = line.split(' ');
      const itemIndex = item === undefined || item === '-' ? null : Number(item);
      const terminated = await admin.terminateSessions(fleet.appName(slot.index));
      // Another worker sees the attempt (or map item) begun and never finished, and records NODE_INTERRUPTED.
      const takenOver = await waitUntil(60_000, async () => {
        const rows = await admin.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM "${schema}".flow_events
           WHERE run_id = $1 AND node_id = $2 AND attempt = $3 AND item_index IS NOT DISTINCT FROM $4::int AND type = 'NODE_INTERRUPTED'`,
          [runId, nodeId, Number(attempt), itemIndex],
        );
        return rows[0]!.n > 0;
      });
      slot.proc.child.kill('SIGCONT');
      // Its handler returns and it tries to commit; the commit must be refused.
      await new Promise((r) => setTimeout(r, 3000));
      const after = await fleet.counters(slot);
      const stale = (after.stale ?? 0) - (before.stale ?? 0);
      const errors = (after.errors ?? 0) - (before.errors ?? 0);
      const detail = `froze worker ${slot.index} in ${nodeId}${itemIndex === null ? '' : ` item ${itemIndex}`} (attempt ${attempt}) of run ${runId}, terminated its ${terminated} sessions; ${
        takenOver ? 'another worker took the run over' : 'NO takeover within 60 s'
      }; after SIGCONT its stale count rose by ${stale} (late commits refused by the fence), its error count by ${errors} (lost connections)`;
      if (!takenOver) return { detail, violation: 'no other worker took over the paused run' };
      if (stale === 0) return { detail, violation: "the frozen worker's late commit was not refused as stale" };
      return { detail };
    } finally {
      slot.paused = false;
    }
  },
};

async function waitUntil<T>(timeoutMs: number, check: () => T | undefined | false | Promise<T | undefined | false>): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}
