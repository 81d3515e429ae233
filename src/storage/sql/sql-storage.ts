/**
 * The one SQL implementation of `FlowStorage`, over any `SqlExecutor` (pg, PGlite, Prisma).
 * This file holds the logic; the SQL lives in statements/ (one file per statement) and
 * list-runs-query.ts; leases in leases.ts; what differs between the lock modes (pg, Prisma,
 * PGlite) in lock-modes.ts; the inbox and events in inbox.ts; wake-ups in wake.ts; migrations in
 * migrate.ts.
 */
import { StorageError, type ErrorRecord } from '../../errors.js';
import { normalizeRunFilter, encodeCursor } from '../run-filter.js';
import type {
  DefinitionRecord,
  DebounceJoin,
  DueRunQuery,
  FlowEventRecord,
  FlowRunRecord,
  FlowRunSummary,
  FlowStorage,
  IdempotencyRecord,
  InboxEntry,
} from '../types.js';
import type { JsonText, LockRunOptions, MapValues, NewEvent, NewFlowEvent, NewInboxEntry, NewRun } from '../types.js';
import type { EventRange, PruneRunsQuery, RunFilter, RunLease, RunPage, SentEvent } from '../types.js';
import type { LiveRunCount, NewFork, RunRewrite } from '../types.js';
import { normalizePruneQuery } from '../prune.js';
import { toStorageError } from './errors.js';
import type { SqlExecutor, SqlParam, SqlRow } from './executor.js';
import { StatementGroup, type GroupCommitOptions } from './statement-group.js';
import { SqlInbox } from './inbox.js';
import { SqlSchedules } from './schedules.js';
import { SqlOperations } from './operations.js';
import type { DueRunCount, RunCount, WorkerBeat, WorkerRecord } from '../types.js';
import type { ScheduleClaim, ScheduleRecord, ScheduleStep, ScheduleStepResult, ScheduleWrite } from '../schedule-types.js';
import { buildStatements, preparableStatements, type Statements } from './statements/index.js';
import { cancelledIds } from './statements/commit.js';
import { newRunJson } from './statements/create-runs.js';
import type { RowLock, SqlLease } from './leases.js';
import { lockModeOf, type LockHost, type LockMode } from './lock-modes.js';
import { buildListRunsQuery, parseSummaryPage } from './list-runs-query.js';
import { migrate } from './migrate.js';
import { DEFAULT_SCHEMA, sqlNames, type SqlNames } from './names.js';
import { errorJson, eventsJson, toDefinitionRecord, toEventRecord, toIdempotencyRecord, toMapValues, toRunRecord, toRunSummary } from './rows.js';
import type { DefinitionRow, EventRow, IdempotencyRow, MapValueRow, RunReadRow } from './rows.js';
import { isFinished } from '../../core/states.js';
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

/** The flow tables (`flow_<name>`), as `tablesPresent` names them. */
const TABLES = ['runs', 'events', 'definitions', 'idempotency', 'node_values', 'inbox', 'sent_events', 'event_waits', 'event_receipts'];

export class SqlFlowStorage implements FlowStorage, LockHost {
  readonly kind: string;
  readonly durable: boolean;
  /** PGlite: the database runs on this process's event loop. */
  readonly embedded: boolean;
  readonly names: SqlNames;
  /** Every statement of this store (statements/), built once for its schema and lock mode. */
  readonly sql: Statements;
  /** The read-after-lock functions exist (see statements/lock-runs.ts); found out at init. */
  private freshReads = true;
  private readonly wake: WakeHub;
  private readonly inbox: SqlInbox;
  private readonly schedules: SqlSchedules;
  private readonly operations: SqlOperations;
  /** Commits of leases, and new runs: each grouped with others of the moment into one statement. */
  readonly commits: StatementGroup;
  private readonly creates: StatementGroup;
  /** How this store's runs are locked, by the executor's lock mode. */
  private readonly locks: LockMode;
  /** The leases this store holds, by run: released at close (and, on a shared database, the runs a look for due ones skips). */
  readonly held = new Map<string, SqlLease>();
  private ready: Promise<void> | null = null;
  private closed = false;
  private readonly cancelListeners = new Set<(runIds: readonly string[]) => void>();

  constructor(
    readonly executor: SqlExecutor,
    private readonly options: SqlStorageOptions = {},
  ) {
    this.kind = executor.kind;
    this.durable = options.durable ?? true;
    this.names = sqlNames(options.schema ?? DEFAULT_SCHEMA);
    // Its methods read the statements below when called, not now.
    this.locks = lockModeOf(this);
    this.embedded = this.locks.embedded;
    this.sql = buildStatements(this.names, this.locks.statements);
    executor.registerPrepared?.(preparableStatements(this.sql));
    this.wake = new WakeHub(executor, this.names.wakeChannel, options.onBackgroundError ?? (() => undefined));
    this.inbox = new SqlInbox(executor, this.sql, this.wake, this.locks);
    this.schedules = new SqlSchedules(executor, this.sql, this.wake);
    this.operations = new SqlOperations(executor, this.sql);
    // PGlite runs each statement on this process's event loop: smaller groups keep it responsive.
    const grouping = { ...options.groupCommit, defaultInFlight: this.embedded ? 1 : 2, defaultBatch: this.embedded ? 16 : 64 };
    this.commits = new StatementGroup(executor, this.sql.commit, grouping);
    this.commits.onBatch = (size) => this.commitBatchListeners.forEach((listener) => listener(size));
    this.creates = new StatementGroup(executor, this.sql.createRuns, grouping);
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
    const [present] = await this.executor.query(this.sql.tablesPresent);
    const missing = TABLES.filter((t) => present?.[t] !== true);
    if (missing.length > 0) {
      throw new StorageError(
        'SCHEMA_MISSING',
        `The flow tables (${missing.map((t) => `flow_${t}`).join(', ')}) do not exist in schema "${this.names.schema}" of ${this.executor.target}. ` +
          'Apply the migrations with `prisma migrate deploy` (prisma/migrations of @hazeljs/flow), or create the storage with autoMigrate: true. ' +
          'If the tables live in another schema, pass its name as `schema`.',
      );
    }
    // The cancel cascade has no plain-SQL stand-in: without its function, cancels and failures would leave children behind.
    if (present?.cancel_fn !== true) {
      throw new StorageError(
        'SCHEMA_MISSING',
        `The function flow_cancel_runs does not exist in schema "${this.names.schema}" of ${this.executor.target}. ` +
          'Apply the migrations with `prisma migrate deploy` (prisma/migrations of @hazeljs/flow), or create the storage with autoMigrate: true.',
      );
    }
    // A schema one migration (or more) behind the code: every read of a run names the run columns,
    // and the schedules need their table. Checked after the tables and function above, which
    // earlier versions' schemas lack too; said in one message, whatever is missing.
    const columns: unknown = present?.missing_run_columns;
    const behind = [
      ...(present?.schedules !== true ? ['the table flow_schedules'] : []),
      ...(present?.workers !== true ? ['the table flow_workers'] : []),
      ...(present?.flow_control !== true ? ['the tables flow_concurrency_slots, flow_rate_limits and the function flow_admit_run'] : []),
      ...(Array.isArray(columns) && columns.length > 0 ? [`the column(s) ${columns.join(', ')} of flow_runs`] : []),
    ];
    if (behind.length > 0) {
      throw new StorageError(
        'SCHEMA_MISSING',
        `The schema "${this.names.schema}" of ${this.executor.target} lacks ${behind.join(' and ')} of this version. ` +
          'Apply the migrations with `prisma migrate deploy` (prisma/migrations of @hazeljs/flow), or create the storage with autoMigrate: true.',
      );
    }
    // Tables created by someone else's migrations lack our read-after-lock functions: plain reads (see statements/lock-runs.ts).
    this.freshReads = present?.fresh_fn === true;
  }

  /** The lock session's statement: with the read-after-lock functions when the schema has them. */
  get lockRunsStatement(): string {
    return this.freshReads ? this.sql.lockRuns : this.sql.lockRunsPlainRead;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.wake.close();
    await Promise.allSettled([...this.held.values()].map((lease) => lease.release()));
    this.held.clear();
    await this.locks.close();
    if (this.options.ownsExecutor ?? true) await this.executor.close();
  }

  // ---- LeaseHost ----

  fail(err: unknown, what: string): Error {
    return toStorageError(err, this.executor.target, what);
  }

  announcing<R>(expected: string | null, send: () => Promise<R>, announced: (result: R) => Iterable<string>): Promise<R> {
    return this.wake.announcing(expected, send, announced);
  }

  queryUnderEventLocks(locks: string | null, sql: string, params: readonly SqlParam[], rowLock?: RowLock): Promise<SqlRow[]> {
    return this.locks.underEventLocks(locks, sql, params, rowLock);
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
      let [row] = await this.executor.query<DefinitionRow>(this.sql.saveDefinition, params);
      // None: another process inserted it after our snapshot was taken; read it now.
      if (!row) [row] = await this.executor.query<DefinitionRow>(this.sql.getDefinition, [def.flowId, def.version]);
      return toDefinitionRecord(row!);
    });
  }

  listDefinitions(): Promise<DefinitionRecord[]> {
    return this.run('listDefinitions', async () => (await this.executor.query<DefinitionRow>(this.sql.listDefinitions)).map(toDefinitionRecord));
  }

  createRun(run: NewRun): Promise<{ run: FlowRunRecord; created: boolean }> {
    return this.run('createRun', async () => {
      const row = await this.wake.announcing(
        run.runId,
        async () => {
          // Grouped with the other runs created at this moment in this process: one statement for all.
          const created = (await this.creates.add(run.runId, newRunJson(run))) as (RunReadRow & { created: boolean }) | undefined;
          if (created || run.idempotencyKey === null) return created;
          // The key was taken by a transaction that committed after our snapshot, or by another run
          // of the same statement: read its run now.
          return (await this.executor.query<RunReadRow & { created: boolean }>(this.sql.runByIdempotencyKey, [run.idempotencyKey]))[0];
        },
        (r) => (r?.created === true ? [run.runId] : []),
      );
      if (!row) throw new StorageError('CREATE_RUN_FAILED', `createRun ${run.runId}: neither inserted nor found under its idempotency key`);
      const created = row.created === true;
      const inserted = () => ({ ...row, input_json: JSON.parse(run.input), state_json: JSON.parse(run.state), branches_json: JSON.parse(run.branches) });
      return { run: toRunRecord(created ? inserted() : row), created };
    });
  }

  getRun(runId: string): Promise<FlowRunRecord | null> {
    return this.run('getRun', async () => {
      const [row] = await this.executor.query<RunReadRow>(this.sql.getRun, [runId]);
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
      const rows = summary ? parseSummaryPage(result).map(toRunSummary) : (result as RunReadRow[]).map(toRunRecord);
      const page = rows.slice(0, f.limit);
      const last = page[page.length - 1];
      return { runs: page, nextCursor: rows.length > f.limit && last ? encodeCursor(last.createdAt, last.runId) : null };
    });
  }

  getEvents(runId: string, range: EventRange = {}): Promise<FlowEventRecord[]> {
    const params = [runId, range.afterSeq ?? 0, range.limit ?? null];
    return this.run('getEvents', async () => (await this.executor.query<EventRow>(this.sql.getEvents, params)).map(toEventRecord));
  }

  getMapValues(runId: string, nodeId: string): Promise<MapValues> {
    return this.run('getMapValues', async () => toMapValues(await this.executor.query<MapValueRow>(this.sql.getMapValues, [runId, nodeId])));
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
    const params = (limit: number) => [
      JSON.stringify(q.statuses),
      q.before?.toISOString() ?? null,
      q.ageMs,
      q.flowId ?? null,
      q.flowVersion ?? null,
      q.exceptFlowKeys ? JSON.stringify(q.exceptFlowKeys) : null,
      limit,
    ];
    return this.run('pruneRuns', () => this.locks.prune(params, q.limit));
  }

  getIdempotencyRecord(key: string): Promise<IdempotencyRecord | null> {
    return this.run('getIdempotencyRecord', async () => {
      const [row] = await this.executor.query<IdempotencyRow>(this.sql.getIdempotency, [key]);
      return row ? toIdempotencyRecord(row) : null;
    });
  }

  lockRun(runId: string, options?: LockRunOptions): Promise<RunLease | null> {
    return this.run('lockRun', async () => {
      const lease = await this.locks.acquire(runId, options);
      if (lease) this.held.set(runId, lease);
      return lease;
    });
  }

  cancelRun(runId: string, events: NewEvent[], error: ErrorRecord): Promise<FlowRunRecord | null> {
    return this.run('cancelRun', async () => {
      const params = [runId, JSON.stringify(errorJson(error)), events.length, eventsJson(events)];
      // A commit racing with us can leave our fallback read (statement snapshot) older than what the
      // UPDATE saw; a second attempt then sees the settled row.
      for (let attempt = 0; ; attempt++) {
        const [row] = await this.wake.announcing(
          null,
          () => this.executor.query<RunReadRow & { changed: boolean; ended_parent: string | null; cancelled: unknown }>(this.sql.cancelRun, params),
          ([r]) => (typeof r?.ended_parent === 'string' ? [r.ended_parent] : []),
        );
        if (!row) return null;
        this.runsCancelled(row.cancelled);
        if (row.changed === true || isFinished(row.status) || attempt >= 2) return toRunRecord(row);
      }
    });
  }

  joinDebouncedRun(q: DebounceJoin): Promise<FlowRunRecord | null> {
    return this.run('joinDebouncedRun', async () => {
      const row = await this.locks.joinDebounced([q.flowId, q.flowVersion, q.key, q.input, q.delayMs, q.maxWaitMs]);
      return row ? toRunRecord(row) : null;
    });
  }

  findDueRuns(query: DueRunQuery): Promise<string[]> {
    return this.run('findDueRuns', async () => {
      const limit = Math.max(0, Math.floor(query.limit));
      if (limit === 0) return [];
      // Runs locked in this process are skipped (on a shared database, the statement skips those locked anywhere).
      const here = this.locks.heldHere;
      const full = this.locks.fullExecutingSlots();
      const rows = await this.executor.query<{ run_id: string }>(this.sql.findDueRuns, [
        limit + here.size,
        query.flowKeys ? JSON.stringify(query.flowKeys) : null,
        ...(full === null ? [] : [JSON.stringify(full)]),
      ]);
      return rows
        .map((r) => r.run_id)
        .filter((id) => !here.has(id))
        .slice(0, limit);
    });
  }

  msUntilNextDue(flowKeys?: string[]): Promise<number | null> {
    return this.run('msUntilNextDue', async () => {
      const [row] = await this.executor.query(this.sql.msUntilNextDue, [flowKeys ? JSON.stringify(flowKeys) : null]);
      return row ? Number(row.ms) : null;
    });
  }

  onWake(listener: (runId: string) => void): () => void {
    return this.wake.subscribe(listener);
  }

  onRunsCancelled(listener: (runIds: readonly string[]) => void): () => void {
    this.cancelListeners.add(listener);
    return () => this.cancelListeners.delete(listener);
  }

  /** LeaseHost: a statement's `cancelled` column (JSON array of run ids, or NULL) told to the listeners. */
  runsCancelled(column: unknown): void {
    const ids = cancelledIds(column);
    if (ids.length > 0) for (const listener of this.cancelListeners) listener(ids);
  }

  private readonly commitBatchListeners = new Set<(commits: number) => void>();

  onCommitBatch(listener: (commits: number) => void): () => void {
    this.commitBatchListeners.add(listener);
    return () => this.commitBatchListeners.delete(listener);
  }

  wakeReady(): Promise<void> {
    return this.wake.listening();
  }

  // ---- Schedules (schedules.ts) ----

  saveSchedule(schedule: ScheduleWrite, expectedRevision: number | null): Promise<ScheduleRecord | null> {
    return this.run('saveSchedule', () => this.schedules.save(schedule, expectedRevision));
  }

  getSchedule(scheduleId: string): Promise<ScheduleRecord | null> {
    return this.run('getSchedule', () => this.schedules.get(scheduleId));
  }

  listSchedules(filter: { flowId?: string }): Promise<ScheduleRecord[]> {
    return this.run('listSchedules', () => this.schedules.list(filter));
  }

  deleteSchedule(scheduleId: string): Promise<boolean> {
    return this.run('deleteSchedule', () => this.schedules.delete(scheduleId));
  }

  claimDueSchedules(query: { limit: number; leaseMs: number }): Promise<ScheduleClaim> {
    return this.run('claimDueSchedules', () => this.schedules.claim(query));
  }

  fireSchedule(step: ScheduleStep): Promise<ScheduleStepResult | null> {
    return this.run('fireSchedule', () => this.schedules.fire(step));
  }

  msUntilNextSchedule(): Promise<number | null> {
    return this.run('msUntilNextSchedule', () => this.schedules.msUntilNext());
  }

  // ---- Versions, migration and re-runs ----

  rewriteRun(runId: string, r: RunRewrite): Promise<FlowRunRecord | null> {
    return this.run('rewriteRun', async () => {
      const params: SqlParam[] = [
        runId,
        r.expectedVersion,
        r.flowVersion,
        r.status,
        r.currentNodeId,
        r.branches,
        r.state,
        r.attempts,
        r.attempt,
        r.attemptInFlight,
        r.recoveries,
        r.nextAttemptAt ? r.nextAttemptAt.toISOString() : null,
        r.waitReason,
        r.error ? JSON.stringify(errorJson(r.error)) : null,
        r.compensation,
        r.compensated,
        eventsJson(r.events),
      ];
      const [row] = await this.wake.announcing(
        runId,
        () => this.executor.query<RunReadRow>(this.sql.rewriteRun, params),
        (rows) => rows.map((x) => x.run_id),
      );
      return row ? toRunRecord(row) : null;
    });
  }

  forkRun(fork: NewFork): Promise<FlowRunRecord> {
    return this.run('forkRun', async () => {
      const params: SqlParam[] = [newRunJson(fork), fork.forkedFrom.runId, fork.forkedFrom.nodeId, JSON.stringify(fork.copyOutputs), fork.outcome];
      const [row] = await this.wake.announcing(
        fork.runId,
        () => this.executor.query<RunReadRow>(this.sql.forkRun, params),
        (rows) => rows.map((x) => x.run_id),
      );
      return toRunRecord(row!);
    });
  }

  countLiveRuns(): Promise<LiveRunCount[]> {
    return this.run('countLiveRuns', async () => {
      const rows = await this.executor.query<{ flow_id: string; flow_version: string; unfinished: number }>(this.sql.countLiveRuns);
      return rows.map((r) => ({ flowId: r.flow_id, version: r.flow_version, unfinished: Number(r.unfinished) }));
    });
  }

  // ---- Operations (operations.ts) ----

  countRuns(): Promise<RunCount[]> {
    return this.run('countRuns', () => this.operations.countRuns());
  }

  countDueRuns(): Promise<DueRunCount[]> {
    return this.run('countDueRuns', () => this.operations.countDueRuns());
  }

  recordWorker(worker: WorkerBeat): Promise<void> {
    return this.run('recordWorker', () => this.operations.recordWorker(worker));
  }

  removeWorker(workerId: string): Promise<void> {
    return this.run('removeWorker', () => this.operations.removeWorker(workerId));
  }

  listWorkers(): Promise<WorkerRecord[]> {
    return this.run('listWorkers', () => this.operations.listWorkers());
  }
}
