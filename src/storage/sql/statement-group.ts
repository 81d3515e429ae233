/**
 * Group commit: the writes of different runs that this store's callers send at about the same
 * time go to the database together, as one statement over a JSON array of them — one round trip,
 * one transaction, one WAL flush for all. Two kinds are grouped: commits of leases
 * (statements/commit.ts, each run fenced by its own version, so one run's stale holder
 * never refuses another's commit) and new runs (statements/create-runs.ts).
 *
 * A write is sent at the next turn of the event loop, with whatever came meanwhile, as soon as a
 * connection is free for it: at most `maxInFlight` statements of a group are in flight at once,
 * and while they all are, writes queue and form the next statement. A write never waits for
 * company longer than `maxWaitMs` plus the statements ahead of it (at most `maxInFlight`).
 * Each statement returns one row per write, named by its `asked` column (the run id).
 */
import { InvalidArgumentError } from '../../errors.js';
import type { SqlRow, SqlRunner } from './executor.js';

export interface GroupCommitOptions {
  /**
   * Longest time, in ms, a write waits for company while a connection is free for it (default
   * 0: it goes at the next turn of the event loop with the writes that came meanwhile). Raise it
   * to trade latency for larger groups.
   */
  maxWaitMs?: number;
  /** Most writes in one statement (default 64; 16 on PGlite, whose statements run on the process's event loop). */
  maxBatch?: number;
  /** Statements of one group (commits, or new runs) in flight at once (default 2; 1 on a store with one connection, PGlite). */
  maxInFlight?: number;
}

interface Pending {
  key: string;
  json: string;
  resolve(row: SqlRow | undefined): void;
  reject(err: unknown): void;
}

export class StatementGroup {
  private queue: Pending[] = [];
  private inFlight = 0;
  private scheduled = false;
  private readonly maxWaitMs: number;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;

  constructor(
    private readonly runner: SqlRunner,
    /** The statement, whose $1 is the JSON array. */
    private readonly statement: string,
    options: GroupCommitOptions & { defaultInFlight: number; defaultBatch: number },
  ) {
    this.maxWaitMs = nonNegativeOr(options.maxWaitMs, 0, 'maxWaitMs');
    this.maxBatch = Math.max(1, Math.floor(nonNegativeOr(options.maxBatch, options.defaultBatch, 'maxBatch')));
    this.maxInFlight = Math.max(1, Math.floor(nonNegativeOr(options.maxInFlight, options.defaultInFlight, 'maxInFlight')));
  }

  /**
   * Sends `json` (one element of the statement's array) for `key` (a run id: one per statement)
   * with the others of the moment; resolves with its row (undefined when the statement returned none for it).
   */
  add(key: string, json: string): Promise<SqlRow | undefined> {
    return new Promise<SqlRow | undefined>((resolve, reject) => {
      this.queue.push({ key, json, resolve, reject });
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
   * The next group: queued writes in order, one per key — one statement updates a row once, so a
   * second commit of the same run (two concurrent commits of one holder, one of which the fence
   * must refuse) waits for the next statement.
   */
  private takeGroup(): Pending[] {
    const group: Pending[] = [];
    const keys = new Set<string>();
    const rest: Pending[] = [];
    for (const p of this.queue) {
      if (group.length < this.maxBatch && !keys.has(p.key)) {
        keys.add(p.key);
        group.push(p);
      } else {
        rest.push(p);
      }
    }
    this.queue = rest;
    return group;
  }

  /** Told the size of each statement sent (`hazel_flow_commit_batch_size`). */
  onBatch?: (size: number) => void;

  private async run(group: Pending[]): Promise<void> {
    this.onBatch?.(group.length);
    let rows: SqlRow[];
    try {
      rows = await this.runner.query(this.statement, [`[${group.map((p) => p.json).join(',')}]`]);
    } catch (err) {
      if (group.length === 1) return group[0]!.reject(err);
      // One bad write must not fail the others: each goes again alone. The failed statement
      // changed nothing (one transaction); should it have committed after all (a connection lost
      // at COMMIT), a commit's fence refuses the second try (its holder stops as stale), and a
      // new run's second insert fails on its run id (or, with an idempotency key, returns the run).
      for (const p of group) await this.run([p]);
      return;
    }
    const byKey = new Map<string, SqlRow>();
    for (const row of rows) byKey.set(row.asked as string, row);
    for (const p of group) p.resolve(byKey.get(p.key));
  }
}

function nonNegativeOr(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(`groupCommit.${name} must be a finite number ≥ 0 (got ${String(value)})`);
  }
  return value;
}
