/**
 * The SQL store's statements run through an application's Prisma client (`$queryRawUnsafe`,
 * interactive `$transaction`), so an app shares one client and one pool with the engine.
 *
 * Locks: a Prisma client never pins a pooled connection for us except inside an interactive
 * transaction. So a lease opens one, takes `pg_try_advisory_xact_lock` in it and keeps it open
 * (doing nothing) until the lease ends; commits go through the client on other connections, each
 * its own autocommitted statement, so every step is durable at once. Ending the transaction ends
 * the lock. Prisma aborts an interactive transaction after `timeout`: a lease held longer than
 * `leaseTimeoutMs` silently loses its lock — the commit fence (row version) still keeps a second
 * holder from committing over it. Each held lease occupies one pool connection.
 */
import { serialQueue, type OpenTransaction, type SqlExecutor, type SqlParam, type SqlRow, type SqlRunner, type SqlSession } from './executor.js';
import type { TransactionIsolation } from '../../definitions/types.js';
import { listenWithReconnect } from './pg-listener.js';
import { splitSqlStatements } from './sql-split.js';

/** What the store needs of a Prisma client (any generated client, extended or not). */
export interface PrismaRawClient {
  $queryRawUnsafe<T = unknown>(query: string, ...values: any[]): PromiseLike<T>;
  $executeRawUnsafe(query: string, ...values: any[]): PromiseLike<number>;
}

export interface PrismaClientLike extends PrismaRawClient {
  $transaction<R>(fn: (tx: any) => PromiseLike<R>, options?: { maxWait?: number; timeout?: number; isolationLevel?: PrismaIsolationLevel }): PromiseLike<R>;
  $disconnect(): PromiseLike<void>;
}

export interface PrismaExecutorOptions {
  /** Longest a lease may hold its run (default 15 minutes); see the file comment. */
  leaseTimeoutMs?: number;
  /** Longest to wait for a pool connection when opening a transaction (default 10 s). */
  maxWaitMs?: number;
  /** A connection string for LISTEN (Prisma cannot LISTEN): wake-ups from other processes. Default none (polling). */
  listenConnectionString?: string;
  /** Where the client points, for messages (never a password). */
  target?: string;
  onBackgroundError?: (err: unknown) => void;
  /** `$disconnect` the client in `close()` (default false: the application owns it). */
  disconnectOnClose?: boolean;
}

class RolledBack extends Error {}

/** Prisma's names of the isolation levels (`$transaction(fn, { isolationLevel })`). */
type PrismaIsolationLevel = 'ReadCommitted' | 'RepeatableRead' | 'Serializable';
const PRISMA_ISOLATION: Record<TransactionIsolation, PrismaIsolationLevel> = {
  'read committed': 'ReadCommitted',
  'repeatable read': 'RepeatableRead',
  serializable: 'Serializable',
};

/**
 * Statements through `client`. `serial`: one at a time, for an interactive transaction (one
 * connection underneath: see `serialQueue`); the client itself spreads them over its pool.
 */
function runnerOf(client: PrismaRawClient, serial?: ReturnType<typeof serialQueue>): SqlRunner & { exec(script: string): Promise<void> } {
  const one = serial ?? (<T>(task: () => Promise<T>) => task());
  return {
    query: async <R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlParam[]) =>
      (await one(async () => client.$queryRawUnsafe<R[]>(sql, ...(params ?? [])))) as R[],
    // Prisma runs raw SQL as prepared statements (one statement each): split the script.
    exec: (script: string) =>
      one(async () => {
        for (const statement of splitSqlStatements(script)) await client.$executeRawUnsafe(statement);
      }),
  };
}

export class PrismaExecutor implements SqlExecutor {
  readonly kind = 'prisma';
  readonly lockMode = 'transaction' as const;
  readonly target: string;
  private readonly runner: SqlRunner;

  constructor(
    private readonly client: PrismaClientLike,
    private readonly options: PrismaExecutorOptions = {},
  ) {
    this.target = options.target ?? 'postgres (Prisma client)';
    this.runner = runnerOf(client);
  }

  query<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlParam[]): Promise<R[]> {
    return this.runner.query<R>(sql, params);
  }

  async transaction<T>(fn: (tx: SqlRunner & { exec(script: string): Promise<void> }) => Promise<T>): Promise<T> {
    return this.client.$transaction((tx: PrismaRawClient) => fn(runnerOf(tx, serialQueue())), {
      maxWait: this.options.maxWaitMs ?? 10_000,
      timeout: 120_000,
    }) as Promise<T>;
  }

  async hold(): Promise<SqlSession> {
    // Rolled back when released broken, committed otherwise; either way the transaction (and its
    // lock) ends at release. A timeout or a dropped connection already ended it: nothing to release.
    const { tx, finish, done } = await this.openHeld({ timeout: this.options.leaseTimeoutMs ?? 15 * 60_000 }, (err) => this.options.onBackgroundError?.(err));
    const runner = runnerOf(tx, serialQueue());
    let released = false;
    return {
      query: (sql, params) => runner.query(sql, params),
      release: async (broken?: boolean) => {
        if (released) return;
        released = true;
        finish(broken !== true);
        await done.catch(() => undefined);
      },
    };
  }

  /**
   * An interactive transaction held open for the attempt (one pool connection, beside the lease's
   * own): its client is the handler's `ctx.tx`, and Prisma refuses it once the transaction ended.
   * Aborted by Prisma after `leaseTimeoutMs`, like a lease's.
   */
  async openTransaction(isolation: TransactionIsolation): Promise<OpenTransaction> {
    const { tx, finish, done } = await this.openHeld({
      timeout: this.options.leaseTimeoutMs ?? 15 * 60_000,
      isolationLevel: PRISMA_ISOLATION[isolation],
    });
    let ended = false;
    return {
      handle: tx,
      runner: runnerOf(tx, serialQueue()),
      end: async (commit: boolean) => {
        if (ended) return;
        ended = true;
        finish(commit);
        if (commit) await done;
        else await done.catch(() => undefined);
      },
    };
  }

  /**
   * An interactive transaction held open until `finish(commit)`. Prisma hands its client to a
   * callback and ends the transaction when the callback returns, so the callback waits for the
   * decision (throwing rolls back). `done` settles once it ended: rejected with the failure of a
   * transaction that ended otherwise (a timeout, a lost connection, a failed commit), which also
   * goes to `onFailure` at once. Until awaited, that failure is kept here, never unhandled.
   */
  private async openHeld(
    options: { timeout: number; isolationLevel?: PrismaIsolationLevel },
    onFailure?: (err: unknown) => void,
  ): Promise<{ tx: PrismaRawClient; finish(commit: boolean): void; done: Promise<void> }> {
    let finish!: (commit: boolean) => void;
    const finished = new Promise<boolean>((resolve) => (finish = resolve));
    let opened!: (tx: PrismaRawClient) => void;
    let failed!: (err: unknown) => void;
    const ready = new Promise<PrismaRawClient>((resolve, reject) => {
      opened = resolve;
      failed = reject;
    });
    const done = Promise.resolve(
      this.client.$transaction(
        async (tx: PrismaRawClient) => {
          opened(tx);
          if (!(await finished)) throw new RolledBack();
        },
        { maxWait: this.options.maxWaitMs ?? 10_000, ...options },
      ),
    ).then(
      () => undefined,
      (err: unknown) => {
        failed(err); // no effect once opened
        if (err instanceof RolledBack) return;
        onFailure?.(err);
        throw err;
      },
    );
    done.catch(() => undefined);
    return { tx: await ready, finish, done };
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    const connectionString = this.options.listenConnectionString;
    if (!connectionString) return async () => undefined;
    return listenWithReconnect({ connectionString }, channel, onNotify, { onError: this.options.onBackgroundError });
  }

  async close(): Promise<void> {
    if (this.options.disconnectOnClose) await this.client.$disconnect();
  }
}
