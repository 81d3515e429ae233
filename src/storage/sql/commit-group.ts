/**
 * Group commit: the transitions that this store's leases send at about the same time go to the
 * database together, as one `commit` statement (lease-queries.ts) — one round trip, one
 * transaction, one WAL flush for all — each run still fenced by its own version, so one run's
 * stale holder never refuses another's commit.
 *
 * A commit is sent at the next turn of the event loop, with whatever came meanwhile, as soon as a
 * connection is free for it: at most `maxInFlight` group statements are in flight at once, and
 * while they all are, commits queue and form the next group. A commit never waits for company
 * longer than `maxWaitMs` plus the group statements ahead of it (at most `maxInFlight`).
 * A commit that registers event waits goes alone, in a transaction after its event names' locks
 * (see inbox-queries.ts): taking several groups' locks in one transaction could deadlock.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { Transition } from '../types.js';
import type { SqlParam, SqlRow, SqlRunner } from './executor.js';
import { waitLocks } from './inbox-rows.js';
import { transitionJson } from './lease-queries.js';

export interface GroupCommitOptions {
  /**
   * Longest time, in ms, a commit waits for company while a connection is free for it (default
   * 0: it goes at the next turn of the event loop with the commits that came meanwhile). Raise
   * it to trade latency for larger groups.
   */
  maxWaitMs?: number;
  /** Most transitions in one statement (default 64). */
  maxBatch?: number;
  /** Group statements in flight at once (default 2; 1 on a store with one connection, PGlite). */
  maxInFlight?: number;
}

interface Pending {
  runId: string;
  json: string;
  resolve(row: SqlRow): void;
  reject(err: unknown): void;
}

export class CommitGroup {
  private queue: Pending[] = [];
  private inFlight = 0;
  private scheduled = false;
  private readonly maxWaitMs: number;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;

  constructor(
    private readonly runner: SqlRunner,
    /** The commit statement (a getter: the store may rebuild its statements once it has looked at the tables). */
    private readonly statement: () => string,
    /** Runs a statement in a transaction after the event-name locks `locks` (see `waitLocks`). */
    private readonly underEventLocks: (locks: string, sql: string, params: readonly SqlParam[]) => Promise<SqlRow[]>,
    options: GroupCommitOptions & { defaultInFlight: number },
  ) {
    this.maxWaitMs = positiveOr(options.maxWaitMs, 0, 'maxWaitMs');
    this.maxBatch = Math.max(1, Math.floor(positiveOr(options.maxBatch, 64, 'maxBatch')));
    this.maxInFlight = Math.max(1, Math.floor(positiveOr(options.maxInFlight, options.defaultInFlight, 'maxInFlight')));
  }

  /** Commits `t` of run `runId`; resolves with its row of the statement (`run_id` NULL when its fence failed). */
  async commit(runId: string, t: Transition): Promise<SqlRow> {
    const json = transitionJson(runId, t);
    const locks = waitLocks(t);
    if (locks !== null) {
      const [row] = await this.underEventLocks(locks, this.statement(), [`[${json}]`]);
      return row!;
    }
    return new Promise<SqlRow>((resolve, reject) => {
      this.queue.push({ runId, json, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.inFlight >= this.maxInFlight) return; // the group in flight sends the next when it ends
    if (this.queue.length >= this.maxBatch) return this.send();
    if (this.scheduled) return;
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      this.send();
    };
    if (this.maxWaitMs > 0) setTimeout(go, this.maxWaitMs);
    else setImmediate(go);
  }

  private send(): void {
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight) {
      const group = this.takeGroup();
      this.inFlight += 1;
      void this.run(group).finally(() => {
        this.inFlight -= 1;
        // Those that queued meanwhile have waited already: they go now.
        this.send();
      });
    }
  }

  /**
   * The next group: queued commits in order, one per run — one statement updates a row once, so
   * a second commit of the same run (two concurrent commits of one holder, one of which the fence
   * must refuse) waits for the next group.
   */
  private takeGroup(): Pending[] {
    const group: Pending[] = [];
    const runs = new Set<string>();
    const rest: Pending[] = [];
    for (const p of this.queue) {
      if (group.length < this.maxBatch && !runs.has(p.runId)) {
        runs.add(p.runId);
        group.push(p);
      } else {
        rest.push(p);
      }
    }
    this.queue = rest;
    return group;
  }

  private async run(group: Pending[]): Promise<void> {
    let rows: SqlRow[];
    try {
      rows = await this.runner.query(this.statement(), [`[${group.map((p) => p.json).join(',')}]`]);
    } catch (err) {
      if (group.length === 1) return group[0]!.reject(err);
      // One bad transition must not fail the others: each goes again alone. The failed statement
      // changed nothing (one transaction); should it have committed after all (a connection lost
      // at COMMIT), each run's fence refuses the second try and its holder stops as stale.
      for (const p of group) await this.run([p]);
      return;
    }
    group.forEach((p, i) => p.resolve(rows[i]!));
  }
}

function positiveOr(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(`groupCommit.${name} must be a finite number ≥ 0 (got ${String(value)})`);
  }
  return value;
}
