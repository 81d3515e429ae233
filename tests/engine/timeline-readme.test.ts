/**
 * The README's Timeline paging example, verbatim, as a test (and checked against the README's
 * text, so that the two cannot drift apart): on a 1,200-event run it reads every event once.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FlowEngine, flow, type FlowEventRecord } from '@hazeljs/flow';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README: Timeline', () => {
  it('runs the example: every event once, in order', async () => {
    const engine = new FlowEngine();
    await engine.registerDefinition(
      flow('resize', '1')
        .entry('each')
        .node('each', (ctx) => ({ status: 'ok', output: ctx.itemIndex }), { forEach: () => Array.from({ length: 600 }, (_, i) => i) })
        .build(),
    );
    const { runId } = await engine.startRun({ flowId: 'resize', version: '1', input: null });
    const { lastSeq } = await engine.runToCompletion(runId);
    const seen: FlowEventRecord[] = [];
    const show = (event: FlowEventRecord) => seen.push(event);
    // ---- verbatim from README.md, Timeline ----
    let after = 0;
    for (;;) {
      const page = await engine.getTimeline(runId, { after, limit: 500 }); // limit: 1 to 1000 (default 1000)
      for (const event of page.events) show(event);
      if (page.nextCursor === null) break; // the end, for now: a live run's next events come after `after`
      after = page.nextCursor;
    }
    // ---- end ----
    expect(lastSeq).toBeGreaterThan(1000);
    expect(seen).toEqual(await engine.getTimeline(runId));
    expect(after).toBe(Math.floor(lastSeq / 500) * 500);
    await engine.close();
  });

  it('is the README’s text', () => {
    const section = README.slice(README.indexOf('### Timeline'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
    const test = readFileSync(new URL(import.meta.url), 'utf8');
    const verbatim = /---- verbatim from README.md, Timeline ----\n([\s\S]*?)\s*\/\/ ---- end ----/.exec(test)![1]!;
    const strip = (text: string) => text.replace(/^\s+/gm, '').trim();
    expect(strip(verbatim)).toBe(strip(code));
  });
});
