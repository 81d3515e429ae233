/**
 * The README's "Operating in production" example, verbatim, as a test (checked against the
 * README's text), and its alert rules: every metric they name is one `engine.metrics()` exposes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FlowEngine, flow } from '@hazeljs/flow';
import { parsePrometheusText } from '../helpers/prometheus-text.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const SECTION = README.slice(README.indexOf('## Operating in production'), README.indexOf('## API reference'));

describe('README: Operating in production', () => {
  it('runs the example', async () => {
    const engine = new FlowEngine();
    await engine.registerDefinition(
      flow('order', '1')
        .entry('a')
        .node('a', () => ({ status: 'ok' }))
        .build(),
    );
    const worker = engine.startWorker({ logger: { debug() {}, info() {}, warn() {}, error() {} } });
    await worker.started;
    const input = { orderId: 7 };
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    // ---- verbatim from README.md, Operating in production ----
    const text = await engine.metrics(); // Prometheus text; the runtime serves it at GET /metrics
    const { runId } = await engine.startRun({ flowId: 'order', version: '1', input, traceparent });
    const workers = await engine.listWorkers(); // every process: live or silent, flows, in flight
    const stranded = await engine.unservedDueRuns(); // due runs of flows no live worker serves
    // ---- end ----
    expect(text).toContain('# TYPE hazel_flow_runs gauge');
    expect((await engine.getRun(runId))!.traceparent).toBe(traceparent);
    expect(workers).toMatchObject([{ workerId: worker.id, status: 'live', flowKeys: ['order@1'] }]);
    expect(stranded).toEqual([]);
    await engine.close();
  });

  it('is the README’s text', () => {
    const code = /```ts\n([\s\S]*?)```/.exec(SECTION)![1]!;
    const test = readFileSync(new URL(import.meta.url), 'utf8');
    const verbatim = /---- verbatim from README.md, Operating in production ----\n([\s\S]*?)\s*\/\/ ---- end ----/.exec(test)![1]!;
    const strip = (text: string) => text.replace(/^\s+/gm, '').trim();
    expect(strip(verbatim)).toBe(strip(code));
  });

  it('names in its alert rules and its text only metrics the engine exposes', async () => {
    const engine = new FlowEngine();
    try {
      const exposed = new Set(parsePrometheusText(await engine.metrics()).map((s) => s.name));
      for (const line of (await engine.metrics()).split('\n')) {
        const declared = /^# TYPE (\S+) /.exec(line);
        if (declared) exposed.add(declared[1]!);
      }
      const named = new Set([...SECTION.matchAll(/\bhazel_flow_\w+/g)].map((m) => m[0]));
      expect(named.size).toBeGreaterThanOrEqual(8);
      for (const name of named)
        expect(
          [...exposed].some((e) => e === name || `${e}_bucket` === name),
          name,
        ).toBe(true);
    } finally {
      await engine.close();
    }
  });
});
