/**
 * The small surface the SQL store needs from a driver. `pg`, PGlite and a Prisma client each
 * implement it (src/storage/postgres.ts, src/storage/pglite.ts, src/storage/sql/prisma-executor.ts);
 * everything else — the SQL, the leases, the migrations — is shared.
 *
 * Contract for every implementation:
 * - `query` runs ONE statement with `$1…` parameters. Parameters are strings, numbers, booleans
 *   or null (the SQL casts them), so any driver can bind them. Rows come back with jsonb parsed,
 *   timestamptz as `Date`, int4/float8 as numbers.
 * - Outside `transaction`/`hold`, every statement autocommits.
 */
import { TransactionClosedError } from '../../errors.js';
import type { SqlTransaction, TransactionIsolation } from '../../definitions/types.js';

export type SqlParam = string | number | boolean | null;

/**
 * A queue of one: each call runs after every earlier call has settled, in call order. The
 * executors put every statement of one connection through one (a lease's session, a
 * transaction), so that no statement is sent while another is in flight on it: pg queues such a
 * statement itself but warns that relying on it is deprecated, and pg@9 refuses it.
 */
export function serialQueue(): <T>(task: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task, task);
    tail = run.catch(() => undefined);
    return run;
  };
}
export type SqlRow = Record<string, unknown>;

/** A transaction opened for an attempt (`SqlExecutor.openTransaction`), held until `end`. */
export interface OpenTransaction {
  /** The engine's statements in the transaction (the commit). */
  readonly runner: SqlRunner;
  /** What the handler gets as `ctx.tx` (the driver's own handle, or `SqlTransaction`). */
  readonly handle: unknown;
  /**
   * COMMIT (`commit`) or ROLLBACK; once. A rollback while a statement of the handler is still in
   * flight (a timeout, a cancel) destroys the connection instead of waiting for it: the server
   * rolls back. A COMMIT that fails throws (the transaction is gone either way).
   */
  end(commit: boolean): Promise<void>;
}

/** Something that runs one parameterized statement. */
export interface SqlRunner {
  query<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlParam[]): Promise<R[]>;
}

/** One connection (or one open transaction) reserved for a single caller until `release`. */
export interface SqlSession extends SqlRunner {
  /**
   * Give the connection back. `broken` = its state is unknown (a statement failed mid-lease, the
   * socket errored): destroy it instead of pooling it, so whatever it held (advisory locks) dies with it.
   */
  release(broken?: boolean): Promise<void>;
  /**
   * True once the connection is known to be dead (terminated by the server, socket error). Its
   * server session, and every advisory lock of it, are gone. Undefined when the driver cannot tell.
   */
  readonly lost?: boolean;
}

/**
 * How the store locks its runs, which decides where a lease's statements go: `session` (pg: the
 * store's lock session), `transaction` (Prisma: a transaction held open per lease), `process`
 * (PGlite: an in-process lock table). Each is a strategy in lock-modes.ts.
 */
export type LockModeName = 'session' | 'transaction' | 'process';

export interface SqlExecutor extends SqlRunner {
  /** 'postgres' | 'pglite' | 'prisma'. */
  readonly kind: string;
  readonly lockMode: LockModeName;
  /** Where this executor points, for messages: `postgres://host:port/db` — never a password. */
  readonly target: string;
  /**
   * `process` mode: the run locks held in this process on this database, shared by every store
   * opened on it (keys `schema\0runId`). Absent: each store keeps its own table.
   */
  readonly processLocks?: Set<string>;

  /**
   * Statements the store runs often, each with fixed text and explicitly named result columns:
   * the executor may prepare each once per connection (a named statement, parsed and planned
   * once) and run it by name whenever `query` gets exactly this text. Optional; may be called again.
   */
  registerPrepared?(sqls: readonly string[]): void;

  /** Run `fn` in one transaction on one connection; commit when it resolves, roll back when it throws. */
  transaction<T>(fn: (tx: SqlRunner & { exec(script: string): Promise<void> }) => Promise<T>): Promise<T>;

  /**
   * Open a transaction for one attempt of a transactional node, on a connection of its own (PGlite:
   * its one session, which then runs nothing else until it ends). Optional: a store without it
   * has no transactional nodes.
   */
  openTransaction?(isolation: TransactionIsolation, nodeId: string): Promise<OpenTransaction>;

  /** Reserve a connection (`session`: the lock session) or open a transaction (`transaction`: one lease's). Not used in `process` mode. */
  hold?(): Promise<SqlSession>;

  /**
   * Subscribe to NOTIFY on `channel` with a connection of its own that reconnects by itself.
   * Absent when the driver cannot LISTEN (the store then relies on polling and in-process wake-ups).
   */
  listen?(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;

  close(): Promise<void>;
}

/**
 * `ctx.tx` on the pg and PGlite stores, over `send` (one statement in the attempt's transaction):
 * refuses any statement once `close` was called (a late call of a handler that timed out must
 * not run, even on a connection given back to the pool), and tells whether one is in flight.
 */
export function transactionHandle(
  nodeId: string,
  send: (text: string, params: readonly unknown[] | undefined) => Promise<{ rows: SqlRow[]; rowCount: number }>,
): { handle: SqlTransaction; close(): { inFlight: boolean } } {
  let closed = false;
  let inFlight = 0;
  const handle: SqlTransaction = {
    query: async <R extends SqlRow = SqlRow>(text: string, params?: readonly unknown[]) => {
      if (closed) throw new TransactionClosedError(nodeId);
      inFlight += 1;
      try {
        return (await send(text, params)) as { rows: R[]; rowCount: number };
      } finally {
        inFlight -= 1;
      }
    },
  };
  return {
    handle,
    close: () => {
      closed = true;
      return { inFlight: inFlight > 0 };
    },
  };
}

/** `BEGIN`'s words for an isolation level (from the closed list `TRANSACTION_ISOLATIONS`, never user text). */
export function isolationSql(isolation: TransactionIsolation): string {
  switch (isolation) {
    case 'read committed':
      return 'READ COMMITTED';
    case 'repeatable read':
      return 'REPEATABLE READ';
    case 'serializable':
      return 'SERIALIZABLE';
  }
}
