/**
 * The default logger of the worker and the runtime: JSON lines (time, level, msg, fields) when not
 * on a terminal, readable lines on one; FLOW_LOG_LEVEL drops what is less severe; warnings and
 * errors go to stderr; values JSON cannot hold (an Error, a BigInt, a cycle) do not break a line.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createFlowLogger, runFields, withFields } from '../../src/worker/logger.js';

describe('the structured logger', () => {
  afterEach(() => vi.unstubAllEnvs());

  const capture = (options: Parameters<typeof createFlowLogger>[0] = {}) => {
    const lines: Array<[string, string]> = [];
    return { lines, logger: createFlowLogger({ ...options, write: (level, line) => void lines.push([level, line]) }) };
  };

  it('writes JSON lines with the run’s fields, and keeps lines whole whatever the values', () => {
    const { lines, logger } = capture({ format: 'json' });
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    withFields(logger, { component: 'worker' }).warn('run failed', {
      ...runFields({ runId: 'r1', flowId: 'order', flowVersion: '2' }, 'charge'),
      error: Object.assign(new Error('card declined'), { code: 'DECLINED' }),
      big: 10n,
      cyclic,
    });
    expect(lines).toHaveLength(1);
    const [level, line] = lines[0]!;
    expect(level).toBe('warn');
    expect(JSON.parse(line)).toEqual({
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      level: 'warn',
      msg: 'run failed',
      component: 'worker',
      runId: 'r1',
      flow: 'order',
      version: '2',
      node: 'charge',
      error: { name: 'Error', message: 'card declined', code: 'DECLINED' },
      big: '10',
      cyclic: { a: 1, self: '[Circular]' },
    });
  });

  it('writes readable lines when asked (or on a terminal), and drops levels below FLOW_LOG_LEVEL', () => {
    vi.stubEnv('FLOW_LOG_LEVEL', 'warn');
    const { lines, logger } = capture({ format: 'pretty' });
    logger.info('started', { concurrency: 8 });
    logger.error('advancing run failed', { component: 'worker', runId: 'r1', node: 'a' });
    expect(lines).toHaveLength(1);
    expect(lines[0]![1]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} ERROR \[hazel-flow worker\] advancing run failed {2}runId=r1 node=a$/);
    vi.stubEnv('FLOW_LOG_LEVEL', 'loud');
    expect(() => createFlowLogger()).toThrow(/FLOW_LOG_LEVEL must be debug, info, warn or error/);
  });

  it('is JSON when the output is not a terminal, unless FLOW_LOG_FORMAT says otherwise', () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const tty = process.stdout.isTTY;
      createFlowLogger({ level: 'info' }).info('hello', { n: 1 });
      vi.stubEnv('FLOW_LOG_FORMAT', tty ? 'json' : 'pretty');
      createFlowLogger({ level: 'info' }).info('hello', { n: 1 });
      const [first, second] = out.mock.calls.map((c) => String(c[0]));
      expect(first!.startsWith('{')).toBe(!tty);
      expect(second!.startsWith('{')).toBe(!!tty);
    } finally {
      out.mockRestore();
    }
  });
});
