/**
 * Postgres through `pg`: the fast path. One pool; the store holds one of its connections for
 * good, the lock session where every run lock of the store lives (sql/lock-session.ts), and
 * commits of many runs share statements (sql/statement-group.ts), so runs in flight pin no
 * connection. Wake-ups arrive by LISTEN on one extra connection.
 */
import pg from 'pg';
import { StorageError } from '../errors.js';
import { environment } from '../config.js';
import { describeConnectionString, redactConnectionString } from './sql/errors.js';
import {
  isolationSql,
  serialQueue,
  transactionHandle,
  type OpenTransaction,
  type SqlExecutor,
  type SqlParam,
  type SqlRow,
  type SqlRunner,
  type SqlSession,
} from './sql/executor.js';
import type { TransactionIsolation } from '../definitions/types.js';
import { listenWithReconnect } from './sql/pg-listener.js';
import type { GroupCommitOptions } from './sql/statement-group.js';
import { SqlFlowStorage } from './sql/sql-storage.js';
import { isStalePreparedStatement, StatementNames } from './sql/statement-names.js';

export interface PostgresStorageOptions {
  /** `postgres://user:pass@host:port/db`. Default: `process.env.DATABASE_URL`. Ignored when `pool` is given. */
  connectionString?: string;
  /** Use this pool instead of creating one (it is not closed by `close()`). */
  pool?: pg.Pool;
  /** Postgres schema of the flow tables (default 'public'); created by the migrations if absent. */
  schema?: string;
  /** Apply pending migrations at `init()` (default true). When false, `init()` checks the tables exist. */
  autoMigrate?: boolean;
  /** Connections in the created pool (default 10). One is held for the run locks (the lock session); commits use at most `groupCommit.maxInFlight` at once. */
  poolSize?: number;
  /** LISTEN for wake-ups from other processes (default true). */
  listen?: boolean;
  /** Failures of the background LISTEN connection (default: ignored; workers poll anyway). */
  onBackgroundError?: (err: unknown) => void;
  /**
   * Run the hot statements as named prepared statements, parsed and planned once per connection
   * (default true). Turn off behind a pooler that cannot keep them (PgBouncer in transaction mode
   * before 1.21 — which cannot keep the session advisory locks of leases either).
   */
  preparedStatements?: boolean;
  /**
   * How commits of different runs are grouped into one statement (see `GroupCommitOptions`):
   * by default a commit goes at the next turn of the event loop with those that came meanwhile,
   * at most 64 per statement, at most 2 statements in flight.
   */
  groupCommit?: GroupCommitOptions;
}

/**
 * Type parsers of every query we run, independent of whatever the application set globally on
 * `pg.types`: jsonb/json parsed, timestamptz as Date, everything else pg's default.
 */
const TYPE_PARSERS: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === 3802 || oid === 114) return (text: string) => JSON.parse(text);
    if (oid === 1184) return (text: string) => new Date(pgTimestamptz(text));
    return pg.types.getTypeParser(oid, (format ?? 'text') as 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** `2025-01-02 03:04:05.678+00` (Postgres text output) to an ISO string Date can parse. */
function pgTimestamptz(text: string): string {
  const iso = text.replace(' ', 'T');
  return /[+-]\d\d$/.test(iso) ? `${iso}:00` : iso;
}

/** `name`: run as this prepared statement (pg parses it on a connection the first time only). */
function runQuery(client: pg.Pool | pg.PoolClient, sql: string, params: readonly SqlParam[] | undefined, name: string | undefined): Promise<pg.QueryResult> {
  return client.query({ name, text: sql, values: params ? [...params] : undefined, types: TYPE_PARSERS });
}

export class PgExecutor implements SqlExecutor {
  readonly kind = 'postgres';
  readonly lockMode = 'session' as const;
  private readonly statements: StatementNames | null;

  constructor(
    private readonly pool: pg.Pool,
    readonly target: string,
    private readonly ownsPool: boolean,
    private readonly listenConfig: pg.ClientConfig | null,
    private readonly onBackgroundError?: (err: unknown) => void,
    preparedStatements = true,
  ) {
    this.statements = preparedStatements ? new StatementNames() : null;
  }

  registerPrepared(sqls: readonly string[]): void {
    this.statements?.register(sqls);
  }

  private async run(client: pg.Pool | pg.PoolClient, sql: string, params?: readonly SqlParam[]): Promise<pg.QueryResult> {
    const name = this.statements?.of(sql);
    try {
      return await runQuery(client, sql, params, name);
    } catch (err) {
      // A prepared statement the server refused before running it (deallocated behind our back,
      // or a schema change altered its result): from now on this text runs unnamed.
      if (name === undefined || !isStalePreparedStatement(err)) throw err;
      this.statements!.forget(sql);
      return runQuery(client, sql, params, undefined);
    }
  }

  async query<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlParam[]): Promise<R[]> {
    return (await this.run(this.pool, sql, params)).rows as R[];
  }

  async transaction<T>(fn: (tx: SqlRunner & { exec(script: string): Promise<void> }) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    // One statement at a time on the connection, even if `fn` sends several without waiting.
    const serial = serialQueue();
    const send = (sql: string) => serial(() => client.query(sql));
    let broken = false;
    // While checked out, a connection is not watched by the pool: a session terminated between two
    // statements would otherwise be an unhandled 'error' event, and crash the process. The next
    // statement then fails, and the transaction with it.
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    try {
      await send('BEGIN');
      const tx = {
        query: async <R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlParam[]) =>
          (await serial(() => runQuery(client, sql, params, undefined))).rows as R[],
        // No parameters: pg uses the simple protocol, which runs a multi-statement script.
        exec: async (script: string) => void (await send(script)),
      };
      const result = await fn(tx);
      await send('COMMIT');
      return result;
    } catch (err) {
      await send('ROLLBACK').catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      client.removeListener('error', onError);
      client.release(broken ? new Error('connection state unknown (a failed rollback, or the session was lost)') : undefined);
    }
  }

  /** A pool connection for the attempt's transaction, held until `end`: the pool must have one for each transactional attempt in flight. */
  async openTransaction(isolation: TransactionIsolation, nodeId: string): Promise<OpenTransaction> {
    const client = await this.pool.connect();
    const serial = serialQueue();
    let broken = false;
    const onError = () => {
      broken = true; // see `transaction`
    };
    client.on('error', onError);
    const send = (sql: string) => serial(() => client.query(sql));
    try {
      await send(`BEGIN ISOLATION LEVEL ${isolationSql(isolation)}`);
    } catch (err) {
      client.removeListener('error', onError);
      client.release(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    const tx = transactionHandle(nodeId, async (text, params) => {
      const r = await serial(() => client.query({ text, values: params ? [...params] : undefined, types: TYPE_PARSERS }));
      // pg's own result (fields, command…), its rowCount never null.
      return Object.assign(r, { rowCount: r.rowCount ?? 0 });
    });
    let ended = false;
    return {
      handle: tx.handle,
      runner: {
        query: async <R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlParam[]) =>
          (await serial(() => runQuery(client, sql, params, undefined))).rows as R[],
      },
      end: async (commit: boolean) => {
        if (ended) return;
        ended = true;
        // A statement of the handler still running (it timed out, or was cancelled, mid-query): do
        // not wait for it — closing the connection ends the session, and the server rolls back.
        let destroy = tx.close().inFlight && !commit;
        try {
          if (!destroy) await send(commit ? 'COMMIT' : 'ROLLBACK');
        } catch (err) {
          destroy = true;
          if (commit) throw err;
        } finally {
          client.removeListener('error', onError);
          client.release(destroy || broken ? new Error('attempt transaction discarded (rolled back by closing its connection)') : undefined);
        }
      },
    };
  }

  async hold(): Promise<SqlSession> {
    const client = await this.pool.connect();
    let broken = false;
    // A held connection is not watched by the pool: without this, a dropped socket would crash the process.
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    // One statement at a time on the connection: a lease's callers may overlap (a commit and a release).
    const serial = serialQueue();
    let released = false;
    return {
      get lost() {
        return broken;
      },
      query: async <R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlParam[]) => (await serial(() => this.run(client, sql, params))).rows as R[],
      release: async (destroy?: boolean) => {
        if (released) return;
        released = true;
        // Pooled again only once its statements have settled; a connection destroyed goes at once.
        if (!destroy && !broken) await serial(async () => undefined);
        client.removeListener('error', onError);
        client.release(destroy || broken ? new Error('lease connection discarded (its session state is unknown)') : undefined);
      },
    };
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    if (!this.listenConfig) return async () => undefined;
    return listenWithReconnect(this.listenConfig, channel, onNotify, { onError: this.onBackgroundError });
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}

/** Where a pool points, for messages (never the password). */
function poolTarget(pool: pg.Pool): string {
  const o = (pool as unknown as { options?: pg.PoolConfig }).options ?? {};
  if (o.connectionString) return describeConnectionString(o.connectionString) ?? redactConnectionString(o.connectionString);
  const env = environment.pg;
  return `postgres://${o.host ?? env.host ?? 'localhost'}:${o.port ?? env.port ?? 5432}/${o.database ?? env.database ?? '(default database)'}`;
}

/** An executor that fails every call with `error` (bad configuration is reported at first use, not at construction). */
function failingExecutor(error: StorageError, target: string): SqlExecutor {
  const fail = async (): Promise<never> => {
    throw error;
  };
  return { kind: 'postgres', lockMode: 'session', target, query: fail, transaction: fail, hold: fail, close: async () => undefined };
}

export function createPostgresExecutor(options: PostgresStorageOptions = {}): SqlExecutor {
  if (options.pool) {
    const o = (options.pool as unknown as { options?: pg.PoolConfig }).options ?? {};
    const listen = options.listen === false ? null : ({ ...o } as pg.ClientConfig);
    return new PgExecutor(options.pool, poolTarget(options.pool), false, listen, options.onBackgroundError, options.preparedStatements);
  }
  const connectionString = options.connectionString ?? environment.databaseUrl;
  if (!connectionString) {
    return failingExecutor(
      new StorageError('NO_CONNECTION_STRING', 'createPostgresStorage: no connectionString given and DATABASE_URL is not set'),
      'postgres://(unset)',
    );
  }
  const target = describeConnectionString(connectionString);
  if (!target) {
    return failingExecutor(
      new StorageError('INVALID_CONNECTION_STRING', `Not a valid postgres:// connection string: ${redactConnectionString(connectionString)}`),
      redactConnectionString(connectionString),
    );
  }
  const pool = new pg.Pool({ connectionString, max: options.poolSize ?? 10, connectionTimeoutMillis: 10_000 });
  // Errors of idle pooled connections (server restart) must not crash the process; the next query reconnects.
  pool.on('error', (err) => options.onBackgroundError?.(err));
  // And of a connection just handed out, before its taker listens (a session terminated in that
  // instant): every client always has a listener; the error reaches the taker through its query.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const listen = options.listen === false ? null : { connectionString, connectionTimeoutMillis: 10_000 };
  return new PgExecutor(pool, target, true, listen, options.onBackgroundError, options.preparedStatements);
}

/** A durable store on Postgres through `pg`. Nothing connects until the first call (or `init()`). */
export function createPostgresStorage(options: PostgresStorageOptions = {}): SqlFlowStorage {
  return new SqlFlowStorage(createPostgresExecutor(options), {
    schema: options.schema,
    autoMigrate: options.autoMigrate ?? true,
    ownsExecutor: true,
    durable: true,
    onBackgroundError: options.onBackgroundError,
    groupCommit: options.groupCommit,
  });
}
