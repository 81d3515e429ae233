/**
 * Driving a locked run: the holder of the run's lease runs its ready branches and map items
 * concurrently and commits each outcome, one at a time, as a fenced transition of the run
 * (transition.ts builds it). Every attempt is begun by a commit before its handler runs — the
 * begin rides on the commit that made the attempt ready whenever there is one — so a holder that
 * dies leaves a durable trace that the next holder turns into NODE_INTERRUPTED.
 *
 * Used by `tick` (one round: everything ready now, once), `resumeRun`, `runToCompletion` and the
 * worker (many). The lease is always released on the way out, whatever happens.
 */
import { FlowError, StaleRunError, WaitAnsweredError, toErrorRecord } from '../errors.js';
import { transactionIsolation, type FlowDefinition, type RetryPolicy } from '../definitions/types.js';
import type { AttemptTransaction, FlowRunRecord, InboxEntry, MapValues, NewEvent, RunLease, Transition } from '../storage/types.js';
import type { Clock } from '../core/clock.js';
import type { AttemptsInFlight } from './in-flight.js';
import { startChildRun, type ChildRunEnv } from './start.js';
import { endsFailed, withFailureHandler } from './failure-handler.js';
import type { RunWakes } from './run-wakes.js';
import { AbandonedAttempt, CancelledAttempt, invokeHandler, type AttemptOutcome } from './attempt.js';
import { buildContext } from './context.js';
import { unstorableTextReason } from '../core/json.js';
import { dueAtOf, isFinished, mapOf } from '../core/states.js';
import { failureUndone } from './compensation.js';
import { mapKey, RunDraft, stateFor, type BegunAttempt, type FinishedAttempt, type MapCache, type TransitionEnv } from './transition.js';
import { conflictFailure, conflictPause, MAX_TRANSACTION_CONFLICTS, runInTransaction } from './transactional.js';

/**
 * What driving a run needs: the store, the definitions, the clock, the attempts in flight and the
 * hooks — objects of this layer and below, never callbacks into the engine's front door.
 */
export interface StepEnv extends TransitionEnv, ChildRunEnv {
  readonly clock: Clock;
  /** Where each attempt's controller is registered, so that `cancelRun` can abort it. */
  readonly inFlight: AttemptsInFlight;
  /** Called when a child run starts, and after each commit with the events it wrote. */
  readonly hooks: { runStarted(run: FlowRunRecord): void; committed(run: FlowRunRecord, events: NewEvent[]): void };
  /** Wake-ups for the runs held here: an answer arrived in a run's inbox. */
  readonly wakes: RunWakes;
}

export interface AdvanceOptions {
  /**
   * Attempts this lease may begin after its first round (the first round begins everything that
   * is ready, so one `tick` moves every ready branch once). `tick` and `resumeRun` pass 1.
   */
  maxSteps: number;
  /** When aborted, begin nothing more: finish the attempts in flight, commit them and stop (a worker's graceful stop). */
  drain?: AbortSignal;
  /** Told of each attempt's controller (a worker's own count of attempts in flight); returns the function that forgets it. */
  trackAttempt?(controller: AbortController): () => void;
}

export interface AdvanceResult {
  run: FlowRunRecord;
  /** Attempts begun by this lease. */
  steps: number;
  /** The commit fence rejected this holder: someone else changed the run (cancel, or a lost lock). */
  stale: boolean;
}

export async function advanceRun(lease: RunLease, def: FlowDefinition, env: StepEnv, options: AdvanceOptions): Promise<AdvanceResult> {
  const driver = new RunDriver(lease, def, env, options);
  try {
    return await driver.drive();
  } finally {
    if (driver.busy) driver.stopAll(new CancelledAttempt());
    driver.stopListening?.();
    // Transactions of outcomes never committed (the holder stopped, failed or turned stale): their writes go.
    await driver.rollBackOpen();
    await lease.release();
  }
}

/**
 * How often a holder whose attempts are in flight looks at the inbox of a run with a branch that
 * waits for an answer: the correctness path when a wake-up is lost (real time, not the engine's
 * clock: it is about notifications, and a test's ManualClock must not be moved by it).
 */
const ANSWER_POLL_MS = 1_000;

interface Running {
  attempt: BegunAttempt;
  controller: AbortController;
}

/** `tx`: a transactional attempt's open transaction, in which its outcome is committed. */
type Completion = { finished: FinishedAttempt; abandoned: boolean; begun: BegunAttempt; tx?: AttemptTransaction };

class RunDriver {
  private run: FlowRunRecord;
  /** The store's clock at the last record, and the engine's clock when it arrived. */
  private anchor = { store: 0, local: 0 };
  private readonly running = new Map<string, Running>();
  private readonly completed: Completion[] = [];
  private wakeUp: (() => void) | null = null;
  private readonly maps = new Map<string, MapCache>();
  /** Child runs whose compensations this run runs, as read (null: gone). */
  private readonly childrenToUndo = new Map<string, FlowRunRecord | null>();
  /** Children being started by attempts of this holder, and whether the last draft left a child's end in the inbox for later. */
  private startingChildren = 0;
  private inboxDeferred = false;
  /** A wake-up for the run, or the poll, says an answer may be in the inbox (the last commit may not know it). */
  private answerMaybe = false;
  /** Unsubscribes from the run's wake-ups (subscribed while attempts run and a branch waits for an answer). */
  stopListening: (() => void) | null = null;
  private steps = 0;
  /** Transactions of attempts still open (handler running, or its outcome not yet committed). */
  private readonly openTransactions = new Set<AttemptTransaction>();
  /** Conflicts (40001, 40P01) each transactional attempt in flight met at its commit, by attempt key. */
  private readonly commitConflicts = new Map<string, number>();

  constructor(
    private readonly lease: RunLease,
    private readonly def: FlowDefinition,
    private readonly env: StepEnv,
    private readonly options: AdvanceOptions,
  ) {
    this.run = lease.run!;
    this.setRun(lease.run!);
  }

  async drive(): Promise<AdvanceResult> {
    if (isFinished(this.run.status)) return this.result(false);
    for (const b of this.run.branches) {
      if (mapOf(b)) this.maps.set(b.branchId, toCache(await this.env.storage.getMapValues(this.run.runId, mapKey(b.branchId, b.nodeId))));
    }
    let first = true;
    for (;;) {
      let finished: FinishedAttempt | undefined;
      let tx: AttemptTransaction | undefined;
      let next: Completion | null = null;
      if (!first) {
        next = await this.nextCompletion();
        if (next?.abandoned) {
          // A stopping worker gave up on its attempts: commit nothing more; the next holder retries them.
          this.stopAll(new AbandonedAttempt());
          throw new AbandonedAttempt();
        }
        if (next) {
          finished = next.finished;
          tx = next.tx;
          this.running.delete(keyOf(finished));
          if (await this.cancelLanded(next)) return this.result(true);
        }
      }
      const step = await this.step(first, finished, tx && next ? { tx, begun: next.begun } : undefined);
      first = false;
      if (step !== 'go on') return this.result(step === 'stale');
    }
  }

  /**
   * One round: a draft over the run as last committed (the attempt that finished, the inbox, due
   * timers, what can begin), committed. A commit refused because an answer came in for a wait it
   * times out is drafted again from the inbox as it now is: the answer applies, not the timeout.
   */
  private async step(
    first: boolean,
    finished: FinishedAttempt | undefined,
    inTx?: { tx: AttemptTransaction; begun: BegunAttempt },
  ): Promise<'go on' | 'done' | 'stale'> {
    for (;;) {
      // While a transaction of PGlite's one session is open, the store runs nothing else: the inbox waits for the next round.
      const inboxMaybe = (this.run.hasInbox || this.answerMaybe) && !(inTx && this.lease.transactions?.exclusive);
      if (inboxMaybe) this.answerMaybe = false;
      const inbox = inboxMaybe ? await this.readInbox() : null;
      const draft = new RunDraft(this.run, this.def, this.env, this.storeNow(), this.maps);
      if (first) draft.recoverInterrupted();
      // The attempt first: a child it started may have ended already, its end waiting in the inbox.
      if (finished) draft.apply(finished);
      if (inbox) draft.applyInbox(inbox.entries, inbox.children, (id) => this.childOnItsWay(id));
      this.inboxDeferred = draft.deferredInbox;
      if (!this.options.drain?.aborted) {
        const limit = first ? Number.POSITIVE_INFINITY : this.options.maxSteps - this.steps;
        if (!draft.failed) {
          draft.wakeDueTimers();
          draft.settleJoins();
          if (limit > 0) draft.beginReady(limit);
        }
        if (limit > 0) draft.beginCompensation(this.childrenToUndo);
      }
      if (draft.needsChild !== null) {
        // The next compensations are a child run's: read it, and draft again with it.
        this.childrenToUndo.set(draft.needsChild, await this.env.storage.getRun(draft.needsChild));
        continue;
      }
      for (const branchId of draft.stopped) this.stopBranch(branchId);
      if (draft.empty) return this.running.size === 0 && this.completed.length === 0 ? 'done' : 'go on';
      const last = draft.begun.length === 0 && this.running.size === 0 && this.completed.length === 0;
      let transition = draft.toTransition(last);
      // The commit that ends the run FAILED starts the flow's failure handler, in the same write.
      if (endsFailed(this.run, transition)) transition = await withFailureHandler(transition, this.run, this.def, this.env);
      try {
        this.setRun(await (inTx ? this.commitInTransaction(inTx.tx, transition) : this.lease.commit(transition)));
      } catch (err) {
        if (inTx && inTx.tx.conflicted(err)) {
          // The transaction lost a race at its commit (rolled back): the attempt runs again in a fresh one.
          this.rerun(inTx.begun, finished!);
          return 'go on';
        }
        if (err instanceof WaitAnsweredError && inTx) {
          // The answer applies, not the timeout; the attempt's transaction cannot wait for the re-read (PGlite's would block it): run it again.
          await inTx.tx.rollback();
          this.openTransactions.delete(inTx.tx);
          const run = await this.lease.reload();
          if (run && run.version === transition.expectedVersion) {
            this.setRun(run);
            this.rerun(inTx.begun, finished!);
            return 'go on';
          }
        } else if (err instanceof WaitAnsweredError) {
          // Nothing was written and the lock is still ours, unless the row moved meanwhile (then stale, below).
          const run = await this.lease.reload();
          if (run && run.version === transition.expectedVersion) {
            this.setRun(run);
            continue;
          }
        } else if (!(err instanceof StaleRunError)) {
          throw err;
        }
        // Someone else moved the run (a cancel, or another holder after this one lost its lock):
        // our transition was discarded; report the run as it now is.
        this.stopAll(new CancelledAttempt());
        this.setRun((await this.lease.reload().catch(() => null)) ?? this.run);
        return 'stale';
      }
      if (inTx) this.commitConflicts.delete(keyOf(inTx.begun));
      this.steps += draft.begun.length;
      this.env.hooks.committed(this.run, transition.events);
      if (transition.failureHandler && this.run.failureHandlerRunId === transition.failureHandler.runId) this.handlerStarted(transition.failureHandler.runId);
      this.afterCommit(draft);
      return transition.release ? 'done' : 'go on';
    }
  }

  /**
   * A transactional attempt stopped by a cancel under way in this process (`AttemptsInFlight.
   * beginCancel`): its failure is not committed; the cancel's write is awaited instead. True when
   * it landed (the run moved on: this holder is done with it); false when there is no such cancel,
   * or it did not land (the outcome is then committed as usual).
   */
  private async cancelLanded(c: Completion): Promise<boolean> {
    const o = c.finished.outcome;
    const cancel = c.tx === undefined && o.kind === 'error' && o.error.code === 'CANCELLED' ? this.env.inFlight.cancelling(this.run.runId) : undefined;
    if (!cancel) return false;
    await cancel;
    const run = await this.lease.reload();
    if (!run || run.version === this.run.version) return false;
    this.stopAll(new CancelledAttempt());
    this.setRun(run);
    return true;
  }

  /** Commits in the attempt's transaction (it ends there, committed or rolled back, unless refused for an answer). */
  private async commitInTransaction(tx: AttemptTransaction, transition: Transition): Promise<FlowRunRecord> {
    try {
      return await tx.commit(transition);
    } finally {
      this.openTransactions.delete(tx);
    }
  }

  /**
   * A transactional attempt whose commit lost a race (rolled back): it runs again, in a fresh
   * transaction, as the same attempt — not a failed one — up to `MAX_TRANSACTION_CONFLICTS`.
   */
  private rerun(begun: BegunAttempt, finished: FinishedAttempt): void {
    const key = keyOf(begun);
    const conflicts = (this.commitConflicts.get(key) ?? 0) + 1;
    this.commitConflicts.set(key, conflicts);
    if (conflicts > MAX_TRANSACTION_CONFLICTS) {
      // Given up: the attempt fails (retryable), committed the ordinary way at the next round.
      this.commitConflicts.delete(key);
      this.running.set(key, { attempt: begun, controller: new AbortController() });
      this.completed.push({ finished: { ...finished, outcome: conflictFailure(begun.nodeId, conflicts) }, abandoned: false, begun });
      return;
    }
    // In flight meanwhile (a holder with nothing running would end), and stoppable like any attempt.
    this.running.set(key, { attempt: begun, controller: new AbortController() });
    void conflictPause(conflicts).then(() => {
      if (this.running.has(key)) this.launch(begun);
    });
  }

  /** Rolls back every transaction still open (the holder is leaving without committing their outcomes). */
  async rollBackOpen(): Promise<void> {
    const open = [...this.openTransactions];
    this.openTransactions.clear();
    for (const c of this.completed) if (c.tx) open.push(c.tx);
    await Promise.all(open.map((tx) => tx.rollback().catch(() => undefined)));
  }

  /** The failure handler this holder's commit created: its `run:started` hook (a notification: a failed read skips it). */
  private handlerStarted(runId: string): void {
    void this.env.storage.getRun(runId).then(
      (run) => run && this.env.hooks.runStarted(run),
      () => undefined,
    );
  }

  /** The run's inbox, with the child runs whose ends it holds. */
  private async readInbox(): Promise<{ entries: InboxEntry[]; children: Map<string, FlowRunRecord> }> {
    const entries = await this.env.storage.getInbox(this.run.runId);
    const children = new Map<string, FlowRunRecord>();
    for (const e of entries) {
      if (e.kind !== 'child') continue;
      const { childRunId } = e.payload as { childRunId: string };
      const child = await this.env.storage.getRun(childRunId);
      if (child) children.set(childRunId, child);
    }
    return { entries, children };
  }

  /** Attempts are in flight. */
  get busy(): boolean {
    return this.running.size > 0;
  }

  /** Stops every attempt in flight: their outcomes are never committed by this holder. */
  stopAll(reason: Error): void {
    for (const r of this.running.values()) r.controller.abort(reason);
    this.running.clear();
  }

  private result(stale: boolean): AdvanceResult {
    return { run: this.run, steps: this.steps, stale };
  }

  private setRun(run: FlowRunRecord): void {
    this.run = run;
    this.anchor = { store: run.readAt.getTime(), local: this.env.clock.now() };
  }

  /** The store's clock now, reckoned from the newest record (see branches.ts). */
  private storeNow(): number {
    return this.anchor.store + (this.env.clock.now() - this.anchor.local);
  }

  private afterCommit(draft: RunDraft): void {
    for (const m of draft.mapsStarted) this.maps.set(m.branchId, { items: m.items, outputs: new Map() });
    for (const o of draft.itemOutputs) this.maps.get(o.branchId)?.outputs.set(o.index, o.value);
    for (const branchId of this.maps.keys()) {
      if (!this.run.branches.some((b) => b.branchId === branchId && mapOf(b))) this.maps.delete(branchId);
    }
    for (const begun of draft.begun) this.launch(begun);
  }

  private stopBranch(branchId: string): void {
    for (const [key, r] of this.running) {
      if (r.attempt.branchId !== branchId || r.attempt.compensation) continue;
      r.controller.abort(new CancelledAttempt());
      this.running.delete(key);
    }
  }

  /** The next finished attempt; null when a due time passed first (so that it can begin), or an answer may have come. */
  private async nextCompletion(): Promise<Completion | null> {
    // An outcome whose transaction is open first: it holds a connection (on PGlite, the database).
    const inTx = this.completed.findIndex((c) => c.tx !== undefined);
    if (inTx >= 0) return this.completed.splice(inTx, 1)[0]!;
    // PGlite runs one transaction at a time and nothing else meanwhile: while an attempt of this
    // holder may hold one, the holder sends nothing (it would wait for itself), so it waits for
    // that attempt's outcome, and what else came (other outcomes, answers, timers) waits for it.
    if (this.lease.transactions?.exclusive && this.transactionalRunning()) {
      await new Promise<void>((resolve) => (this.wakeUp = resolve));
      this.wakeUp = null;
      return this.nextCompletion();
    }
    // Answers arrived (the last commit saw them, or a wake-up said so): apply them now rather than after the next attempt.
    if (this.completed.length === 0 && ((this.run.hasInbox && !this.inboxDeferred) || this.answerMaybe)) return null;
    if (this.completed.length === 0) {
      const dueInMs = this.options.drain?.aborted ? null : this.msUntilNextDue();
      const woken = new Promise<void>((resolve) => (this.wakeUp = resolve));
      // An answer for a waiting branch must not wait for the other branches' attempts: a wake-up
      // for the run ends this wait, and so does the poll, as a wake-up can be lost.
      let poll: ReturnType<typeof setTimeout> | undefined;
      if (this.running.size > 0 && this.awaitsAnswer()) {
        this.stopListening ??= this.env.wakes.listen(this.run.runId, () => this.answerArrived());
        poll = setTimeout(() => this.answerArrived(), ANSWER_POLL_MS);
      }
      if (dueInMs === null) {
        await woken;
      } else {
        // The sleep is cut short once woken (an abort makes an exception object: only when there is a sleep).
        const timer = new AbortController();
        await Promise.race([woken, this.env.clock.sleep(dueInMs, timer.signal).catch(() => undefined)]);
        timer.abort();
      }
      clearTimeout(poll);
      this.wakeUp = null;
    }
    return this.completed.shift() ?? null;
  }

  /** An attempt of a transactional node is in flight (its transaction open, or about to be). */
  private transactionalRunning(): boolean {
    const done = new Set(this.completed.map((c) => keyOf(c.begun)));
    for (const [key, r] of this.running) {
      if (!done.has(key) && !r.attempt.compensation && transactionIsolation(this.def.nodes[r.attempt.nodeId] ?? {}) !== null) return true;
    }
    return false;
  }

  private answerArrived(): void {
    this.answerMaybe = true;
    this.wakeUp?.();
  }

  /** A branch or map item waits for an answer (a resume, an event, a child's end). */
  private awaitsAnswer(): boolean {
    return this.run.branches.some((b) => b.status === 'WAITING' || mapOf(b)?.items.some((i) => i.status === 'WAITING'));
  }

  /** Milliseconds until the earliest future due time among branches and items (null if none). */
  private msUntilNextDue(): number | null {
    let best: number | null = null;
    const consider = (dueAt: string | null) => {
      if (dueAt === null) return;
      const ms = Math.max(0, Date.parse(dueAt) - this.storeNow());
      if (best === null || ms < best) best = ms;
    };
    for (const b of this.run.branches) {
      consider(dueAtOf(b));
      for (const item of mapOf(b)?.items ?? []) consider(dueAtOf(item));
    }
    const step = this.run.compensation?.phase?.steps[0];
    if (step?.status === 'RETRY') consider(step.dueAt);
    return best;
  }

  private launch(begun: BegunAttempt): void {
    if (begun.compensation) return this.launchCompensation(begun);
    const run = this.run;
    const branch = run.branches.find((b) => b.branchId === begun.branchId)!;
    const node = this.def.nodes[begun.nodeId]!;
    const controller = new AbortController();
    const outputs = run.outputsJson;
    const context = () =>
      buildContext(this.env, run, {
        nodeId: begun.nodeId,
        branchId: begun.branchId,
        attempt: begun.attempt,
        attempts: run.attemptsJson,
        state: stateFor(run.stateJson, branch),
        outputs: () => outputs,
        itemIndex: begun.itemIndex,
        item: begun.itemIndex === undefined ? undefined : this.maps.get(begun.branchId)?.items[begun.itemIndex],
        signal: controller.signal,
        copy: true,
        waitTimedOut: begun.itemIndex === undefined && branch.status === 'RUNNING' && branch.waitTimedOut === true,
        error: branch.status === 'RUNNING' ? branch.caught : undefined,
      });
    this.track(begun, controller, () => this.attempt(node, context, controller, begun));
  }

  private launchCompensation(begun: BegunAttempt): void {
    const controller = new AbortController();
    this.track(begun, controller, () => this.compensate(begun, controller));
  }

  /** An attempt in flight: its completion is collected for the next round, unless this holder stopped it. */
  private track(begun: BegunAttempt, controller: AbortController, run: () => Promise<Completion>): void {
    this.running.set(keyOf(begun), { attempt: begun, controller });
    void run().then((completion) => {
      // An attempt stopped by this holder (aborted branch, failed run) is not waited for; its transaction's writes go.
      if (!this.running.has(keyOf(begun)) && !completion.abandoned) {
        if (completion.tx) {
          this.openTransactions.delete(completion.tx);
          void completion.tx.rollback().catch(() => undefined);
        }
        return;
      }
      this.completed.push(completion);
      this.wakeUp?.();
    });
  }

  /**
   * One attempt of a node's `compensate`, with the context of the run the node belongs to (this
   * one, or a child run whose compensations this run runs) and the failure it undoes as
   * `ctx.error`; an item of a `forEach` node sees its item.
   */
  private async compensate(begun: BegunAttempt, controller: AbortController): Promise<Completion> {
    const started = this.env.clock.now();
    const runId = begun.compensation!.runId;
    let outcome: AttemptOutcome;
    let retry: RetryPolicy | undefined;
    const untrack = this.env.inFlight.track(this.run.runId, controller);
    const untrackHere = this.options.trackAttempt?.(controller);
    try {
      // A child run's steps were expanded by whichever holder reached them (maybe another process): read it if this one has not.
      const run = runId === undefined ? this.run : await this.childToUndo(runId);
      const def = runId === undefined ? this.def : run && this.env.registry.get(run.flowId, run.flowVersion);
      const node = def?.nodes[begun.nodeId];
      if (!run || !node?.compensate) {
        const whose = runId === undefined ? '' : ` of child run ${runId}${run ? ` (${run.flowId}@${run.flowVersion}, registered here?)` : ''}`;
        throw FlowError.nonRetryable('COMPENSATION_NOT_FOUND', `Node "${begun.nodeId}"${whose} has no compensate handler here`);
      }
      retry = node.retry;
      const item =
        begun.itemIndex === undefined
          ? undefined
          : (await this.env.storage.getMapValues(run.runId, mapKey(begun.branchId, begun.nodeId))).items?.[begun.itemIndex];
      const ctx = buildContext(this.env, run, {
        nodeId: begun.nodeId,
        branchId: begun.branchId,
        attempt: begun.attempt,
        attempts: run.attemptsJson,
        state: run.stateJson,
        outputs: () => run.outputsJson,
        itemIndex: begun.itemIndex,
        item,
        signal: controller.signal,
        copy: true,
        error: failureUndone(this.run.compensation?.phase),
      });
      outcome = await invokeHandler({ ...node, handler: node.compensate }, ctx, controller);
    } catch (err) {
      outcome = { kind: 'error', error: toErrorRecord(err) };
    } finally {
      untrack();
      untrackHere?.();
    }
    return {
      finished: { ...begun, outcome, durationMs: this.env.clock.now() - started, cached: false, compensation: { runId, retry } },
      abandoned: controller.signal.reason instanceof AbandonedAttempt,
      begun,
    };
  }

  /** A child run whose compensations this run runs, read once per holder (null: gone). */
  private async childToUndo(runId: string): Promise<FlowRunRecord | null> {
    if (!this.childrenToUndo.has(runId)) this.childrenToUndo.set(runId, await this.env.storage.getRun(runId));
    return this.childrenToUndo.get(runId) ?? null;
  }

  /** The handler asked for a child run: start it (once per attempt name) before the outcome is committed. */
  private async startChild(begun: BegunAttempt, o: Extract<AttemptOutcome, { kind: 'child' }>): Promise<AttemptOutcome> {
    this.startingChildren += 1;
    try {
      const child = await startChildRun(this.env, this.run, { nodeId: begun.nodeId, key: childKey(this.run.runId, begun) }, o);
      const ended = isFinished(child.status);
      return { kind: 'child-started', childRunId: child.runId, flowId: o.flowId, version: o.version, ...(ended ? { ended: child } : {}) };
    } catch (err) {
      return { kind: 'error', error: toErrorRecord(err, 'CHILD_START_FAILED') };
    } finally {
      this.startingChildren -= 1;
    }
  }

  /**
   * A child run may have ended before this holder committed that its node waits for it (another
   * worker ran it meanwhile): its end must wait in the inbox until then, not be dropped. True while
   * a child is being started here, or its start is finished but not yet committed.
   */
  private childOnItsWay(childRunId: string): boolean {
    if (this.startingChildren > 0) return true;
    return this.completed.some((c) => c.finished.outcome.kind === 'child-started' && c.finished.outcome.childRunId === childRunId);
  }

  private async attempt(
    node: FlowDefinition['nodes'][string],
    context: () => ReturnType<typeof buildContext>,
    controller: AbortController,
    begun: BegunAttempt,
  ): Promise<Completion> {
    const started = this.env.clock.now();
    let idemKey: string | undefined;
    let outcome: AttemptOutcome;
    let cached = false;
    let tx: AttemptTransaction | undefined;
    const isolation = transactionIsolation(node);
    const ctx = context();
    const untrack = this.env.inFlight.track(this.run.runId, controller, { transactional: isolation !== null });
    const untrackHere = this.options.trackAttempt?.(controller);
    try {
      idemKey = node.idempotencyKey ? forkScoped(this.run, checkIdempotencyKey(node.id, node.idempotencyKey(ctx))) : undefined;
      const record = idemKey === undefined ? null : await this.env.storage.getIdempotencyRecord(idemKey);
      if (record) {
        cached = true;
        // The outcome too, when the record carries one (records written before outcomes existed do not).
        const { output, patch, outcome: business } = record.result;
        outcome = business === undefined ? { kind: 'ok', output, patch } : { kind: 'ok', output, patch, outcome: business };
      } else if (isolation !== null) {
        const key = keyOf(begun);
        let unused: typeof ctx | undefined = ctx; // the first run gets the context the idempotency key saw; a run again, a fresh one
        const transactional = await runInTransaction({
          lease: this.lease,
          storeKind: this.env.storage.kind,
          node,
          isolation,
          context: () => {
            const c = unused ?? context();
            unused = undefined;
            return c;
          },
          controller,
          conflictsBefore: this.commitConflicts.get(key) ?? 0,
        });
        outcome = transactional.outcome;
        tx = transactional.tx;
        if (tx) {
          this.openTransactions.add(tx);
          this.commitConflicts.set(key, transactional.conflicts);
        } else {
          this.commitConflicts.delete(key);
        }
      } else {
        outcome = await invokeHandler(node, ctx, controller);
      }
    } catch (err) {
      outcome = { kind: 'error', error: toErrorRecord(err, 'IDEMPOTENCY_KEY_ERROR') };
    } finally {
      untrack();
      untrackHere?.();
    }
    if (outcome.kind === 'child' && !controller.signal.aborted) outcome = await this.startChild(begun, outcome);
    return {
      finished: { ...begun, outcome, durationMs: this.env.clock.now() - started, idemKey, cached },
      abandoned: controller.signal.reason instanceof AbandonedAttempt,
      begun,
      ...(tx ? { tx } : {}),
    };
  }
}

/** The child's idempotency key: one child per attempt name (an interrupted attempt's re-run finds the same child). */
const childKey = (runId: string, begun: BegunAttempt) => `child:${runId}:${begun.attemptKey}${begun.itemIndex === undefined ? '' : `:${begun.itemIndex}`}`;

/** An attempt's key among those in flight: its branch (and item); a compensation's never equals a node attempt's. */
const keyOf = (a: { branchId: string; nodeId: string; itemIndex?: number; compensation?: object }) => {
  const key = a.itemIndex === undefined ? a.branchId : `${a.branchId}#${a.itemIndex}`;
  return a.compensation ? `undo:${a.nodeId}:${key}` : key;
};

const toCache = (v: MapValues): MapCache => ({ items: v.items ?? [], outputs: v.outputs });

/**
 * A node's key as stored: in a fork (`forkRun`), scoped to the fork, so that a node it runs again
 * runs its handler rather than finding the result its source committed under the same key.
 */
const forkScoped = (run: FlowRunRecord, key: string) => (run.forkedFrom ? `fork:${run.runId}:${key}` : key);

function checkIdempotencyKey(nodeId: string, key: unknown): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > 512) {
    throw FlowError.nonRetryable('INVALID_IDEMPOTENCY_KEY', `Node "${nodeId}": idempotencyKey must return a non-empty string of at most 512 characters`);
  }
  const problem = unstorableTextReason(key);
  if (problem) throw FlowError.nonRetryable('INVALID_IDEMPOTENCY_KEY', `Node "${nodeId}": idempotencyKey ${problem}`);
  return key;
}
