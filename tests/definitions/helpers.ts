import type { FlowContext } from '../../src/definitions/index.js';
import { FlowDefinitionError } from '../../src/errors.js';

/** A minimal context for calling handlers and conditions directly. */
export function makeCtx(input: unknown = {}, over: Partial<FlowContext> = {}): FlowContext {
  return {
    runId: 'run-1',
    flowId: 'f',
    flowVersion: '1',
    input,
    state: {},
    outputs: {},
    meta: { attempts: {}, startedAt: new Date(0).toISOString(), nodeId: 'n', attempt: 1, branchId: 'b1' },
    signal: new AbortController().signal,
    ...over,
  };
}

/** The problems a definition error lists, for a call that must throw one (anything else fails the test). */
export function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlowDefinitionError) return e.problems;
    throw e;
  }
  throw new Error('expected a FlowDefinitionError');
}
