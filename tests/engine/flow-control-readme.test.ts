/**
 * The README's Flow control example, verbatim, as a test (and checked against the README's text,
 * so that the two cannot drift apart).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FlowEngine, flow } from '@hazeljs/flow';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README: Flow control', () => {
  it('runs the example', async () => {
    const engine = new FlowEngine();
    // ---- verbatim from README.md, Flow control ----
    const charge = flow<{ customer: string; order: string }>('charge', '1', {
      // 2 runs per customer from start to end, waits included ('active'); 50 steps at a time in all
      concurrency: [
        { limit: 2, key: (input) => input.customer, scope: 'active' },
        { limit: 50, scope: 'executing' },
      ],
      rateLimit: { limit: 10, periodMs: 1000 }, // at most 10 first steps a second
      debounce: { delayMs: 500, key: (input) => input.order, maxWaitMs: 5000 }, // one run per burst
    })
      .entry('charge')
      .node('charge', () => ({ status: 'ok' }))
      .build();
    await engine.registerDefinition(charge);
    const first = await engine.startRun({ flow: charge, input: { customer: 'c1', order: 'o1' } });
    const again = await engine.startRun({ flow: charge, input: { customer: 'c1', order: 'o1' } }); // joins it: created false
    const urgent = await engine.startRun({ flow: charge, input: { customer: 'c2', order: 'o2' }, priority: 10 });
    const later = await engine.startRun({ flow: charge, input: { customer: 'c3', order: 'o3' }, delayMs: 60_000 }); // or startAt
    // ---- end ----
    expect(again).toEqual({ runId: first.runId, status: 'RUNNING', created: false });
    expect((await engine.getRun(urgent.runId))!.priority).toBe(10);
    expect((await engine.getRun(first.runId))!.flowControl).toEqual({
      concurrency: [
        { limit: 2, key: 'c1', scope: 'active' },
        { limit: 50, key: '', scope: 'executing' },
      ],
      rateLimit: { limit: 10, periodMs: 1000, key: '' },
      debounce: { key: 'o1', delayMs: 500, maxWaitMs: 5000 },
    });
    expect((await engine.getRun(later.runId))!.dueInMs).toBeGreaterThan(55_000);
    await engine.close();
  });

  it('is the README’s text', () => {
    const section = README.slice(README.indexOf('## Flow control'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
    const test = readFileSync(new URL(import.meta.url), 'utf8');
    const verbatim = /---- verbatim from README.md, Flow control ----\n([\s\S]*?)\s*\/\/ ---- end ----/.exec(test)![1]!;
    const strip = (text: string) => text.replace(/^\s+/gm, '').trim();
    expect(strip(verbatim)).toBe(strip(code));
  });
});
