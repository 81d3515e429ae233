/**
 * The memory store's flow control (docs/flow-control.md): the same rules as the SQL stores'
 * `flow_admit_run` (the flow_control migration) and find-due-runs.ts, over in-process tables.
 * Executing slots are counted per (flow, limit, key) while a lease holds them; active slots are
 * held by a run while it is live; a rate limit keeps its GCRA theoretical arrival time per key.
 */
import type { FlowRunStatus } from '../definitions/types.js';
import type { FlowControlRecord } from '../definitions/types.js';

/** What the rules read of a run. */
export interface ControlledRun {
  runId: string;
  flowId: string;
  status: FlowRunStatus;
  flowControl: FlowControlRecord | null;
}

/** Why a run was refused (the SQL function's refusal, as a value). */
export type Refusal =
  { reason: 'concurrency'; key: string; limit: number; scope: 'executing' | 'active' } | { reason: 'rateLimit'; key: string; limit: number; until: Date };

const isLive = (status: FlowRunStatus | undefined) => status === 'RUNNING' || status === 'WAITING';

export class MemoryFlowControl {
  /** Executing slots taken, by `flow\0index\0key`. */
  private readonly executing = new Map<string, number>();
  /** Active slots: the runs holding one, by `flow\0index\0key`. */
  private readonly active = new Map<string, Set<string>>();
  /** GCRA theoretical arrival times (ms), by `flow\0key`. */
  private readonly rates = new Map<string, number>();

  constructor(private readonly statusOf: (runId: string) => FlowRunStatus | undefined) {}

  /** Active slots of `name` held by live runs (finished ones give theirs up here, lazily, as in SQL). */
  private activeHolders(name: string): Set<string> {
    const holders = this.active.get(name) ?? new Set<string>();
    for (const id of holders) if (!isLive(this.statusOf(id))) holders.delete(id);
    this.active.set(name, holders);
    return holders;
  }

  /** Whether a look for due runs leaves `run` out: one of its concurrency keys has no free slot for it. */
  blocked(run: ControlledRun): boolean {
    const fc = run.flowControl;
    if (!fc) return false;
    return fc.concurrency.some((c, i) => {
      const name = `${run.flowId}\0${i}\0${c.key}`;
      if (c.scope === 'active') {
        const holders = this.activeHolders(name);
        return !holders.has(run.runId) && holders.size >= c.limit;
      }
      return (this.executing.get(name) ?? 0) >= c.limit;
    });
  }

  /**
   * Admits `run` (its lock just taken) at `nowMs`: takes its slots and a rate token, and returns
   * what gives the executing slots back (at release), or the refusal, having taken nothing.
   */
  admit(run: ControlledRun, nowMs: number): { release: () => void } | Refusal {
    const fc = run.flowControl;
    if (!fc || !isLive(run.status)) return { release: () => undefined };
    const taken: string[] = [];
    const joined: Array<[Set<string>, string]> = [];
    const undo = () => {
      for (const name of taken) this.executing.set(name, (this.executing.get(name) ?? 1) - 1);
      for (const [holders, id] of joined) holders.delete(id);
    };
    for (const [i, c] of fc.concurrency.entries()) {
      const name = `${run.flowId}\0${i}\0${c.key}`;
      if (c.scope === 'active') {
        const holders = this.activeHolders(name);
        if (holders.has(run.runId)) continue;
        if (holders.size >= c.limit) return (undo(), { reason: 'concurrency', key: c.key, limit: c.limit, scope: 'active' });
        holders.add(run.runId);
        joined.push([holders, run.runId]);
      } else {
        const used = this.executing.get(name) ?? 0;
        if (used >= c.limit) return (undo(), { reason: 'concurrency', key: c.key, limit: c.limit, scope: 'executing' });
        this.executing.set(name, used + 1);
        taken.push(name);
      }
    }
    const rate = fc.rateLimit;
    if (rate && rate.admittedAt === undefined) {
      const name = `${run.flowId}\0${rate.key}`;
      const step = rate.periodMs / rate.limit;
      const tat = Math.max(this.rates.get(name) ?? nowMs, nowMs);
      if (tat + step - nowMs > rate.periodMs) {
        undo();
        return { reason: 'rateLimit', key: rate.key, limit: rate.limit, until: new Date(Math.ceil(tat + step - rate.periodMs)) };
      }
      this.rates.set(name, tat + step);
      rate.admittedAt = new Date(nowMs).toISOString();
    }
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        for (const name of taken) this.executing.set(name, (this.executing.get(name) ?? 1) - 1);
      },
    };
  }
}
