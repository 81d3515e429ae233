/**
 * The README's Schedules example, verbatim, as a test (and checked against the README's text, so
 * that the two cannot drift apart).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FlowEngine, flow } from '@hazeljs/flow';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README: Schedules', () => {
  it('runs the example', async () => {
    const engine = new FlowEngine();
    await engine.registerDefinition(
      flow('report', '1')
        .entry('a')
        .node('a', () => ({ status: 'ok' }))
        .build(),
    );
    // ---- verbatim from README.md, Schedules ----
    await engine.schedules.set({
      scheduleId: 'nightly-report',
      flowId: 'report',
      cron: '0 2 * * *', // or every: '15m'
      timezone: 'Europe/Berlin',
      input: { kind: 'nightly' },
    });
    const next = await engine.schedules.preview({ cron: '0 2 * * *', timezone: 'Europe/Berlin', count: 3 });
    // ---- end ----
    expect(next).toHaveLength(3);
    for (const at of next) expect(new Date(at).toLocaleTimeString('en-GB', { timeZone: 'Europe/Berlin' })).toBe('02:00:00');
    expect(await engine.schedules.get('nightly-report')).toMatchObject({ nextFireAt: next[0], input: { kind: 'nightly' } });
    await engine.close();
  });

  it('is the README’s text', () => {
    const section = README.slice(README.indexOf('## Schedules'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
    const test = readFileSync(new URL(import.meta.url), 'utf8');
    const verbatim = /---- verbatim from README.md, Schedules ----\n([\s\S]*?)\s*\/\/ ---- end ----/.exec(test)![1]!;
    const strip = (text: string) => text.replace(/^\s+/gm, '').trim();
    expect(strip(verbatim)).toBe(strip(code));
  });
});
