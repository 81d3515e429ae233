/**
 * One error base for the whole package: every failure a caller can see is a `FlowError`
 * with a stable `code` (safe to switch on, stored in the timeline) and `retryable`
 * (whether trying the same thing again may succeed). The original error is kept in `cause`.
 */
export class FlowError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
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
    super('LOCK_BUSY', `Run ${runId} is being advanced by another worker`, { retryable: true });
  }
}

/** Two or more edges matched at the top priority: the graph does not say where to go. */
export class AmbiguousEdgeError extends FlowError {
  constructor(
    readonly nodeId: string,
    readonly candidates: string[],
    readonly priority: number,
  ) {
    super(
      'AMBIGUOUS_EDGE',
      `Node "${nodeId}" has ${candidates.length} matching edges at priority ${priority} (to ${candidates
        .map((c) => `"${c}"`)
        .join(', ')}); give them different priorities or exclusive conditions`,
    );
  }
}

export class FlowNotFoundError extends FlowError {
  constructor(
    readonly flowId: string,
    readonly version: string,
  ) {
    super('FLOW_NOT_FOUND', `Flow ${flowId}@${version} is not registered with this engine`);
  }
}

export class RunNotFoundError extends FlowError {
  constructor(readonly runId: string) {
    super('RUN_NOT_FOUND', `Run ${runId} does not exist`);
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
    super('INVALID_RUN_STATE', `Cannot ${operation} run ${runId}: it is ${status}, expected ${expected}`);
  }
}

/** A flow definition is malformed; `problems` lists every problem found, not just the first. */
export class FlowDefinitionError extends FlowError {
  constructor(
    readonly flowKey: string,
    readonly problems: string[],
  ) {
    super(
      'INVALID_DEFINITION',
      `Invalid flow definition ${flowKey}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
}

/** The same flowId@version is already registered with a different graph. */
export class DefinitionConflictError extends FlowError {
  constructor(readonly flowKey: string) {
    super(
      'DEFINITION_CONFLICT',
      `Flow ${flowKey} is already registered with a different graph; publish the change as a new version`,
    );
  }
}

/** A value cannot be stored as JSON (BigInt, function, cycle, NaN, Date, …) or is over the size limit. */
export class SerializationError extends FlowError {
  constructor(
    message: string,
    readonly path: string,
    readonly nodeId?: string,
  ) {
    super('SERIALIZATION_ERROR', nodeId ? `Node "${nodeId}": ${message}` : message);
  }
}

/** An argument passed to a public method is missing or of the wrong type. */
export class InvalidArgumentError extends FlowError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/** A commit was rejected by the fence: the run changed since this holder loaded it. */
export class StaleRunError extends FlowError {
  constructor(
    readonly runId: string,
    readonly expectedVersion: number,
  ) {
    super(
      'STALE_RUN',
      `Run ${runId} changed since version ${expectedVersion} was loaded (lost lock or concurrent cancel); the transition was discarded`,
      { retryable: true },
    );
  }
}

/** The storage backend failed (connection, schema, configuration). */
export class StorageError extends FlowError {
  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(code, message, options);
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
    text = typeof err === 'string' ? err : JSON.stringify(err) ?? String(err);
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
