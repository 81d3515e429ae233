/**
 * In-memory store: the same contract as the SQL store, for tests and quick starts. Not durable.
 * It keeps every value as the JSON text the engine produced and parses it on each read, so code
 * tested here sees exactly what it would see after a round trip through Postgres.
 */
import { StaleRunError, type ErrorRecord } from '../errors.js';
import { systemClock, type Clock } from '../core/clock.js';
import { flowKey } from '../definitions/flow-key.js';
import type {
  DefinitionRecord,
  DueAt,
  DebounceJoin,
  DueRunQuery,
  FlowEventRecord,
  FlowRunRecord,
  FlowRunSummary,
  FlowStorage,
  IdempotencyRecord,
  MapValues,
} from './types.js';
import type { JsonText, LockRunOptions, NewEvent, NewRun, PruneRunsQuery, RunFilter, RunLease, RunPage, Transition } from './types.js';
import type { BranchRecord, EventRange, InboxEntry, NewFlowEvent, NewInboxEntry, SentEvent } from './types.js';
import type { LiveRunCount, NewFork, RunRewrite } from './types.js';
import { decodeCursor, encodeCursor, normalizeRunFilter } from './run-filter.js';
import { isFinished } from '../core/states.js';
import { compareClaimOrder, dueSinceOf, isDueAt, isDueNow } from './due.js';
import { MemoryFlowControl } from './memory-flow-control.js';
import { MemoryLease, recordOf, summaryOf, type EventRow, type RunRow } from './memory-lease.js';
import { normalizePruneQuery } from './prune.js';
import { MemorySchedules } from './memory-schedules.js';
import { countDueRunsOf, countRunsOf, MemoryWorkers } from './memory-operations.js';
import type { DueRunCount, RunCount, WorkerBeat, WorkerRecord } from './types.js';
import type { ScheduleClaim, ScheduleRecord, ScheduleStep, ScheduleStepResult, ScheduleWrite } from './schedule-types.js';

export interface MemoryStorageOptions {
  /** Source of "now" for due times (default: the system clock). The engine passes its own clock. */
  clock?: Clock;
}

const EMPTY_OBJECT = '{}' as JsonText;

/** An inbox entry as stored: an answer's payload, or the stored event an event's entry names. */
type InboxRow = Omit<InboxEntry, 'payload'> & { payload: JsonText | null; eventId: string | null };

export class MemoryStorage implements FlowStorage {
  readonly kind = 'memory';
  readonly durable = false;
  private clock: Clock;
  private readonly runs = new Map<string, RunRow>();
  private readonly runIdsByKey = new Map<string, string>();
  private readonly events = new Map<string, EventRow[]>();
  private readonly definitions = new Map<string, DefinitionRecord & { graphText: JsonText }>();
  private readonly idempotency = new Map<string, { runId: string; nodeId: string; result: JsonText; createdAt: Date }>();
  private readonly locked = new Set<string>();
  private readonly flowControl = new MemoryFlowControl((runId) => this.runs.get(runId)?.status);
  private readonly wakeListeners = new Set<(runId: string) => void>();
  private readonly cancelListeners = new Set<(runIds: readonly string[]) => void>();
  /**
   * Each run's inbox (the SQL store's flow_inbox rows), and the id of the last entry. An event's
   * entry names the stored event (`eventId`) instead of holding a copy of it.
   */
  private readonly inbox = new Map<string, InboxRow[]>();
  private inboxSeq = 0;
  /** Stored events by id, in sending order; registered event waits; events each run has received. */
  private readonly sentEvents = new Map<string, NewFlowEvent & { sentAt: Date }>();
  private readonly eventWaits = new Map<string, { runId: string; branchId: string; waitId: number; name: string; key: string | null }>();
  private readonly receipts = new Set<string>();
  /** Runs started by schedules, by (schedule, tick): the SQL store's unique index. */
  private readonly runIdsByTick = new Map<string, string>();
  private readonly schedules = new MemorySchedules({
    now: () => this.clock.now(),
    liveRunIds: (scheduleId) => [...this.runs.values()].filter((r) => r.scheduleId === scheduleId && !isFinished(r.status)).map((r) => r.runId),
    definitionFor: (flowId, version) => {
      const defs = [...this.definitions.values()].filter((d) => d.flowId === flowId && (version === null || d.version === version));
      // Newest first, ties by version (descending): the SQL store's order.
      defs.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.version < b.version ? 1 : a.version > b.version ? -1 : 0));
      const def = defs[0];
      return def ? { version: def.version, entry: (JSON.parse(def.graphText) as { entry: string }).entry } : null;
    },
    insertRun: (run) => {
      const { row, created } = this.insertRun(run);
      return { run: this.record(row), created };
    },
  });

  constructor(options: MemoryStorageOptions = {}) {
    this.clock = options.clock ?? systemClock;
  }

  /** The engine calls this so that due times follow its (possibly manual) clock. */
  useClock(clock: Clock): void {
    this.clock = clock;
  }

  async init(): Promise<void> {}

  async close(): Promise<void> {
    this.locked.clear();
    this.wakeListeners.clear();
    this.cancelListeners.clear();
  }

  async saveDefinition(def: Omit<DefinitionRecord, 'createdAt'> & { graph: JsonText }): Promise<DefinitionRecord> {
    const key = flowKey(def.flowId, def.version);
    let stored = this.definitions.get(key);
    if (!stored) {
      stored = { ...def, graphText: def.graph, graph: null, createdAt: this.nowDate() };
      this.definitions.set(key, stored);
    }
    return this.toDefinition(stored);
  }

  async listDefinitions(): Promise<DefinitionRecord[]> {
    return [...this.definitions.values()].map((d) => this.toDefinition(d));
  }

  async createRun(run: NewRun): Promise<{ run: FlowRunRecord; created: boolean }> {
    const { row, created } = this.insertRun(run);
    return { run: this.record(row), created };
  }

  /** Inserts `run`, or finds the run that holds its idempotency key (`created` false). */
  private insertRun(run: NewRun): { row: RunRow; created: boolean } {
    if (run.idempotencyKey !== null) {
      const existing = this.runIdsByKey.get(run.idempotencyKey);
      if (existing) return { row: this.runs.get(existing)!, created: false };
    }
    const tick = run.scheduleId && run.scheduledAt ? `${run.scheduleId}\u0000${run.scheduledAt.getTime()}` : null;
    const ticked = tick === null ? undefined : this.runIdsByTick.get(tick);
    if (ticked !== undefined) return { row: this.runs.get(ticked)!, created: false };
    const now = this.nowDate();
    const row: RunRow = {
      runId: run.runId,
      flowId: run.flowId,
      flowVersion: run.flowVersion,
      tenantId: run.tenantId,
      status: 'RUNNING',
      currentNodeId: run.currentNodeId,
      input: run.input,
      state: run.state,
      branches: run.branches,
      parentRunId: run.parentRunId ?? null,
      parentNodeId: run.parentNodeId ?? null,
      failureOf: run.failureOf ?? null,
      failureHandlerRunId: null,
      hasInbox: false,
      outputs: new Map(),
      mapItems: new Map(),
      itemOutputs: new Map(),
      createdAt: now,
      updatedAt: now,
      idempotencyKey: run.idempotencyKey,
      version: 1,
      lastSeq: 0,
      attempt: 0,
      attempts: EMPTY_OBJECT,
      attemptInFlight: false,
      recoveries: 0,
      nextAttemptAt: null,
      waitReason: null,
      error: null,
      compensation: null,
      compensated: null,
      scheduleId: run.scheduleId ?? null,
      scheduledAt: run.scheduledAt ? run.scheduledAt.toISOString() : null,
      outcome: null,
      forkedFrom: null,
      traceparent: run.traceparent ?? null,
      priority: run.priority ?? 0,
      flowControl: run.flowControl ? (JSON.parse(JSON.stringify(run.flowControl)) as RunRow['flowControl']) : null,
      parsed: {},
    };
    if (run.startAt) row.nextAttemptAt = this.resolveDue(run.startAt);
    this.runs.set(run.runId, row);
    if (run.idempotencyKey !== null) this.runIdsByKey.set(run.idempotencyKey, run.runId);
    if (tick !== null) this.runIdsByTick.set(tick, run.runId);
    this.appendEvents(row, run.events, now);
    this.wake(run.runId);
    return { row, created: true };
  }

  async getRun(runId: string): Promise<FlowRunRecord | null> {
    const row = this.runs.get(runId);
    return row ? this.record(row) : null;
  }

  listRuns(filter: RunFilter & { summary: true }): Promise<RunPage<FlowRunSummary>>;
  listRuns(filter: RunFilter & { summary?: false }): Promise<RunPage>;
  listRuns(filter: RunFilter): Promise<RunPage<FlowRunSummary>>;
  async listRuns(filter: RunFilter): Promise<RunPage<FlowRunSummary>> {
    const f = normalizeRunFilter(filter);
    const after = f.cursor ? decodeCursor(f.cursor) : null;
    // Newest first, ties broken by run id: the same order as the SQL store's keyset pagination.
    const rows = [...this.runs.values()]
      .filter(
        (r) =>
          (!f.statuses || f.statuses.includes(r.status)) &&
          (f.flowId === undefined || r.flowId === f.flowId) &&
          (f.flowVersion === undefined || r.flowVersion === f.flowVersion) &&
          (f.tenantId === undefined || r.tenantId === f.tenantId) &&
          (f.parentRunId === undefined || r.parentRunId === f.parentRunId) &&
          (f.scheduleId === undefined || r.scheduleId === f.scheduleId) &&
          (!f.outcomes || (r.outcome !== null && f.outcomes.includes(r.outcome))),
      )
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0))
      .filter(
        (r) => !after || r.createdAt.getTime() < after.createdAt.getTime() || (r.createdAt.getTime() === after.createdAt.getTime() && r.runId < after.runId),
      );
    const page = rows.slice(0, f.limit);
    const last = page[page.length - 1];
    const now = this.clock.now();
    return {
      runs: page.map((r) => (filter.summary ? summaryOf(r, now) : this.record(r))),
      nextCursor: rows.length > f.limit && last ? encodeCursor(last.createdAt, last.runId) : null,
    };
  }

  async getEvents(runId: string, range: EventRange = {}): Promise<FlowEventRecord[]> {
    // A run's seqs are 1, 2, 3 … without gaps, in this list's order: the event after seq n is at index n.
    const afterSeq = range.afterSeq ?? 0;
    const list = this.events.get(runId) ?? [];
    return list.slice(afterSeq, range.limit === undefined ? undefined : afterSeq + range.limit).map(({ payload, ...e }) => ({
      ...e,
      error: e.error ? { ...e.error } : null,
      payloadJson: payload === null ? null : JSON.parse(payload),
    }));
  }

  async getIdempotencyRecord(key: string): Promise<IdempotencyRecord | null> {
    const rec = this.idempotency.get(key);
    return rec ? { key, runId: rec.runId, nodeId: rec.nodeId, result: JSON.parse(rec.result), createdAt: rec.createdAt } : null;
  }

  async lockRun(runId: string, options?: LockRunOptions): Promise<RunLease | null> {
    if (this.locked.has(runId)) return null;
    const run = this.readRun(runId);
    if (options?.onlyIfDue && !isDueNow(run)) return null;
    // Flow control: admitted under the run's limits, or refused and left due (flow-control.ts).
    const row = this.runs.get(runId);
    const admitted = row ? this.flowControl.admit(row, this.clock.now()) : { release: () => undefined };
    if (!('release' in admitted)) {
      if (admitted.reason === 'rateLimit' && row) {
        row.nextAttemptAt = admitted.until;
        row.flowControl!.rateLimit!.heldUntil = admitted.until.toISOString();
      }
      return null;
    }
    this.locked.add(runId);
    return new MemoryLease(this, runId, row?.flowControl ? this.readRun(runId) : run, () => {
      admitted.release();
      this.locked.delete(runId);
    });
  }

  async joinDebouncedRun(q: DebounceJoin): Promise<FlowRunRecord | null> {
    for (const row of this.runs.values()) {
      if (row.flowId !== q.flowId || row.flowVersion !== q.flowVersion || row.flowControl?.debounce?.key !== q.key) continue;
      if (row.status !== 'RUNNING' || row.lastSeq !== 1 || this.locked.has(row.runId)) continue;
      const latest = q.maxWaitMs === null ? Infinity : row.createdAt.getTime() + q.maxWaitMs;
      row.input = q.input;
      row.parsed = {};
      row.nextAttemptAt = new Date(Math.min(this.clock.now() + q.delayMs, latest));
      row.version += 1;
      row.updatedAt = this.nowDate();
      return this.record(row);
    }
    return null;
  }

  async getMapValues(runId: string, nodeId: string): Promise<MapValues> {
    const row = this.runs.get(runId);
    const items = row?.mapItems.get(nodeId);
    const outputs = new Map<number, unknown>();
    for (const [index, text] of row?.itemOutputs.get(nodeId) ?? []) outputs.set(index, JSON.parse(text));
    return { items: items === undefined ? null : (JSON.parse(items) as unknown[]), outputs };
  }

  async cancelRun(runId: string, events: NewEvent[], error: ErrorRecord): Promise<FlowRunRecord | null> {
    const row = this.runs.get(runId);
    if (!row) return null;
    if (!isFinished(row.status)) {
      this.markCancelled(row, { ...error }, events, this.nowDate());
      this.runEnded(row);
      this.cancelBelow(runId, [], `parent run ${runId} was cancelled: ${error.message}`);
    }
    return this.record(row);
  }

  async addToInbox(entry: NewInboxEntry): Promise<boolean> {
    const row = this.runs.get(entry.runId);
    if (!row) return false;
    // An answer to a wait goes in only while the branch still waits there.
    if (entry.waitId !== null && !this.waitsAt(entry.runId, entry.branchId, entry.waitId)) return false;
    return this.putInInbox({ ...entry, eventId: null });
  }

  /** The run's branch `branchId` waits at `waitId` now. */
  private waitsAt(runId: string, branchId: string | null, waitId: number): boolean {
    const row = this.runs.get(runId);
    const branches = row ? (JSON.parse(row.branches) as BranchRecord[]) : [];
    return branches.some((b) => b.branchId === branchId && b.status === 'WAITING' && (b.waitId ?? 0) === waitId);
  }

  /** Adds an inbox entry (one per wait) and wakes the run: for answers already known to be current. */
  private putInInbox(entry: Omit<InboxRow, 'id' | 'createdAt'>): boolean {
    const row = this.runs.get(entry.runId);
    if (!row) return false;
    let list = this.inbox.get(entry.runId);
    if (!list) this.inbox.set(entry.runId, (list = []));
    if (entry.waitId !== null && list.some((e) => e.waitId === entry.waitId)) return false;
    list.push({ ...entry, id: ++this.inboxSeq, createdAt: this.nowDate() });
    row.hasInbox = true;
    queueMicrotask(() => this.wake(entry.runId));
    return true;
  }

  async getInbox(runId: string): Promise<InboxEntry[]> {
    return (this.inbox.get(runId) ?? []).map(({ eventId, ...e }) => ({
      ...e,
      createdAt: new Date(e.createdAt),
      payload: JSON.parse(eventId === null ? e.payload! : eventEntry(this.sentEvents.get(eventId)!)),
    }));
  }

  async sendEvent(event: NewFlowEvent): Promise<SentEvent> {
    const sentAt = this.nowDate();
    this.sentEvents.set(event.eventId, { ...event, sentAt });
    const delivered: SentEvent['delivered'] = [];
    for (const w of this.eventWaits.values()) {
      if (w.name !== event.name || (w.key !== null && w.key !== event.key)) continue;
      if (!this.waitsAt(w.runId, w.branchId, w.waitId)) continue; // a wait that is over
      if (this.putInInbox({ runId: w.runId, kind: 'event', waitId: w.waitId, branchId: w.branchId, payload: null, eventId: event.eventId })) {
        delivered.push({ runId: w.runId, branchId: w.branchId, waitId: w.waitId });
      }
    }
    return { eventId: event.eventId, delivered, sentAt };
  }

  /** Never an event an inbox entry names: the entry reads its payload from it. */
  async pruneEvents(before: Date, limit: number): Promise<number> {
    const named = new Set<string>();
    for (const list of this.inbox.values()) for (const e of list) if (e.eventId !== null) named.add(e.eventId);
    let pruned = 0;
    for (const e of this.sentEvents.values()) {
      if (pruned >= limit) break;
      if (e.sentAt < before && !named.has(e.eventId)) pruned += this.sentEvents.delete(e.eventId) ? 1 : 0;
    }
    return pruned;
  }

  async pruneRuns(query: PruneRunsQuery): Promise<number> {
    const q = normalizePruneQuery(query);
    const cutoff = q.before ? q.before.getTime() : this.clock.now() - q.ageMs!;
    const except = new Set(q.exceptFlowKeys ?? []);
    // Runs with a child still RUNNING or WAITING (the child's end goes to their inbox), and
    // children of a parent still RUNNING or WAITING (its holder reads the child it waited for).
    const live = (r: RunRow | undefined) => r !== undefined && (r.status === 'RUNNING' || r.status === 'WAITING');
    const waitedOn = new Set<string>();
    for (const r of this.runs.values()) if (r.parentRunId !== null && live(r)) waitedOn.add(r.parentRunId);
    const doomed = new Set<string>();
    for (const row of this.runs.values()) {
      if (doomed.size >= q.limit) break;
      if (!q.statuses.includes(row.status) || row.updatedAt.getTime() >= cutoff) continue;
      if ((q.flowId !== undefined && row.flowId !== q.flowId) || (q.flowVersion !== undefined && row.flowVersion !== q.flowVersion)) continue;
      if (except.has(flowKey(row.flowId, row.flowVersion)) || this.locked.has(row.runId) || waitedOn.has(row.runId)) continue;
      if (row.parentRunId !== null && live(this.runs.get(row.parentRunId))) continue;
      doomed.add(row.runId);
    }
    for (const runId of doomed) {
      const row = this.runs.get(runId)!;
      if (row.idempotencyKey !== null && this.runIdsByKey.get(row.idempotencyKey) === runId) this.runIdsByKey.delete(row.idempotencyKey);
      if (row.scheduleId !== null && row.scheduledAt !== null) this.runIdsByTick.delete(`${row.scheduleId}\u0000${Date.parse(row.scheduledAt)}`);
      this.runs.delete(runId);
      this.events.delete(runId);
      this.inbox.delete(runId);
    }
    if (doomed.size > 0) {
      for (const [key, w] of this.eventWaits) if (doomed.has(w.runId)) this.eventWaits.delete(key);
      for (const key of this.receipts) if (doomed.has(key.slice(0, key.indexOf('\u0000')))) this.receipts.delete(key);
      for (const [key, rec] of this.idempotency) if (doomed.has(rec.runId)) this.idempotency.delete(key);
    }
    return doomed.size;
  }

  /** The store's rule for a run that ended: its parent hears of it, its event waits go. */
  private runEnded(row: RunRow): void {
    for (const [key, w] of this.eventWaits) if (w.runId === row.runId) this.eventWaits.delete(key);
    if (row.parentRunId === null) return;
    const payload = JSON.stringify({ childRunId: row.runId, status: row.status }) as JsonText;
    this.putInInbox({ runId: row.parentRunId, kind: 'child', waitId: null, branchId: null, payload, eventId: null });
  }

  async findDueRuns(query: DueRunQuery): Promise<string[]> {
    const now = this.clock.now();
    const due: RunRow[] = [];
    for (const row of this.runs.values()) {
      if (query.flowKeys && !query.flowKeys.includes(flowKey(row.flowId, row.flowVersion))) continue;
      if (!this.locked.has(row.runId) && isDueAt(row, now) && !this.flowControl.blocked(row)) due.push(row);
    }
    const claimFacts = (r: RunRow) => ({
      runId: r.runId,
      priority: r.priority,
      createdAt: r.createdAt,
      dueSince: dueSinceOf(r, this.inbox.get(r.runId)?.[0]?.createdAt ?? null),
    });
    return due
      .map(claimFacts)
      .sort(compareClaimOrder)
      .slice(0, Math.max(0, Math.floor(query.limit)))
      .map((r) => r.runId);
  }

  async msUntilNextDue(flowKeys?: string[]): Promise<number | null> {
    const now = this.clock.now();
    let best: number | null = null;
    for (const row of this.runs.values()) {
      if (flowKeys && !flowKeys.includes(flowKey(row.flowId, row.flowVersion))) continue;
      if ((row.status !== 'RUNNING' && row.status !== 'WAITING') || !row.nextAttemptAt) continue;
      const ms = row.nextAttemptAt.getTime() - now;
      if (ms > 0 && (best === null || ms < best)) best = ms; // past due times do not count
    }
    return best;
  }

  onWake(listener: (runId: string) => void): () => void {
    this.wakeListeners.add(listener);
    return () => this.wakeListeners.delete(listener);
  }

  onRunsCancelled(listener: (runIds: readonly string[]) => void): () => void {
    this.cancelListeners.add(listener);
    return () => this.cancelListeners.delete(listener);
  }

  /**
   * The cancel cascade (the SQL store's flow_cancel_runs): the runs `abandoned` (children of
   * `parentId` it no longer waits for) and, when the parent has ended FAILED or CANCELLED, all its
   * children, are cancelled with their unfinished descendants. No end goes to a parent's inbox:
   * each parent is cancelled too, or no longer waits.
   */
  private cancelBelow(parentId: string, abandoned: readonly string[], reason: string): void {
    const parent = this.runs.get(parentId);
    const childrenOf = new Map<string, string[]>();
    for (const r of this.runs.values()) {
      if (r.parentRunId === null) continue;
      let list = childrenOf.get(r.parentRunId);
      if (!list) childrenOf.set(r.parentRunId, (list = []));
      list.push(r.runId);
    }
    const ended = parent?.status === 'FAILED' || parent?.status === 'CANCELLED';
    const roots = new Set((childrenOf.get(parentId) ?? []).filter((id) => ended || abandoned.includes(id))); // its children only
    const queue = [...roots].map((runId) => ({ runId, reason }));
    const cancelled: string[] = [];
    const now = this.nowDate();
    for (let next = queue.shift(); next; next = queue.shift()) {
      const row = this.runs.get(next.runId);
      if (!row) continue;
      for (const child of childrenOf.get(row.runId) ?? []) queue.push({ runId: child, reason: `parent run ${row.runId} was cancelled` });
      if (isFinished(row.status)) continue;
      const error = { code: 'CANCELLED', message: next.reason, retryable: false };
      this.markCancelled(row, error, [{ type: 'RUN_CANCELLED', payload: JSON.stringify({ reason: next.reason }) as JsonText }], now);
      for (const [key, w] of this.eventWaits) if (w.runId === row.runId) this.eventWaits.delete(key);
      cancelled.push(row.runId);
    }
    if (cancelled.length > 0) queueMicrotask(() => this.cancelListeners.forEach((listener) => listener(cancelled)));
  }

  /** A live run to CANCELLED, as the SQL stores do it: no live branch is left; the current node still says where it stopped. */
  private markCancelled(row: RunRow, error: ErrorRecord, events: readonly NewEvent[], now: Date): void {
    Object.assign(row, { status: 'CANCELLED', error, branches: '[]', attemptInFlight: false, nextAttemptAt: null, waitReason: null });
    row.parsed.branches = undefined;
    row.version += 1;
    row.updatedAt = now;
    this.appendEvents(row, events, now);
  }

  // ---- Schedules (memory-schedules.ts) ----

  async saveSchedule(schedule: ScheduleWrite, expectedRevision: number | null): Promise<ScheduleRecord | null> {
    return this.schedules.save(schedule, expectedRevision);
  }

  async getSchedule(scheduleId: string): Promise<ScheduleRecord | null> {
    return this.schedules.get(scheduleId);
  }

  async listSchedules(filter: { flowId?: string }): Promise<ScheduleRecord[]> {
    return this.schedules.list(filter);
  }

  async deleteSchedule(scheduleId: string): Promise<boolean> {
    return this.schedules.delete(scheduleId);
  }

  async claimDueSchedules(query: { limit: number; leaseMs: number }): Promise<ScheduleClaim> {
    return this.schedules.claim(query);
  }

  async fireSchedule(step: ScheduleStep): Promise<ScheduleStepResult | null> {
    return this.schedules.fire(step);
  }

  async msUntilNextSchedule(): Promise<number | null> {
    return this.schedules.msUntilNext();
  }

  // ---- used by MemoryLease ----

  // ---- Versions, migration and re-runs (the SQL store: statements/rewrite-run.ts, fork-run.ts, count-live-runs.ts) ----

  async rewriteRun(runId: string, r: RunRewrite): Promise<FlowRunRecord | null> {
    const row = this.runs.get(runId);
    if (!row || row.version !== r.expectedVersion) return null;
    row.flowVersion = r.flowVersion;
    row.status = r.status;
    row.currentNodeId = r.currentNodeId;
    row.branches = r.branches;
    row.state = r.state;
    row.attempts = r.attempts;
    row.parsed = {};
    row.attempt = r.attempt;
    row.attemptInFlight = r.attemptInFlight;
    row.recoveries = r.recoveries;
    row.nextAttemptAt = r.nextAttemptAt ? new Date(r.nextAttemptAt) : null;
    row.waitReason = r.waitReason;
    row.error = r.error ? { ...r.error } : null;
    row.compensation = r.compensation;
    row.compensated = r.compensated;
    row.version += 1;
    row.updatedAt = this.nowDate();
    this.appendEvents(row, r.events, row.updatedAt);
    queueMicrotask(() => this.wake(runId));
    return this.record(row);
  }

  async forkRun(fork: NewFork): Promise<FlowRunRecord> {
    const source = this.runs.get(fork.forkedFrom.runId);
    // Inserted and given its outputs in one synchronous stretch: no one sees the fork without them.
    const { row } = this.insertRun({ ...fork, idempotencyKey: null });
    row.forkedFrom = { ...fork.forkedFrom };
    row.outcome = fork.outcome;
    for (const nodeId of fork.copyOutputs) {
      const text = source?.outputs.get(nodeId);
      if (text !== undefined) row.outputs.set(nodeId, text);
    }
    return this.record(row);
  }

  async countLiveRuns(): Promise<LiveRunCount[]> {
    const counts = new Map<string, LiveRunCount>();
    for (const row of this.runs.values()) {
      if (isFinished(row.status)) continue;
      const key = flowKey(row.flowId, row.flowVersion);
      let c = counts.get(key);
      if (!c) counts.set(key, (c = { flowId: row.flowId, version: row.flowVersion, unfinished: 0 }));
      c.unfinished += 1;
    }
    return [...counts.values()].sort((a, b) =>
      a.flowId < b.flowId ? -1 : a.flowId > b.flowId ? 1 : a.version < b.version ? -1 : a.version > b.version ? 1 : 0,
    );
  }

  /** @internal */
  answeredWaits(runId: string): ReadonlyArray<{ branchId: string | null; waitId: number | null }> {
    return this.inbox.get(runId) ?? [];
  }

  /** @internal */
  commitTransition(runId: string, t: Transition): FlowRunRecord {
    const row = this.runs.get(runId);
    if (!row || row.version !== t.expectedVersion) throw new StaleRunError(runId, t.expectedVersion);
    const now = this.nowDate();
    const u = t.update;
    const wasLive = row.status === 'RUNNING' || row.status === 'WAITING';
    row.status = u.status;
    row.currentNodeId = u.currentNodeId;
    if (u.state !== undefined) {
      row.state = u.state;
      row.parsed.state = undefined;
    }
    if (u.branches !== undefined) {
      row.branches = u.branches;
      row.parsed.branches = undefined;
    }
    if (u.compensation !== undefined) row.compensation = u.compensation;
    if (u.compensated !== undefined) row.compensated = u.compensated;
    for (const nodeId of t.clearMaps ?? []) {
      row.mapItems.delete(nodeId);
      row.itemOutputs.delete(nodeId);
    }
    for (const v of t.values ?? []) {
      if (v.kind === 'output') {
        row.outputs.set(v.nodeId, v.value);
        // The lease's parsed outputs are shared with earlier records: replace, never mutate.
        if (row.parsed.outputs) row.parsed.outputs = { ...(row.parsed.outputs as Record<string, unknown>), [v.nodeId]: JSON.parse(v.value) };
      } else if (v.kind === 'items') {
        row.mapItems.set(v.nodeId, v.value);
      } else {
        let items = row.itemOutputs.get(v.nodeId);
        if (!items) row.itemOutputs.set(v.nodeId, (items = new Map()));
        items.set(v.itemIndex ?? 0, v.value);
      }
    }
    if (u.attempts !== undefined) {
      row.attempts = u.attempts;
      row.parsed.attempts = undefined;
    }
    row.attempt = u.attempt;
    row.attemptInFlight = u.attemptInFlight;
    row.recoveries = u.recoveries;
    row.nextAttemptAt = this.resolveDue(u.nextAttemptAt);
    row.waitReason = u.waitReason;
    row.error = u.error ? { ...u.error } : null;
    if (u.outcome !== undefined) row.outcome = u.outcome;
    row.version += 1;
    row.updatedAt = now;
    this.appendEvents(row, t.events, now);
    // The failure handler is created with the commit that ends the run FAILED, and only then.
    if (t.failureHandler && row.status === 'FAILED' && wasLive) row.failureHandlerRunId = this.insertRun(t.failureHandler).row.runId;
    this.applyInboxAndWaits(row, t, wasLive);
    if (t.idempotency && !this.idempotency.has(t.idempotency.key)) {
      const { key, runId: rid, nodeId, result } = t.idempotency;
      this.idempotency.set(key, { runId: rid, nodeId, result, createdAt: now });
    }
    if (t.wake) queueMicrotask(() => this.wake(runId));
    return this.record(row, true);
  }

  private applyInboxAndWaits(row: RunRow, t: Transition, wasLive: boolean): void {
    const runId = row.runId;
    if (t.consumeInbox?.length) {
      const consumed = new Set(t.consumeInbox);
      const left = (this.inbox.get(runId) ?? []).filter((e) => !consumed.has(e.id));
      this.inbox.set(runId, left);
      row.hasInbox = left.length > 0;
    }
    for (const w of t.endWaits ?? []) this.eventWaits.delete(`${runId}\u0000${w.branchId}\u0000${w.waitId}`);
    for (const eventId of t.receipts ?? []) this.receipts.add(`${runId}\u0000${eventId}`);
    const live = row.status === 'RUNNING' || row.status === 'WAITING';
    // A commit that ends the run registers no wait (the SQL store's rule too).
    for (const w of live ? (t.addWaits ?? []) : []) {
      this.eventWaits.set(`${runId}\u0000${w.branchId}\u0000${w.waitId}`, { runId, ...w });
      // An event sent since the run was created, not yet received by it, answers the wait at once.
      const sent = [...this.sentEvents.values()].find(
        (e) => e.name === w.name && (w.key === null || e.key === w.key) && e.sentAt >= row.createdAt && !this.receipts.has(`${runId}\u0000${e.eventId}`),
      );
      if (sent) this.putInInbox({ runId, kind: 'event', waitId: w.waitId, branchId: w.branchId, payload: null, eventId: sent.eventId });
    }
    if (!live && wasLive) this.runEnded(row);
    if (t.cancelChildren?.length || row.status === 'FAILED' || row.status === 'CANCELLED') {
      const why = row.status === 'FAILED' ? 'failed' : row.status === 'CANCELLED' ? 'was cancelled' : 'no longer waits for it';
      this.cancelBelow(runId, t.cancelChildren ?? [], `parent run ${runId} ${why}`);
    }
  }

  /** @internal */
  readRun(runId: string): FlowRunRecord | null {
    const row = this.runs.get(runId);
    return row ? this.record(row, true) : null;
  }

  private wake(runId: string): void {
    for (const listener of this.wakeListeners) listener(runId);
  }

  private resolveDue(due: DueAt): Date | null {
    if (due === null) return null;
    return 'at' in due ? new Date(due.at.getTime()) : new Date(this.clock.now() + due.delayMs);
  }

  private appendEvents(row: RunRow, events: readonly NewEvent[], at: Date): void {
    let list = this.events.get(row.runId);
    if (!list) this.events.set(row.runId, (list = []));
    for (const e of events) {
      row.lastSeq += 1;
      list.push({
        runId: row.runId,
        seq: row.lastSeq,
        at,
        type: e.type,
        nodeId: e.nodeId ?? null,
        branchId: e.branchId ?? null,
        itemIndex: e.itemIndex ?? null,
        attempt: e.attempt ?? null,
        durationMs: e.durationMs ?? null,
        error: e.error ? { ...e.error } : null,
        payload: e.payload ?? null,
      });
    }
  }

  private nowDate(): Date {
    return new Date(this.clock.now());
  }

  // ---- Operations (memory-operations.ts) ----

  private workerRows?: MemoryWorkers;
  private get workers(): MemoryWorkers {
    return (this.workerRows ??= new MemoryWorkers(this.clock));
  }

  async countRuns(): Promise<RunCount[]> {
    return countRunsOf(this.runs.values());
  }

  async countDueRuns(): Promise<DueRunCount[]> {
    return countDueRunsOf(this.runs.values(), this.clock.now(), (runId) => this.inbox.get(runId)?.[0]?.createdAt.getTime() ?? null);
  }

  async recordWorker(worker: WorkerBeat): Promise<void> {
    this.workers.record(worker);
  }

  async removeWorker(workerId: string): Promise<void> {
    this.workers.remove(workerId);
  }

  async listWorkers(): Promise<WorkerRecord[]> {
    return this.workers.list();
  }

  private record(row: RunRow, shared = false): FlowRunRecord {
    return recordOf(row, this.clock.now(), shared);
  }

  private toDefinition(d: DefinitionRecord & { graphText: JsonText }): DefinitionRecord {
    return { flowId: d.flowId, version: d.version, fingerprint: d.fingerprint, graph: JSON.parse(d.graphText), createdAt: d.createdAt };
  }
}

/** An event as an inbox entry's payload. */
function eventEntry(e: NewFlowEvent): JsonText {
  return `{"eventId":${JSON.stringify(e.eventId)},"name":${JSON.stringify(e.name)},"key":${JSON.stringify(e.key)},"payload":${e.payload}}` as JsonText;
}

export function createMemoryStorage(options: MemoryStorageOptions = {}): MemoryStorage {
  return new MemoryStorage(options);
}
