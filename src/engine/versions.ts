/**
 * Versions in operation: moving unfinished runs to another version of their flow (`migrateRuns`),
 * a FAILED or CANCELLED run back to RUNNING (`retryRun`, `retryRuns`), a new run forked from
 * another at one of its nodes (`forkRun`), and what each version leaves unfinished or stranded.
 *
 * Migration and retry are transitions of the run like any step: written by the run's holder —
 * this code takes the run's lock as `tick` does, and never writes a run someone else holds — fenced
 * by the run's version, recorded in its timeline (`RUN_MIGRATED`, `RUN_RETRIED`). A run held by a
 * worker is not waited for long: `migrateRuns` reports it blocked ("held by a worker, try again"),
 * and the next call moves it once it is let go (a worker lets go at a wait, an end, or after
 * `maxStepsPerClaim` steps). A fork is a new run (`RUN_FORKED`); its source is only read.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { FlowNotFoundError, InvalidArgumentError, InvalidRunStateError, LockBusyError, RunNotFoundError } from '../errors.js';
import { serializeJson, type JsonText } from '../core/json.js';
import { isFinished, isLiveBranch, mapOf, type BranchRecord, type CompensationLog, type FlowRunStatus } from '../core/states.js';
import { flowControlOf } from '../definitions/flow-control.js';
import { flowKey } from '../definitions/flow-key.js';
import type { FlowDefinition } from '../definitions/types.js';
import type { DueRunCount, FlowEventRecord, FlowRunRecord, FlowStorage, NewEvent, RunLease } from '../storage/types.js';
import { deepMerge, isPlainObject } from './merge.js';
import type { DefinitionRegistry } from './registry.js';
import { assertNoReservedStateKeys } from './reserved-keys.js';

/** What these operations need of the engine: its store, its registered flows, the JSON size limit, and the hook a new run fires. */
export interface VersionsEnv {
  readonly storage: FlowStorage;
  readonly registry: DefinitionRegistry;
  readonly maxJsonBytes: number;
  readonly hooks: { runStarted(run: FlowRunRecord): void };
}

export interface MigrateRunsOptions {
  flowId: string;
  /** The version the runs are on. */
  fromVersion: string;
  /** The version they move to: registered in this process. */
  toVersion: string;
  /** Old node id → new node id, for nodes renamed (or replaced) in `toVersion`; a node not named keeps its id. */
  nodeMap?: Record<string, string>;
  /** Only these runs (each must exist); default: every unfinished run of `flowId@fromVersion`. */
  runIds?: string[];
  /** Decide, change nothing: the same answer, nothing written (default false). */
  dryRun?: boolean;
}

export interface MigrateRunsResult {
  migrated: string[];
  /** Runs left as they were, each with why (a reason a person can act on). */
  blocked: Array<{ runId: string; reason: string }>;
}

export interface RetryRunOptions {
  /** Go back to this node instead of the node(s) that failed (or were cancelled). */
  fromNodeId?: string;
  /** Deep-merged into the run's state before it goes on. */
  statePatch?: Record<string, unknown>;
}

export interface RetryRunsFilter {
  flowId?: string;
  /** Only runs of this version (with `flowId`). */
  version?: string;
  /** FAILED, CANCELLED or both (default FAILED). */
  status?: 'FAILED' | 'CANCELLED' | Array<'FAILED' | 'CANCELLED'>;
  /** Only runs that failed (or were cancelled) at this node. */
  nodeId?: string;
  /** Only runs that ended at or after this time (a number: that many milliseconds ago). */
  since?: Date | number;
}

export interface ForkRunOptions {
  /** The node the fork runs on from: one the source run has started. */
  fromNodeId: string;
  /** Deep-merged into the fork's state. */
  statePatch?: Record<string, unknown>;
  /** Run the fork on this version of the flow (registered here; default the source's). */
  version?: string;
}

/** How long a migration or retry waits for a run's holder to let go before it gives up on it. */
const HOLDER_WAIT_MS = 1000;
const HOLDER_POLL_MS = 20;
/** Runs `retryRuns` reads per page (each page's runs are retried one by one). */
const RETRY_BATCH = 100;
export const HELD_BY_A_WORKER = 'held by a worker, try again';

// ---- migration -------------------------------------------------------------------------

export async function migrateRuns(env: VersionsEnv, options: MigrateRunsOptions): Promise<MigrateRunsResult> {
  if (!isPlainObject(options)) throw new InvalidArgumentError('migrateRuns: expected { flowId, fromVersion, toVersion, nodeMap?, runIds?, dryRun? }');
  knownKeys('migrateRuns', options, ['flowId', 'fromVersion', 'toVersion', 'nodeMap', 'runIds', 'dryRun']);
  const { flowId, fromVersion, toVersion } = options;
  for (const [name, value] of Object.entries({ flowId, fromVersion, toVersion })) nonEmpty('migrateRuns', name, value);
  if (fromVersion === toVersion) throw new InvalidArgumentError(`migrateRuns: fromVersion and toVersion are both "${fromVersion}"; name two versions`);
  if (options.dryRun !== undefined && typeof options.dryRun !== 'boolean') throw new InvalidArgumentError('migrateRuns: dryRun must be a boolean');
  const target = env.registry.require(flowId, toVersion);
  const oldNodes = await storedNodeIds(env, flowId, fromVersion);
  const nodeMap = checkedNodeMap(options.nodeMap, oldNodes, target, fromVersion, toVersion);

  let runIds: string[];
  if (options.runIds !== undefined) {
    if (!Array.isArray(options.runIds)) throw new InvalidArgumentError('migrateRuns: runIds must be an array of run ids');
    options.runIds.forEach((id) => nonEmpty('migrateRuns', 'runIds[]', id));
    runIds = [...new Set(options.runIds)];
    // Every run named must exist before any is touched: a typo loses nothing.
    for (const runId of runIds) if (!(await env.storage.getRun(runId))) throw new RunNotFoundError(runId);
  } else {
    runIds = await liveRunIds(env.storage, flowId, fromVersion);
  }

  const plan = { flowId, fromVersion, toVersion, target, nodeMap };
  const outcome = new Map<string, string | null>();
  if (options.dryRun) {
    for (const runId of runIds) outcome.set(runId, blockReason(await env.storage.getRun(runId), plan));
  } else {
    // Every run once; then the runs a holder had, again, until they are let go or the wait is over
    // (one wait for all of them, however many there are).
    let held: string[] = [];
    for (const runId of runIds) {
      const reason = await migrateOne(env, runId, plan);
      if (reason === HELD_BY_A_WORKER) held.push(runId);
      outcome.set(runId, reason);
    }
    const deadline = Date.now() + HOLDER_WAIT_MS;
    while (held.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, HOLDER_POLL_MS));
      const still: string[] = [];
      for (const runId of held) {
        const reason = await migrateOne(env, runId, plan);
        if (reason === HELD_BY_A_WORKER) still.push(runId);
        outcome.set(runId, reason);
      }
      held = still;
    }
  }
  const result: MigrateRunsResult = { migrated: [], blocked: [] };
  for (const [runId, reason] of outcome) {
    if (reason === null) result.migrated.push(runId);
    else result.blocked.push({ runId, reason });
  }
  return result;
}

interface MigrationPlan {
  flowId: string;
  fromVersion: string;
  toVersion: string;
  target: FlowDefinition;
  nodeMap: Record<string, string>;
}

/** Moves one run under its lock, if no one holds it; returns why it was not moved, or null. */
async function migrateOne(env: VersionsEnv, runId: string, plan: MigrationPlan): Promise<string | null> {
  const lease = await env.storage.lockRun(runId);
  if (!lease) return HELD_BY_A_WORKER;
  try {
    const run = lease.run;
    const reason = blockReason(run, plan);
    if (reason !== null || !run) return reason;
    const to = (id: string) => plan.nodeMap[id] ?? id;
    const branches = run.branches.map((b) => ({ ...b, nodeId: to(b.nodeId) }));
    const attempts: Record<string, number> = {};
    for (const [nodeId, n] of Object.entries(run.attemptsJson)) attempts[to(nodeId)] = (attempts[to(nodeId)] ?? 0) + n;
    const compensation: CompensationLog | null = run.compensation
      ? { ...run.compensation, finished: run.compensation.finished.map((t) => ({ ...t, nodeId: to(t.nodeId) })) }
      : null;
    const event: NewEvent = {
      type: 'RUN_MIGRATED',
      nodeId: null,
      payload: json({ fromVersion: plan.fromVersion, toVersion: plan.toVersion, nodeMap: plan.nodeMap }),
    };
    const moved = await env.storage.rewriteRun(runId, {
      expectedVersion: run.version,
      flowVersion: plan.toVersion,
      status: run.status as 'RUNNING' | 'WAITING',
      currentNodeId: run.currentNodeId === null ? null : to(run.currentNodeId),
      branches: json(branches),
      state: json(run.stateJson),
      attempts: json(attempts),
      attempt: run.attempt,
      attemptInFlight: run.attemptInFlight,
      recoveries: run.recoveries,
      nextAttemptAt: run.nextAttemptAt,
      waitReason: run.waitReason,
      error: run.error,
      compensation: compensation ? json(compensation) : null,
      compensated: run.compensated,
      events: [event],
    });
    return moved ? null : 'it changed while being migrated, try again';
  } finally {
    await lease.release();
  }
}

/**
 * Why `run` cannot move to `plan.target` (null: it can). Every live branch's node, after the node
 * map, must exist there, and what it is in the middle of must mean the same: a map in progress
 * stays at a `forEach` node of the same id (its items are stored under it), a branch arrived at a
 * join stays at a `join: 'all'` node; what the run finished must still be undoable there.
 */
export function blockReason(run: FlowRunRecord | null, plan: MigrationPlan): string | null {
  if (!run) return 'it no longer exists';
  const newKey = flowKey(plan.flowId, plan.toVersion);
  if (run.flowId !== plan.flowId || run.flowVersion !== plan.fromVersion) {
    return `it runs ${flowKey(run.flowId, run.flowVersion)}, not ${flowKey(plan.flowId, plan.fromVersion)}`;
  }
  if (isFinished(run.status)) return `it is ${run.status}: only RUNNING and WAITING runs move`;
  if (run.compensation?.phase) return 'it is undoing what it did (compensation in progress): let it finish';
  for (const b of run.branches.filter(isLiveBranch)) {
    const to = plan.nodeMap[b.nodeId] ?? b.nodeId;
    const node = plan.target.nodes[to];
    const where = `branch ${b.branchId} is at node "${b.nodeId}"`;
    if (!node) return `${where}, which ${newKey} does not have: map it to a node of ${newKey} with nodeMap`;
    if (mapOf(b)) {
      if (typeof node.forEach !== 'function') return `${where}, in the middle of a forEach map, and "${to}" is not a forEach node in ${newKey}`;
      if (to !== b.nodeId) return `${where}, in the middle of a forEach map, whose node cannot be renamed (to "${to}") before the map ends`;
    }
    if (b.status === 'JOINING' && node.join !== 'all') return `${where}, waiting at a join, and "${to}" is not a join: 'all' node in ${newKey}`;
  }
  for (const t of run.compensation?.finished ?? []) {
    const to = plan.nodeMap[t.nodeId] ?? t.nodeId;
    const node = plan.target.nodes[to];
    if (!t.childOnly && typeof node?.compensate !== 'function') {
      return `node "${t.nodeId}" finished and can be undone, but ${newKey} has no compensate handler at "${to}"`;
    }
  }
  return null;
}

function checkedNodeMap(
  nodeMap: unknown,
  oldNodes: ReadonlySet<string> | null,
  target: FlowDefinition,
  fromVersion: string,
  toVersion: string,
): Record<string, string> {
  if (nodeMap === undefined) return {};
  if (!isPlainObject(nodeMap)) throw new InvalidArgumentError('migrateRuns: nodeMap must be an object of old node id → new node id');
  const checked: Record<string, string> = {};
  for (const [from, to] of Object.entries(nodeMap)) {
    if (oldNodes && !oldNodes.has(from)) {
      throw new InvalidArgumentError(`migrateRuns: nodeMap names node "${from}", which ${flowKey(target.flowId, fromVersion)} does not have`);
    }
    if (typeof to !== 'string' || !Object.hasOwn(target.nodes, to)) {
      throw new InvalidArgumentError(
        `migrateRuns: nodeMap maps "${from}" to ${JSON.stringify(to)}, which is not a node of ${flowKey(target.flowId, toVersion)}`,
      );
    }
    checked[from] = to;
  }
  return checked;
}

/** The node ids of a version's graph as the store keeps it (its code may be gone); the flow must be known to the store. */
async function storedNodeIds(env: VersionsEnv, flowId: string, version: string): Promise<ReadonlySet<string>> {
  const registered = env.registry.get(flowId, version);
  if (registered) return new Set(Object.keys(registered.nodes));
  const stored = (await env.storage.listDefinitions()).find((d) => d.flowId === flowId && d.version === version);
  if (!stored) throw new FlowNotFoundError(flowId, version);
  const nodes = (stored.graph as { nodes?: Array<{ id?: unknown }> }).nodes ?? [];
  return new Set(nodes.map((n) => String(n.id)));
}

async function liveRunIds(storage: FlowStorage, flowId: string, flowVersion: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.listRuns({ flowId, flowVersion, status: ['RUNNING', 'WAITING'], limit: 1000, cursor, summary: true });
    ids.push(...page.runs.map((r) => r.runId));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return ids;
}

// ---- retry -----------------------------------------------------------------------------

const RETRYABLE: readonly FlowRunStatus[] = ['FAILED', 'CANCELLED'];

export async function retryRun(env: VersionsEnv, runId: string, options: RetryRunOptions = {}): Promise<FlowRunRecord> {
  nonEmpty('retryRun', 'runId', runId);
  if (!isPlainObject(options)) throw new InvalidArgumentError('retryRun: options must be an object like { fromNodeId?, statePatch? }');
  knownKeys('retryRun', options, ['fromNodeId', 'statePatch']);
  const patch = checkedPatch('retryRun', options.statePatch);
  const before = await env.storage.getRun(runId);
  if (!before) throw new RunNotFoundError(runId);
  if (!RETRYABLE.includes(before.status)) throw new InvalidRunStateError(runId, before.status, 'retry', 'FAILED or CANCELLED');
  const def = env.registry.require(before.flowId, before.flowVersion);
  if (options.fromNodeId !== undefined) checkedNode('retryRun', 'fromNodeId', options.fromNodeId, def);

  const lease = await lockWithin(env.storage, runId, HOLDER_WAIT_MS);
  if (!lease) {
    const now = await env.storage.getRun(runId);
    // Another retry (or migration) holds it: once it lets go, the run is no longer FAILED or CANCELLED.
    if (now && !RETRYABLE.includes(now.status)) throw new InvalidRunStateError(runId, now.status, 'retry', 'FAILED or CANCELLED');
    throw new LockBusyError(runId);
  }
  try {
    const run = lease.run;
    if (!run) throw new RunNotFoundError(runId);
    // Of concurrent retries of one run, the first to hold it wins; the others find it RUNNING here.
    if (!RETRYABLE.includes(run.status)) throw new InvalidRunStateError(runId, run.status, 'retry', 'FAILED or CANCELLED');
    // Read under the lock: the timeline as the run ended, with no retry of someone else's since.
    const events = await env.storage.getEvents(runId);
    const branches = retriedBranches(run, def, events, options.fromNodeId as string | undefined);
    const state = patch ? deepMerge(run.stateJson, patch) : run.stateJson;
    const undone = run.compensated !== null;
    const event: NewEvent = {
      type: 'RUN_RETRIED',
      nodeId: branches[0]!.nodeId,
      payload: json({
        status: run.status,
        fromNodeIds: branches.map((b) => b.nodeId),
        ...(undone ? { startedOver: true } : {}),
        ...(patch ? { statePatch: patch } : {}),
      }),
    };
    const retried = await env.storage.rewriteRun(runId, {
      expectedVersion: run.version,
      flowVersion: run.flowVersion,
      status: 'RUNNING',
      currentNodeId: branches[0]!.nodeId,
      branches: json(branches),
      state: serializeJson(state, { what: 'state', maxBytes: env.maxJsonBytes }),
      attempts: json(run.attemptsJson),
      attempt: 0,
      attemptInFlight: false,
      recoveries: 0,
      nextAttemptAt: null,
      waitReason: null,
      error: null,
      // What was undone is forgotten with the undo; what was not stays undoable if the run fails again.
      compensation: !undone && run.compensation ? json({ finished: run.compensation.finished, phase: null }) : null,
      compensated: null,
      events: [event],
    });
    if (!retried) throw new InvalidRunStateError(runId, run.status, 'retry', 'a run that does not change meanwhile');
    return retried;
  } finally {
    await lease.release();
  }
}

/**
 * Where a retried run goes on: at `fromNodeId` if given; at the entry node when its compensation
 * ran (what it did was undone: it starts over); else at the node(s) it stopped at — the branch
 * that failed, and the branches its failure (or a cancel with compensation) aborted, read from the
 * timeline since its last retry; for a plain cancel, the node it was at. Attempts start from 1.
 */
function retriedBranches(run: FlowRunRecord, def: FlowDefinition, events: FlowEventRecord[], fromNodeId: string | undefined): BranchRecord[] {
  const fresh = (nodeId: string, branchId = `b${run.lastSeq + 1}`): BranchRecord => ({ branchId, nodeId, status: 'READY', attempt: 0, recoveries: 0 });
  if (fromNodeId !== undefined) return [fresh(fromNodeId)];
  if (run.compensated !== null) return [fresh(def.entry)];
  const since = Math.max(0, ...events.filter((e) => e.type === 'RUN_RETRIED').map((e) => e.seq));
  const branches: BranchRecord[] = [];
  const seen = new Set<string>();
  const add = (nodeId: string, branchId: string) => {
    if (seen.has(branchId) || !Object.hasOwn(def.nodes, nodeId)) return;
    seen.add(branchId);
    // A branch that had arrived at a join waits there again; any other runs its node again.
    const joining = def.nodes[nodeId]!.join === 'all';
    branches.push(joining ? { branchId, nodeId, status: 'JOINING', attempt: 0, recoveries: 0 } : fresh(nodeId, branchId));
  };
  for (const b of run.branches) add(b.nodeId, b.branchId);
  for (const e of events) {
    if (e.seq <= since || e.type !== 'BRANCH_ABORTED' || !e.nodeId || !e.branchId) continue;
    const reason = (e.payloadJson as { reason?: string } | null)?.reason;
    if (reason === 'run failed' || reason === 'run cancelled') add(e.nodeId, e.branchId);
  }
  if (branches.length === 0 && run.currentNodeId !== null && Object.hasOwn(def.nodes, run.currentNodeId)) branches.push(fresh(run.currentNodeId));
  if (branches.length === 0) throw new InvalidArgumentError(`retryRun: run ${run.runId} has no node to go back to; pass fromNodeId`);
  // The first branch becomes READY at a join only if every branch is joining: some branch must move.
  if (!branches.some((b) => b.status !== 'JOINING')) branches.splice(0, 1, fresh(branches[0]!.nodeId, branches[0]!.branchId));
  return branches;
}

export async function retryRuns(env: VersionsEnv, filter: RetryRunsFilter = {}): Promise<{ retried: number }> {
  if (!isPlainObject(filter)) throw new InvalidArgumentError('retryRuns: expected { flowId?, version?, status?, nodeId?, since? }');
  knownKeys('retryRuns', filter, ['flowId', 'version', 'status', 'nodeId', 'since']);
  if (filter.flowId !== undefined) nonEmpty('retryRuns', 'flowId', filter.flowId);
  if (filter.version !== undefined) nonEmpty('retryRuns', 'version', filter.version);
  if (filter.nodeId !== undefined) nonEmpty('retryRuns', 'nodeId', filter.nodeId);
  if (filter.version !== undefined && filter.flowId === undefined) throw new InvalidArgumentError('retryRuns: version needs flowId');
  const statuses = filter.status === undefined ? ['FAILED' as const] : Array.isArray(filter.status) ? filter.status : [filter.status];
  if (statuses.length === 0 || statuses.some((s) => !RETRYABLE.includes(s)))
    throw new InvalidArgumentError('retryRuns: status must be FAILED, CANCELLED or both');
  const { since } = filter;
  if (
    since !== undefined &&
    !(since instanceof Date && !Number.isNaN(since.getTime())) &&
    !(typeof since === 'number' && Number.isFinite(since) && since >= 0)
  ) {
    throw new InvalidArgumentError('retryRuns: since must be a Date or a number of milliseconds >= 0');
  }
  const sinceMs = since === undefined ? null : since instanceof Date ? since.getTime() : Date.now() - since;
  let retried = 0;
  let cursor: string | undefined;
  do {
    const page = await env.storage.listRuns({
      flowId: filter.flowId,
      flowVersion: filter.version,
      status: statuses,
      limit: RETRY_BATCH,
      cursor,
      summary: true,
    });
    for (const run of page.runs) {
      if (sinceMs !== null && run.updatedAt.getTime() < sinceMs) continue;
      const at = run.branches[0]?.nodeId ?? run.currentNodeId;
      if (filter.nodeId !== undefined && at !== filter.nodeId) continue;
      try {
        await retryRun(env, run.runId);
        retried += 1;
      } catch (err) {
        // Retried or changed by someone else meanwhile, or its flow is not registered here: skipped.
        if (!(err instanceof InvalidRunStateError || err instanceof LockBusyError || err instanceof FlowNotFoundError || err instanceof InvalidArgumentError))
          throw err;
      }
    }
    cursor = page.nextCursor ?? undefined;
    await new Promise((resolve) => setImmediate(resolve));
  } while (cursor);
  return { retried };
}

type State = Record<string, unknown>;

// ---- fork ------------------------------------------------------------------------------

/**
 * A new run that starts where `runId` first started `fromNodeId`: the same input, the outputs of
 * the nodes the source had finished by then, its business outcome as of then, and its state as of
 * then (`stateBefore`) with `statePatch` merged in. Its timeline
 * begins with RUN_FORKED; it has no idempotency key (the source keeps its own), no parent, and
 * nothing to undo of the source's (a compensation never undoes what another run did).
 */
export async function forkRun(env: VersionsEnv, runId: string, options: ForkRunOptions): Promise<{ runId: string }> {
  nonEmpty('forkRun', 'runId', runId);
  if (!isPlainObject(options)) throw new InvalidArgumentError('forkRun: expected { fromNodeId, statePatch?, version? }');
  knownKeys('forkRun', options, ['fromNodeId', 'statePatch', 'version']);
  nonEmpty('forkRun', 'fromNodeId', options.fromNodeId);
  if (options.version !== undefined) nonEmpty('forkRun', 'version', options.version);
  const patch = checkedPatch('forkRun', options.statePatch);
  const source = await env.storage.getRun(runId);
  if (!source) throw new RunNotFoundError(runId);
  const version = options.version ?? source.flowVersion;
  const def = env.registry.require(source.flowId, version);
  const { fromNodeId } = options;
  checkedNode('forkRun', 'fromNodeId', fromNodeId, def);
  const events = await env.storage.getEvents(runId);
  const start = events.find((e) => e.type === 'NODE_STARTED' && e.nodeId === fromNodeId);
  if (!start) throw new InvalidArgumentError(`forkRun: run ${runId} never started node "${fromNodeId}"; fork from a node it reached`);
  const before = events.filter((e) => e.seq < start.seq && e.type === 'NODE_FINISHED' && e.itemIndex === null && e.nodeId !== null);
  const copyOutputs = [...new Set(before.map((e) => e.nodeId!))].filter((id) => id !== fromNodeId);
  const outcomes = before.map((e) => (e.payloadJson as { outcome?: unknown } | null)?.outcome).filter((o): o is string => typeof o === 'string');
  const limits = { maxBytes: env.maxJsonBytes };
  const then = stateBefore(events, start.seq, source.stateJson) ?? source.stateJson;
  const state = patch ? deepMerge(then, patch) : then;
  const forkId = randomUUID();
  const run = await env.storage.forkRun({
    runId: forkId,
    flowId: source.flowId,
    flowVersion: version,
    tenantId: source.tenantId,
    idempotencyKey: null,
    // A re-run of the source's work: its steps' spans belong to the source's trace.
    traceparent: source.traceparent,
    // Its flow's limits hold for it like for any run (keys from its input); its priority is the source's.
    priority: source.priority,
    flowControl: flowControlOf(def, source.inputJson),
    currentNodeId: fromNodeId,
    input: serializeJson(source.inputJson, { what: 'input', ...limits }),
    state: serializeJson(state, { what: 'state', ...limits }),
    branches: json([{ branchId: 'b1', nodeId: fromNodeId, status: 'READY', attempt: 0, recoveries: 0 }]),
    events: [{ type: 'RUN_FORKED', nodeId: fromNodeId, branchId: 'b1', payload: json({ runId, nodeId: fromNodeId, version, outputs: copyOutputs, state }) }],
    forkedFrom: { runId, nodeId: fromNodeId },
    copyOutputs,
    outcome: outcomes.at(-1) ?? null,
  });
  env.hooks.runStarted(run);
  return { runId: forkId };
}

/**
 * The run's state just before the event `seq`, rebuilt from its timeline: the initial state
 * (RUN_STARTED's, or a fork's RUN_FORKED), then every patch in the order it was applied (a node's
 * or a map item's NODE_FINISHED, a RUN_WAITING, a retry's statePatch). The rebuild is trusted only
 * if, carried to the end, it gives the run's `latest` state: a run recorded before patches were in
 * the timeline, or whose state changed otherwise (a compensation's patch), gives undefined, and the
 * caller falls back to the latest state.
 */
export function stateBefore(events: readonly FlowEventRecord[], seq: number, latest: State): State | undefined {
  let state: State = {};
  let before: State | undefined;
  for (const e of events) {
    if (e.seq >= seq) before ??= state;
    const payload = (e.payloadJson ?? {}) as { state?: State; patch?: State; statePatch?: State };
    if (e.type === 'RUN_STARTED' || e.type === 'RUN_FORKED') {
      if (e.type === 'RUN_FORKED' && payload.state === undefined) return undefined;
      state = payload.state ?? {};
    } else if ((e.type === 'NODE_FINISHED' || e.type === 'RUN_WAITING') && payload.patch !== undefined) {
      state = deepMerge(state, payload.patch);
    } else if (e.type === 'RUN_RETRIED' && payload.statePatch !== undefined) {
      state = deepMerge(state, payload.statePatch);
    }
  }
  return isDeepStrictEqual(state, latest) ? (before ?? state) : undefined;
}

// ---- versions in operation ---------------------------------------------------------------

/**
 * Stranded runs per `flowId@version`: the due unfinished runs of a version that no process
 * serves (`served`: the flow keys registered in this process and those served elsewhere). A
 * deploy that stops serving a version leaves these behind: migrate them or serve it again.
 */
export function strandedRuns(due: readonly DueRunCount[], served: ReadonlySet<string>): Map<string, number> {
  const stranded = new Map<string, number>();
  for (const d of due) {
    const key = flowKey(d.flowId, d.flowVersion);
    if (d.due > 0 && !served.has(key)) stranded.set(key, d.due);
  }
  return stranded;
}

// ---- helpers ---------------------------------------------------------------------------

/** The run's lock, waiting up to `ms` for its holder to let go; null if it did not. */
async function lockWithin(storage: FlowStorage, runId: string, ms: number): Promise<RunLease | null> {
  const deadline = Date.now() + ms;
  for (;;) {
    const lease = await storage.lockRun(runId);
    if (lease || Date.now() >= deadline) return lease;
    await new Promise((resolve) => setTimeout(resolve, HOLDER_POLL_MS));
  }
}

function json(value: unknown): JsonText {
  return JSON.stringify(value) as JsonText;
}

function nonEmpty(method: string, name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidArgumentError(`${method}: ${name} must be a non-empty string`);
}

function knownKeys(method: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new InvalidArgumentError(`${method}: unknown option "${key}" (the options are ${known.join(', ')})`);
  }
}

function checkedNode(method: string, name: string, nodeId: unknown, def: FlowDefinition): void {
  nonEmpty(method, name, nodeId);
  if (!Object.hasOwn(def.nodes, nodeId)) {
    throw new InvalidArgumentError(
      `${method}: ${name} "${nodeId}" is not a node of ${flowKey(def.flowId, def.version)} (its nodes: ${Object.keys(def.nodes).join(', ')})`,
    );
  }
}

function checkedPatch(method: string, patch: unknown): Record<string, unknown> | undefined {
  if (patch === undefined) return undefined;
  if (!isPlainObject(patch)) throw new InvalidArgumentError(`${method}: statePatch must be a plain object`);
  assertNoReservedStateKeys(`${method}: statePatch`, patch);
  return patch;
}
