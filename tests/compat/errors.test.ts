/**
 * 0.5.x's error classes as 0.5.x code uses them: constructor arguments, codes, retryable flags and
 * the start of each message (this package adds detail after 0.5.x's wording). Ported from the
 * original package's test/Errors.test.ts, plus the disambiguation of FlowError's two argument orders.
 */
import { describe, expect, it } from 'vitest';
import { AmbiguousEdgeError, FlowError, FlowNotFoundError, LockBusyError, RunNotFoundError } from '@hazeljs/flow';

describe('FlowError in 0.5.x order: (message, code, retryable?)', () => {
  it('takes message and code, not retryable by default', () => {
    const err = new FlowError('test', 'TEST_CODE');
    expect(err.message).toBe('test');
    expect(err.code).toBe('TEST_CODE');
    expect(err.retryable).toBe(false);
    expect(err.name).toBe('FlowError');
    expect(err).toBeInstanceOf(Error);
  });

  it('takes the retryable flag', () => {
    const err = new FlowError('retry', 'RETRY', true);
    expect(err).toMatchObject({ message: 'retry', code: 'RETRY', retryable: true });
  });

  it('a boolean third argument always means 0.5.x order, whatever the strings look like', () => {
    expect(new FlowError('Card declined', 'CARD_DECLINED', false)).toMatchObject({ message: 'Card declined', code: 'CARD_DECLINED', retryable: false });
    expect(new FlowError('BOOM', 'BANG', true)).toMatchObject({ message: 'BOOM', code: 'BANG', retryable: true });
  });

  it('a prose message with a code-shaped or one-word second argument is 0.5.x order', () => {
    expect(new FlowError('Payment provider timed out', 'UPSTREAM_TIMEOUT')).toMatchObject({ message: 'Payment provider timed out', code: 'UPSTREAM_TIMEOUT' });
    expect(new FlowError('Rate limited, try later', 'rate_limit')).toMatchObject({ message: 'Rate limited, try later', code: 'rate_limit' });
    expect(new FlowError('oops', 'HTTP_503')).toMatchObject({ message: 'oops', code: 'HTTP_503' });
  });
});

describe("FlowError in this package's order: (code, message, options?)", () => {
  it('takes code, message and options', () => {
    const cause = new Error('socket hang up');
    const err = new FlowError('CARD_DECLINED', 'The card was declined', { retryable: true, cause });
    expect(err).toMatchObject({ code: 'CARD_DECLINED', message: 'The card was declined', retryable: true });
    expect(err.cause).toBe(cause);
  });

  it('an object third argument always means this order, whatever the strings look like', () => {
    expect(new FlowError('card declined', 'CARD_DECLINED', {})).toMatchObject({ code: 'card declined', message: 'CARD_DECLINED' });
  });

  it('with two arguments, a code-shaped first argument is the code', () => {
    expect(new FlowError('ENGINE_CLOSED', 'This FlowEngine was closed')).toMatchObject({ code: 'ENGINE_CLOSED', message: 'This FlowEngine was closed' });
    expect(new FlowError('bad_input', 'Missing field "email"')).toMatchObject({ code: 'bad_input', message: 'Missing field "email"' });
  });

  it('a tie (both or neither shaped like a code) is this order', () => {
    expect(new FlowError('FAILED', 'TIMEOUT')).toMatchObject({ code: 'FAILED', message: 'TIMEOUT' });
    expect(new FlowError('boom', 'bang')).toMatchObject({ code: 'boom', message: 'bang' });
    expect(new FlowError('it broke', 'really broke')).toMatchObject({ code: 'it broke', message: 'really broke' });
  });

  it('the static helpers are unambiguous', () => {
    expect(FlowError.retryable('X', 'y z')).toMatchObject({ code: 'X', message: 'y z', retryable: true });
    expect(FlowError.nonRetryable('X', 'y z')).toMatchObject({ code: 'X', message: 'y z', retryable: false });
  });
});

describe('LockBusyError', () => {
  it("extends FlowError with LOCK_BUSY, retryable, and 0.5.x's message first", () => {
    const err = new LockBusyError('run-123');
    expect(err).toBeInstanceOf(FlowError);
    expect(err).toBeInstanceOf(LockBusyError); // false in 0.5.x, whose FlowError reset the prototype
    expect(err.message.startsWith('Lock busy for run run-123')).toBe(true);
    expect(err.code).toBe('LOCK_BUSY');
    expect(err.retryable).toBe(true);
    expect(err.name).toBe('LockBusyError');
    expect(err.runId).toBe('run-123');
  });
});

describe('AmbiguousEdgeError', () => {
  it("takes 0.5.x's single argument; the message is 0.5.x's exactly", () => {
    const err = new AmbiguousEdgeError('node-a');
    expect(err).toBeInstanceOf(FlowError);
    expect(err.message).toBe('Ambiguous edge from node node-a');
    expect(err.code).toBe('AMBIGUOUS_EDGE');
    expect(err.retryable).toBe(false);
    expect(err.name).toBe('AmbiguousEdgeError');
    expect(err.nodeId).toBe('node-a');
    expect(err.candidates).toEqual([]);
    expect(err.priority).toBeUndefined();
  });

  it('names the edges after the 0.5.x wording when it knows them', () => {
    const err = new AmbiguousEdgeError('a', ['b', 'c'], 5);
    expect(err.message).toBe(
      'Ambiguous edge from node a: 2 matching edges at priority 5 (to "b", "c"); give them different priorities or exclusive conditions',
    );
    expect(err).toMatchObject({ candidates: ['b', 'c'], priority: 5 });
  });
});

describe('FlowNotFoundError', () => {
  it("extends FlowError with FLOW_NOT_FOUND and 0.5.x's message first", () => {
    const err = new FlowNotFoundError('flow-1', '1.0.0');
    expect(err).toBeInstanceOf(FlowError);
    expect(err.message.startsWith('Flow not found: flow-1@1.0.0')).toBe(true);
    expect(err.code).toBe('FLOW_NOT_FOUND');
    expect(err.retryable).toBe(false);
    expect(err).toMatchObject({ flowId: 'flow-1', version: '1.0.0', name: 'FlowNotFoundError' });
  });
});

describe('RunNotFoundError', () => {
  it("extends FlowError with RUN_NOT_FOUND and 0.5.x's message", () => {
    const err = new RunNotFoundError('run-xyz');
    expect(err).toBeInstanceOf(FlowError);
    expect(err.message.startsWith('Run not found: run-xyz')).toBe(true);
    expect(err.code).toBe('RUN_NOT_FOUND');
    expect(err.retryable).toBe(false);
    expect(err).toMatchObject({ runId: 'run-xyz', name: 'RunNotFoundError' });
  });
});
