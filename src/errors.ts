/**
 * One error base for the whole package: every failure a caller can see is a `FlowError`
 * with a stable `code` (safe to switch on, stored in the timeline) and `retryable`
 * (whether trying the same thing again may succeed). The original error is kept in `cause`.
 *
 * Messages of the errors that @hazeljs/flow 0.5.x also had start with 0.5.x's wording (e.g.
 * "Lock busy for run …"), and the detail this package adds comes after it.
 */
export interface FlowErrorOptions {
  /** Whether trying again may succeed (default false). */
  retryable?: boolean;
  cause?: unknown;
}

/** A code as codes are written: UPPER_SNAKE_CASE, optionally with `.`, `:` or `-` between parts (`HTTP_404`, `DB.TIMEOUT`). */
const CODE_SHAPE = /^[A-Z][A-Z0-9]*(?:[_.:-][A-Z0-9]+)*$/;

/** 2: shaped like a code; 1: one word (no whitespace); 0: prose (or empty). */
function codeLikeness(text: unknown): number {
  if (typeof text !== 'string' || text === '') return 0;
  if (CODE_SHAPE.test(text)) return 2;
  return /\s/.test(text) ? 0 : 1;
}

/**
 * Which argument order a `new FlowError(a, b, c)` call used. The third argument decides when it
 * is there: a boolean is 0.5.x's `retryable` (so 0.5.x's order), an object is this package's
 * options. Without it, the argument that looks more like a code is the code: the second one only
 * when it is strictly more code-like than the first (UPPER_SNAKE beats a single word beats prose);
 * a tie is this package's order.
 */
export function isLegacyFlowErrorOrder(first: unknown, second: unknown, third?: unknown): boolean {
  if (typeof third === 'boolean') return true;
  if (third !== undefined && third !== null) return false;
  return codeLikeness(second) > codeLikeness(first);
}

export class FlowError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  /**
   * `new FlowError(code, message, { retryable, cause })`, or 0.5.x's
   * `new FlowError(message, code, retryable?)`: both are accepted. A boolean third argument
   * always means 0.5.x's order and an object always means this one; with two arguments the one
   * shaped like a code (e.g. `CARD_DECLINED`) is taken as the code (see `isLegacyFlowErrorOrder`).
   * Pass the third argument (`{}` or `false`) to leave no room for doubt.
   */
  constructor(code: string, message: string, options?: FlowErrorOptions);
  constructor(message: string, code: string, retryable?: boolean);
  constructor(first: string, second: string, third?: FlowErrorOptions | boolean) {
    const legacy = isLegacyFlowErrorOrder(first, second, third);
    const options: FlowErrorOptions = typeof third === 'object' && third !== null ? third : { retryable: third === true };
    super(legacy ? first : second, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = legacy ? second : first;
    this.retryable = options.retryable ?? false;
  }

  /** A handler can throw this to fail its attempt without any retry. */
  static nonRetryable(code: string, message: string, cause?: unknown): FlowError {
    return new FlowError(code, message, { retryable: false, cause });
  }

  /** A handler can throw this to fail its attempt and ask for a retry (under the node's policy). */
  static retryable(code: string, message: string, cause?: unknown): FlowError {
    return new FlowError(code, message, { retryable: true, cause });
  }
}

/** Another holder is advancing this run right now (its advisory lock is taken). */
export class LockBusyError extends FlowError {
  constructor(readonly runId: string) {
    super('LOCK_BUSY', `Lock busy for run ${runId}: another worker is advancing it`, { retryable: true });
  }
}

/**
 * Two or more edges matched at the top priority: the graph does not say where to go.
 * `new AmbiguousEdgeError(nodeId)` (0.5.x's form) is accepted; the engine also names the edges.
 */
export class AmbiguousEdgeError extends FlowError {
  readonly candidates: string[];
  constructor(
    readonly nodeId: string,
    candidates: string[] = [],
    /** The priority the matching edges share (undefined when not given). */
    readonly priority?: number,
  ) {
    const detail =
      candidates.length > 0
        ? `: ${candidates.length} matching edges${priority === undefined ? '' : ` at priority ${priority}`} (to ${candidates
            .map((c) => `"${c}"`)
            .join(', ')}); give them different priorities or exclusive conditions`
        : '';
    super('AMBIGUOUS_EDGE', `Ambiguous edge from node ${nodeId}${detail}`, { retryable: false });
    this.candidates = [...candidates];
  }
}

export class FlowNotFoundError extends FlowError {
  constructor(
    readonly flowId: string,
    readonly version: string,
  ) {
    super('FLOW_NOT_FOUND', `Flow not found: ${flowId}@${version} (not registered with this engine)`, { retryable: false });
  }
}

export class RunNotFoundError extends FlowError {
  constructor(readonly runId: string) {
    super('RUN_NOT_FOUND', `Run not found: ${runId}`, { retryable: false });
  }
}

/** No schedule has this id (`engine.schedules.pause`, `resume`, `delete`, `trigger`). */
export class ScheduleNotFoundError extends FlowError {
  constructor(readonly scheduleId: string) {
    super('SCHEDULE_NOT_FOUND', `Schedule not found: ${scheduleId}`, { retryable: false });
  }
}

/**
 * A flow control key function (`concurrency.key`, `rateLimit.key`, `debounce.key`) threw or returned
 * something other than a string at `startRun`: nothing was created. The key function's error is in `cause`.
 */
export class FlowControlKeyError extends FlowError {
  constructor(
    readonly flowId: string,
    readonly version: string,
    /** The option whose key function failed (`concurrency.key`, `concurrency[1].key`, `rateLimit.key`, `debounce.key`). */
    readonly option: string,
    detail: string,
    cause?: unknown,
  ) {
    super('FLOW_CONTROL_KEY', `startRun of ${flowId}@${version}: ${option} ${detail}; no run was created`, { retryable: false, cause });
  }
}

/** The run is not in a state that allows the operation (e.g. resume of a run that is not waiting). */
export class InvalidRunStateError extends FlowError {
  constructor(
    readonly runId: string,
    readonly status: string,
    operation: string,
    expected: string,
  ) {
    super('INVALID_RUN_STATE', `Cannot ${operation} run ${runId}: it is ${status}, expected ${expected}`, {});
  }
}

/**
 * A flow definition is malformed; `problems` lists every problem found, not just the first.
 * `headline`, when given, starts the message: the sentence 0.5.x threw for the same mistake
 * (e.g. "Flow must have an entry node. Call .entry(nodeId) first."), so code and people that
 * look for it still find it.
 */
export class FlowDefinitionError extends FlowError {
  readonly problems: string[];
  constructor(
    readonly flowKey: string,
    problems: string[] = [],
    headline?: string,
  ) {
    const list = `Invalid flow definition ${flowKey}:\n${problems.map((p) => `  - ${p}`).join('\n')}`;
    super('INVALID_DEFINITION', headline ? `${headline}\n${list}` : list, {});
    this.problems = [...problems];
  }
}

/** The same flowId@version is already registered with a different graph. */
export class DefinitionConflictError extends FlowError {
  constructor(readonly flowKey: string) {
    super('DEFINITION_CONFLICT', `Flow ${flowKey} is already registered with a different graph; publish the change as a new version`, {});
  }
}

/** A value cannot be stored as JSON (BigInt, function, cycle, NaN, Date, …) or is over the size limit. */
export class SerializationError extends FlowError {
  constructor(
    message: string,
    readonly path: string,
    readonly nodeId?: string,
  ) {
    super('SERIALIZATION_ERROR', nodeId ? `Node "${nodeId}": ${message}` : message, {});
  }
}

/** An argument passed to a public method is missing or of the wrong type. */
export class InvalidArgumentError extends FlowError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message, {});
  }
}

/** A commit was rejected by the fence: the run changed since this holder loaded it. */
export class StaleRunError extends FlowError {
  constructor(
    readonly runId: string,
    readonly expectedVersion: number,
  ) {
    super('STALE_RUN', `Run ${runId} changed since version ${expectedVersion} was loaded (lost lock or concurrent cancel); the transition was discarded`, {
      retryable: true,
    });
  }
}

/**
 * A commit was refused because it ends a wait by its timer while an answer to that wait (a resume,
 * an event) is in the run's inbox: the answer was accepted, so it must be received. The holder
 * still holds the run; it reads the inbox and drafts again (see `Transition.timedOutWaits`).
 */
export class WaitAnsweredError extends FlowError {
  constructor(
    readonly runId: string,
    readonly expectedVersion: number,
  ) {
    super('WAIT_ANSWERED', `Run ${runId}: a wait this transition timed out has an answer in the inbox; the transition was discarded`, { retryable: true });
  }
}

/**
 * A transactional node (`transaction` option) did what its transaction cannot hold, on a store
 * that cannot give it one. Never retried: the next attempt would do the same. Codes:
 * `TRANSACTIONS_UNSUPPORTED` (the store has no database transaction: memory),
 * `TRANSACTIONAL_NODE_WAIT` (its handler returned a wait), `TRANSACTIONAL_NODE_CHILD` (it asked
 * for a child run). The transaction was rolled back.
 */
export class TransactionalNodeError extends FlowError {
  constructor(
    code: 'TRANSACTIONS_UNSUPPORTED' | 'TRANSACTIONAL_NODE_WAIT' | 'TRANSACTIONAL_NODE_CHILD',
    readonly nodeId: string,
    message: string,
  ) {
    super(code, message, { retryable: false });
  }
}

/** `ctx.tx` used after its attempt ended (a timeout, a cancel, the outcome committed or rolled back): nothing was sent. */
export class TransactionClosedError extends FlowError {
  constructor(readonly nodeId: string) {
    super(
      'TRANSACTION_CLOSED',
      `ctx.tx of node "${nodeId}" was used after its attempt ended (timed out, cancelled, committed or rolled back): nothing was sent`,
      {
        retryable: false,
      },
    );
  }
}

/** The storage backend failed (connection, schema, configuration). */
export class StorageError extends FlowError {
  constructor(code: string, message: string, options: FlowErrorOptions = {}) {
    super(code, message, options ?? {});
  }
}

/** Normalizes anything thrown into an `{code, message, retryable}` record for the timeline. */
export function toErrorRecord(err: unknown, fallbackCode = 'HANDLER_ERROR'): ErrorRecord {
  if (err instanceof FlowError) return { code: err.code, message: err.message, retryable: err.retryable };
  if (err instanceof Error) {
    const code = typeof (err as { code?: unknown }).code === 'string' ? (err as unknown as { code: string }).code : fallbackCode;
    return { code, message: err.message || err.name, retryable: true };
  }
  let text: string;
  try {
    text = typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err));
  } catch {
    try {
      text = String(err);
    } catch {
      // A null-prototype object with a BigInt (or a throwing toString) has no text form at all.
      text = Object.prototype.toString.call(err);
    }
  }
  return {
    code: 'NON_ERROR_THROWN',
    message: `Handler threw a non-Error value: ${text.slice(0, 500)}`,
    retryable: true,
  };
}

/** The stored form of an error (timeline events, run row). */
export interface ErrorRecord {
  code: string;
  message: string;
  retryable?: boolean;
}

/** `resumeRun` without a `nodeId` on a run where several branches wait: `waiting` lists them. */
export class AmbiguousResumeError extends FlowError {
  constructor(
    readonly runId: string,
    readonly waiting: Array<{ branchId: string; nodeId: string; waitReason: string | null }>,
  ) {
    super(
      'AMBIGUOUS_RESUME',
      `Run ${runId} has ${waiting.length} waiting branches (at ${waiting.map((w) => `"${w.nodeId}"`).join(', ')}); pass { nodeId } to say which to resume`,
    );
  }
}
