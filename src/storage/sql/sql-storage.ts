/**
 * The one SQL implementation of `FlowStorage`, over any `SqlExecutor` (pg, PGlite, Prisma).
 * This file holds the logic; the SQL lives in run-queries.ts, lease-queries.ts, inbox-queries.ts
 * and list-runs-query.ts; leases in leases.ts; the inbox and events in inbox.ts; wake-ups in
 * wake.ts; migrations in migrate.ts.
 */
import { StorageError, type ErrorRecord } from '../../errors.js';
import { normalizeRunFilter, encodeCursor } from '../run-filter.js';
import type { DefinitionRecord, DueRunQuery, FlowEventRecord, FlowRunRecord, FlowRunSummary, FlowStorage, IdempotencyRecord, InboxEntry } from '../types.js';
import type { JsonText, LockRunOptions, MapValues, NewEvent, NewFlowEvent, NewInboxEntry, NewRun } from '../types.js';
import type { PruneRunsQuery, RunFilter, RunLease, RunPage, SentEvent } from '../types.js';
import { normalizePruneQuery, type NormalizedPruneQuery } from '../prune.js';
import { toStorageError } from './errors.js';
import type { SqlExecutor, SqlParam, SqlRow } from './executor.js';
import { acquireInProcess, acquireInTransaction, acquireOnLockSession, dueOrNotAsked, type AcquireHost } from './acquire.js';
import { StatementGroup, type GroupCommitOptions } from './statement-group.js';
import { buildInboxQueries, preparableInboxQueries, type InboxQueries } from './inbox-queries.js';
import { SqlInbox } from './inbox.js';
import { buildLeaseQueries, type LeaseQueries } from './lease-queries.js';
import type { SqlLease } from './leases.js';
import { LockSession } from './lock-session.js';
import { buildListRunsQuery, parseSummaryPage } from './list-runs-query.js';
import { migrate } from './migrate.js';
import { DEFAULT_SCHEMA, sqlNames, type SqlNames } from './names.js';
import { buildPruneQueries, type PruneQueries } from './prune-queries.js';
import { errorJson, eventsJson, toDefinitionRecord, toEventRecord, toIdempotencyRecord, toMapValues, toRunRecord, toRunSummary } from './rows.js';
import { buildRunQueries, newRunJson, preparableRunQueries, type RunQueries } from './run-queries.js';
import { WakeHub } from './wake.js';

export interface SqlStorageOptions {
  /** Postgres schema of the flow tables (default 'public'). */
  schema?: string;
  /** Apply pending migrations in `init()` (default true). */
  autoMigrate?: boolean;
  /** Close the executor in `close()` (default true). */
  ownsExecutor?: boolean;
  /** True when data outlives the process (default true). */
  durable?: boolean;
  /** Folder of migrations (default: the package's prisma/migrations). */
  migrationsDir?: string;
  /** Failures of the background LISTEN connection (default: ignored; polling covers for it). */
  onBackgroundError?: (err: unknown) => void;
  /** How commits of different runs are grouped into one statement (see statement-group.ts). */
  groupCommit?: GroupCommitOptions;
}

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
/** The flow tables (`flow_<name>`), as `tablesPresent` names them. */
const TABLES = ['runs', 'events', 'definitions', 'idempotency', 'node_values', 'inbox', 'sent_events', 'event_waits', 'event_receipts'];

export class SqlFlowStorage implements FlowStorage, AcquireHost {
  readonly kind: string;
  readonly durable: boolean;
  /** PGlite: the database runs on this process's event loop. */
  readonly embedded: boolean;
  readonly names: SqlNames;
  readonly runQueries: RunQueries;
  readonly inboxQueries: InboxQueries;
  private readonly pruneQueries: PruneQueries;
  leaseQueries: LeaseQueries;
  private readonly wake: WakeHub;
  private readonly inbox: SqlInbox;
  /** Commits of leases, and new runs: each grouped with others of the moment into one statement. */
  readonly commits: StatementGroup;
  private readonly creates: StatementGroup;
  /** `session` mode: where the run locks of this store live. */
  private readonly lockSession: LockSession | null;
  private readonly held = new Map<string, SqlLease>();
  /** False for PGlite: one session in one process, where NOTIFY only echoes back and pg_locks holds no leases. */
  private readonly sharedDatabase: boolean;
  /** `process` mode: the lock table of this database in this process (shared with other stores on it). */
  private readonly processLocks: Set<string>;
  private ready: Promise<void> | null = null;
  private closed = false;

  constructor(
    readonly executor: SqlExecutor,
    private readonly options: SqlStorageOptions = {},
  ) {
    this.kind = executor.kind;
    this.durable = options.durable ?? true;
    this.names = sqlNames(options.schema ?? DEFAULT_SCHEMA);
    this.sharedDatabase = executor.lockMode !== 'process';
    this.embedded = executor.lockMode === 'process';
    this.processLocks = executor.processLocks ?? new Set();
    this.runQueries = buildRunQueries(this.names, { notify: this.sharedDatabase, skipLocked: this.sharedDatabase });
    this.inboxQueries = buildInboxQueries(this.names, { notify: this.sharedDatabase });
    this.leaseQueries = buildLeaseQueries(this.names, { notify: this.sharedDatabase, freshReadFn: true });
    this.pruneQueries = buildPruneQueries(this.names);
    executor.registerPrepared?.([...preparableRunQueries(this.runQueries), ...preparableInboxQueries(this.inboxQueries), ...Object.values(this.leaseQueries)]);
    this.wake = new WakeHub(executor, this.names.wakeChannel, options.onBackgroundError ?? (() => undefined));
    this.inbox = new SqlInbox(executor, this.inboxQueries, this.wake, this.sharedDatabase);
    // PGlite runs each statement on this process's event loop: smaller groups keep it responsive.
    const grouping = { ...options.groupCommit, defaultInFlight: this.embedded ? 1 : 2, defaultBatch: this.embedded ? 16 : 64 };
    this.commits = new StatementGroup(executor, () => this.leaseQueries.commit, grouping);
    this.creates = new StatementGroup(executor, () => this.runQueries.createRuns, grouping);
    this.lockSession =
      executor.lockMode === 'session'
        ? new LockSession(
            () => executor.hold!(),
            () => this.leaseQueries,
          )
        : null;
  }

  /** Connect, migrate (or check the tables), once; a failed attempt is retried by the next call. */
  init(): Promise<void> {
    if (this.closed) return Promise.reject(new StorageError('STORAGE_CLOSED', `The ${this.kind} flow storage was closed`));
    if (!this.ready) {
      this.ready = this.prepare().catch((err) => {
        this.ready = null;
        throw this.fail(err, 'init');
      });
    }
    return this.ready;
  }

  private async prepare(): Promise<void> {
    if (this.options.autoMigrate ?? true) {
      await migrate(this.executor, { schema: this.names.schema, migrationsDir: this.options.migrationsDir });
    }
    const [present] = await this.executor.query(this.runQueries.tablesPresent);
    const missing = TABLES.filter((t) => present?.[t] !== true);
    if (missing.length > 0) {
      throw new StorageError(
        'SCHEMA_MISSING',
        `The flow tables (${missing.map((t) => `flow_${t}`).join(', ')}) do not exist in schema "${this.names.schema}" of ${this.executor.target}. ` +
          'Apply the migrations with `prisma migrate deploy` (prisma/migrations of @hazeljs/flow), or create the storage with autoMigrate: true. ' +
          'If the tables live in another schema, pass its name as `schema`.',
      );
    }
    // Tables created by someone else's migrations lack our read-after-lock functions: plain reads (see lease-queries.ts).
    if (present?.fresh_fn !== true) {
      this.leaseQueries = buildLeaseQueries(this.names, { notify: this.sharedDatabase, freshReadFn: false });
      this.executor.registerPrepared?.(Object.values(this.leaseQueries));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.wake.close();
    await Promise.allSettled([...this.held.values()].map((lease) => lease.release()));
    this.held.clear();
    await this.lockSession?.close();
    if (this.options.ownsExecutor ?? true) await this.executor.close();
  }

  private processLockKey(runId: string): string {
    return `${this.names.schema}\0${runId}`;
  }

  // ---- LeaseHost ----

  fail(err: unknown, what: string): Error {
    return toStorageError(err, this.executor.target, what);
  }

  expectWake(runId: string): void {
    this.wake.expectLocal(runId);
  }

  wakeLocal(runId: string): void {
    this.wake.emitLocal(runId);
  }

  unexpectWake(runId: string): void {
    this.wake.unexpectLocal(runId);
  }

  queryUnderEventLocks(locks: string, sql: string, params: readonly SqlParam[]): Promise<SqlRow[]> {
    return this.inbox.queryUnderEventLocks(locks, sql, params);
  }

  leaseEnded(lease: SqlLease): void {
    if (this.held.get(lease.runId) === lease) this.held.delete(lease.runId);
  }

  // ---- FlowStorage ----

  private async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    await this.init();
    try {
      return await fn();
    } catch (err) {
      throw this.fail(err, what);
    }
  }

  saveDefinition(def: Omit<DefinitionRecord, 'createdAt'> & { graph: JsonText }): Promise<DefinitionRecord> {
    return this.run('saveDefinition', async () => {
      const params = [def.flowId, def.version, def.fingerprint, def.graph];
      let [row] = await this.executor.query(this.runQueries.saveDefinition, params);
      // None: another process inserted it after our snapshot was taken; read it now.
      if (!row) [row] = await this.executor.query(this.runQueries.getDefinition, [def.flowId, def.version]);
      return toDefinitionRecord(row!);
    });
  }

  listDefinitions(): Promise<DefinitionRecord[]> {
    return this.run('listDefinitions', async () => (await this.executor.query(this.runQueries.listDefinitions)).map(toDefinitionRecord));
  }

  createRun(run: NewRun): Promise<{ run: FlowRunRecord; created: boolean }> {
    return this.run('createRun', async () => {
      this.wake.expectLocal(run.runId);
      // Grouped with the other runs created at this moment in this process: one statement for all.
      let row = await this.creates.add(run.runId, newRunJson(run));
      if (!row && run.idempotencyKey !== null) {
        // The key was taken by a transaction that committed after our snapshot, or by another run
        // of the same statement: read its run now.
        [row] = await this.executor.query(this.runQueries.runByIdempotencyKey, [run.idempotencyKey]);
      }
      if (!row) throw new StorageError('CREATE_RUN_FAILED', `createRun ${run.runId}: neither inserted nor found under its idempotency key`);
      const created = row.created === true;
      if (created) this.wake.emitLocal(run.runId);
      else this.wake.unexpectLocal(run.runId);
      const inserted = () => ({ ...row, input_json: JSON.parse(run.input), state_json: JSON.parse(run.state), branches_json: JSON.parse(run.branches) });
      return { run: toRunRecord(created ? inserted() : row), created };
    });
  }

  getRun(runId: string): Promise<FlowRunRecord | null> {
    return this.run('getRun', async () => {
      const [row] = await this.executor.query(this.runQueries.getRun, [runId]);
      return row ? toRunRecord(row) : null;
    });
  }

  listRuns(filter: RunFilter & { summary: true }): Promise<RunPage<FlowRunSummary>>;
  listRuns(filter: RunFilter & { summary?: false }): Promise<RunPage>;
  listRuns(filter: RunFilter): Promise<RunPage<FlowRunSummary>>;
  async listRuns(filter: RunFilter): Promise<RunPage<FlowRunSummary>> {
    const f = normalizeRunFilter(filter); // a bad filter rejects the promise, never throws synchronously
    const summary = filter.summary === true;
    return this.run('listRuns', async () => {
      const { sql, params } = buildListRunsQuery(this.names, f, summary);
      const result = await this.executor.query(sql, params);
      const rows = summary ? parseSummaryPage(result).map(toRunSummary) : result.map(toRunRecord);
      const page = rows.slice(0, f.limit);
      const last = page[page.length - 1];
      return { runs: page, nextCursor: rows.length > f.limit && last ? encodeCursor(last.createdAt, last.runId) : null };
    });
  }

  getEvents(runId: string): Promise<FlowEventRecord[]> {
    return this.run('getEvents', async () => (await this.executor.query(this.runQueries.getEvents, [runId])).map(toEventRecord));
  }

  getMapValues(runId: string, nodeId: string): Promise<MapValues> {
    return this.run('getMapValues', async () => toMapValues(await this.executor.query(this.runQueries.getMapValues, [runId, nodeId])));
  }

  addToInbox(entry: NewInboxEntry): Promise<boolean> {
    return this.run('addToInbox', () => this.inbox.add(entry));
  }

  getInbox(runId: string): Promise<InboxEntry[]> {
    return this.run('getInbox', () => this.inbox.list(runId));
  }

  sendEvent(event: NewFlowEvent): Promise<SentEvent> {
    return this.run('sendEvent', () => this.inbox.send(event));
  }

  pruneEvents(before: Date, limit: number): Promise<number> {
    return this.run('pruneEvents', () => this.inbox.prune(before, limit));
  }

  async pruneRuns(query: PruneRunsQuery): Promise<number> {
    const q = normalizePruneQuery(query); // a bad query rejects the promise, never throws synchronously
    return this.run('pruneRuns', () => (this.sharedDatabase ? this.pruneShared(q) : this.pruneInProcess(q)));
  }

  private pruneParams(q: NormalizedPruneQuery, limit: number) {
    return [
      JSON.stringify(q.statuses),
      q.before?.toISOString() ?? null,
      q.ageMs,
      q.flowId ?? null,
      q.flowVersion ?? null,
      q.exceptFlowKeys ? JSON.stringify(q.exceptFlowKeys) : null,
      limit,
    ];
  }

  private async pruneShared(q: NormalizedPruneQuery): Promise<number> {
    const [row] = await this.executor.query(this.pruneQueries.pruneShared, this.pruneParams(q, q.limit));
    return Number(row?.deleted ?? 0);
  }

  /** PGlite: candidates first, then only those this store could claim in its lock table, deleted while claimed. */
  private async pruneInProcess(q: NormalizedPruneQuery): Promise<number> {
    const rows = await this.executor.query<{ run_id: string }>(this.pruneQueries.selectPrunable, this.pruneParams(q, q.limit + this.processLocks.size));
    const claimed: string[] = [];
    for (const { run_id: runId } of rows) {
      const key = this.processLockKey(runId);
      if (claimed.length >= q.limit || this.processLocks.has(key)) continue;
      this.processLocks.add(key);
      claimed.push(runId);
    }
    if (claimed.length === 0) return 0;
    try {
      const [row] = await this.executor.query(this.pruneQueries.deleteClaimed, [JSON.stringify(claimed)]);
      return Number(row?.deleted ?? 0);
    } finally {
      for (const runId of claimed) this.processLocks.delete(this.processLockKey(runId));
    }
  }

  getIdempotencyRecord(key: string): Promise<IdempotencyRecord | null> {
    return this.run('getIdempotencyRecord', async () => {
      const [row] = await this.executor.query(this.runQueries.getIdempotency, [key]);
      return row ? toIdempotencyRecord(row) : null;
    });
  }

  lockRun(runId: string, options?: LockRunOptions): Promise<RunLease | null> {
    return this.run('lockRun', async () => {
      const lease = await this.acquire(runId, options);
      if (lease) this.held.set(runId, lease);
      return lease;
    });
  }

  private async acquire(runId: string, options: LockRunOptions | undefined): Promise<SqlLease | null> {
    if (this.lockSession) return acquireOnLockSession(this, this.lockSession, runId, options);
    if (this.executor.lockMode === 'transaction') return acquireInTransaction(this, runId, options);
    const key = this.processLockKey(runId);
    if (this.processLocks.has(key)) return null;
    if (options?.onlyIfDue && (!(await dueOrNotAsked(this, runId, options)) || this.processLocks.has(key))) return null;
    // Claimed before the read, so a concurrent lockRun in this process sees it taken.
    this.processLocks.add(key);
    return acquireInProcess(this, runId, () => this.processLocks.delete(key));
  }

  cancelRun(runId: string, events: NewEvent[], error: ErrorRecord): Promise<FlowRunRecord | null> {
    return this.run('cancelRun', async () => {
      const params = [runId, JSON.stringify(errorJson(error)), events.length, eventsJson(events)];
      // A commit racing with us can leave our fallback read (statement snapshot) older than what the
      // UPDATE saw; a second attempt then sees the settled row.
      for (let attempt = 0; ; attempt++) {
        const [row] = await this.executor.query(this.runQueries.cancelRun, params);
        if (!row) return null;
        if (typeof row.ended_parent === 'string') this.wake.emitLocal(row.ended_parent);
        if (row.changed === true || TERMINAL.has(row.status as string) || attempt >= 2) return toRunRecord(row);
      }
    });
  }

  findDueRuns(query: DueRunQuery): Promise<string[]> {
    return this.run('findDueRuns', async () => {
      const limit = Math.max(0, Math.floor(query.limit));
      if (limit === 0) return [];
      // Runs locked in this process are skipped (in SQL through pg_locks too; PGlite only has the lock table).
      const lockedHere = this.sharedDatabase ? this.held.size : this.processLocks.size;
      const rows = await this.executor.query<{ run_id: string }>(this.runQueries.findDueRuns, [
        limit + lockedHere,
        query.flowKeys ? JSON.stringify(query.flowKeys) : null,
      ]);
      const free = (id: string) => (this.sharedDatabase ? !this.held.has(id) : !this.processLocks.has(this.processLockKey(id)));
      return rows
        .map((r) => r.run_id)
        .filter(free)
        .slice(0, limit);
    });
  }

  msUntilNextDue(flowKeys?: string[]): Promise<number | null> {
    return this.run('msUntilNextDue', async () => {
      const [row] = await this.executor.query(this.runQueries.msUntilNextDue, [flowKeys ? JSON.stringify(flowKeys) : null]);
      return row ? Number(row.ms) : null;
    });
  }

  onWake(listener: (runId: string) => void): () => void {
    return this.wake.subscribe(listener);
  }

  wakeReady(): Promise<void> {
    return this.wake.listening();
  }
}
