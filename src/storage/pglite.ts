/**
 * Embedded Postgres (PGlite, WebAssembly): the same SQL store with no server, file-backed or in
 * memory. PGlite is ONE session inside this process, so Postgres advisory locks cannot exclude
 * anything there (every "holder" is the same session): leases use the store's in-process lock
 * table instead, which is exact because no other process can open the same data directory.
 * PGlite itself queues statements and transactions one at a time.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { canPrepare, queryPrepared } from './pglite-prepared.js';
import { isolationSql, transactionHandle, type OpenTransaction, type SqlExecutor, type SqlParam, type SqlRow, type SqlRunner } from './sql/executor.js';
import type { TransactionIsolation } from '../definitions/types.js';
import type { GroupCommitOptions } from './sql/statement-group.js';
import { SqlFlowStorage } from './sql/sql-storage.js';
import { StatementNames } from './sql/statement-names.js';

export interface PGliteStorageOptions {
  /** How commits of different runs are grouped into one statement (see `GroupCommitOptions`). */
  groupCommit?: GroupCommitOptions;
  /** Directory of the database files (created if absent). Undefined = in memory, gone at close. */
  dataDir?: string;
  /** Use this PGlite instance instead of opening one (it is not closed by `close()`). */
  pglite?: PGlite;
  /**
   * Start an in-memory database from a dump (`PGlite#dumpDataDir()`) instead of running initdb:
   * ~1 s instead of several. Tests use a migrated dump as a template. Ignored with `dataDir`.
   */
  loadDataDir?: Blob | File;
  /** Postgres schema of the flow tables (default 'public'). */
  schema?: string;
  /** Apply pending migrations at `init()` (default true). */
  autoMigrate?: boolean;
  /** Run the hot statements as named prepared statements, parsed and planned once (default true). */
  preparedStatements?: boolean;
}

type PGliteLike = Pick<PGlite, 'query' | 'exec' | 'transaction' | 'close'>;

/** One lock table per PGlite instance, so that several stores opened on the same instance exclude each other. */
const locksByInstance = new WeakMap<PGlite, Set<string>>();

export class PGliteExecutor implements SqlExecutor {
  readonly kind = 'pglite';
  readonly lockMode = 'process' as const;
  private db: Promise<PGliteLike> | null = null;
  private readonly statements: StatementNames | null;

  constructor(
    private readonly open: () => Promise<PGliteLike>,
    readonly target: string,
    private readonly owns: boolean,
    readonly processLocks: Set<string> = new Set(),
    preparedStatements = true,
  ) {
    this.statements = preparedStatements ? new StatementNames() : null;
  }

  registerPrepared(sqls: readonly string[]): void {
    this.statements?.register(sqls);
  }

  /** Opened on first use, so that constructing a store costs nothing and a bad dataDir fails at the first call. */
  private instance(): Promise<PGliteLike> {
    if (!this.db) {
      this.db = this.open().catch((err) => {
        this.db = null;
        throw err;
      });
    }
    return this.db;
  }

  async query<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlParam[]): Promise<R[]> {
    const db = await this.instance();
    const name = this.statements?.of(sql);
    if (name !== undefined && canPrepare(db)) return queryPrepared<R>(db, name, sql, params);
    return (await db.query<R>(sql, params ? [...params] : undefined)).rows;
  }

  async transaction<T>(fn: (tx: SqlRunner & { exec(script: string): Promise<void> }) => Promise<T>): Promise<T> {
    const db = await this.instance();
    return db.transaction(async (tx) =>
      fn({
        query: async <R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlParam[]) => (await tx.query<R>(sql, params ? [...params] : undefined)).rows,
        exec: async (script: string) => void (await tx.exec(script)),
      }),
    );
  }

  /**
   * A transaction of the one session, held until `end`: every other statement of this database
   * waits for it (PGlite runs one transaction at a time), so the holder sends nothing else meanwhile.
   */
  async openTransaction(isolation: TransactionIsolation, nodeId: string): Promise<OpenTransaction> {
    const db = await this.instance();
    let finish!: (commit: boolean) => void;
    const finished = new Promise<boolean>((resolve) => (finish = resolve));
    let opened!: (tx: Parameters<Parameters<PGliteLike['transaction']>[0]>[0]) => void;
    let failed!: (err: unknown) => void;
    const ready = new Promise<Parameters<Parameters<PGliteLike['transaction']>[0]>[0]>((resolve, reject) => {
      opened = resolve;
      failed = reject;
    });
    const done = db
      .transaction(async (tx) => {
        await tx.query(`SET TRANSACTION ISOLATION LEVEL ${isolationSql(isolation)}`);
        opened(tx);
        if (!(await finished)) await tx.rollback();
      })
      .then(
        () => undefined,
        (err: unknown) => {
          failed(err); // no effect once opened
          throw err;
        },
      );
    done.catch(() => undefined);
    const tx = await ready;
    const guarded = transactionHandle(nodeId, async (text, params) => {
      const r = await tx.query<SqlRow>(text, params ? [...params] : undefined);
      // PGlite's own result (affectedRows, fields), with pg's rowCount: rows changed, or returned.
      return { ...r, rowCount: r.affectedRows || r.rows.length };
    });
    let ended = false;
    return {
      handle: guarded.handle,
      runner: {
        query: async <R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlParam[]) => (await tx.query<R>(sql, params ? [...params] : undefined)).rows,
      },
      end: async (commit: boolean) => {
        if (ended) return;
        ended = true;
        guarded.close();
        finish(commit);
        if (commit) await done;
        else await done.catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = null;
    if (db && this.owns) await (await db).close();
  }
}

export function createPGliteExecutor(options: PGliteStorageOptions = {}): PGliteExecutor {
  if (options.pglite) {
    const db = options.pglite;
    let locks = locksByInstance.get(db);
    if (!locks) locksByInstance.set(db, (locks = new Set()));
    return new PGliteExecutor(async () => db, `pglite://${db.dataDir ?? 'memory'}`, false, locks, options.preparedStatements);
  }
  const dataDir = options.dataDir === undefined ? undefined : resolve(options.dataDir);
  return new PGliteExecutor(
    async () => {
      if (dataDir) mkdirSync(dataDir, { recursive: true });
      if (dataDir !== undefined) return PGlite.create({ dataDir });
      return PGlite.create(options.loadDataDir ? { loadDataDir: options.loadDataDir } : undefined);
    },
    `pglite://${dataDir ?? 'memory'}`,
    true,
    undefined,
    options.preparedStatements,
  );
}

/** A store on embedded Postgres: file-backed with `dataDir` (durable), in memory without. */
export function createPGliteStorage(options: PGliteStorageOptions = {}): SqlFlowStorage {
  const executor = createPGliteExecutor(options);
  return new SqlFlowStorage(executor, {
    schema: options.schema,
    autoMigrate: options.autoMigrate ?? true,
    ownsExecutor: true,
    durable: options.dataDir !== undefined || options.pglite?.dataDir !== undefined,
    groupCommit: options.groupCommit,
  });
}
