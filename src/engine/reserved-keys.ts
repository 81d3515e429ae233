/**
 * State keys the engine writes itself, which callers may not set from outside (`startRun`'s
 * `initialState`, and any other state that arrives from a caller rather than a handler).
 *
 * `_resumePayload` is where `resumeRun` puts its payload: a run started with it already set
 * would pass its waiting node without ever waiting — no RUN_WAITING, no RUN_RESUMED, no decision.
 */
import { InvalidArgumentError } from '../errors.js';

export const RESERVED_STATE_KEYS: readonly string[] = Object.freeze(['_resumePayload']);

/**
 * Throws `InvalidArgumentError` (INVALID_ARGUMENT) naming the first reserved key that `value`
 * has as an own top-level key. Anything that is not an object is left to the caller's own checks.
 */
export function assertNoReservedStateKeys(where: string, value: unknown): void {
  if (value === null || typeof value !== 'object') return;
  for (const key of RESERVED_STATE_KEYS) {
    if (Object.hasOwn(value, key)) {
      throw new InvalidArgumentError(`${where}: key ${JSON.stringify(key)} is reserved by the engine (resumeRun sets it); choose another name`);
    }
  }
}
