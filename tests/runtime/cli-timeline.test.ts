/**
 * `hazel-flow runs timeline` pages: one page by default with how to read on, `--after` and
 * `--limit` for any page, `--all` for every page (each event once); bad values exit 2. And
 * `serve --prune-every 0` is refused as bad usage (exit 2) before anything starts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { flow } from '../../src/definitions/builder.js';
import { runCli } from './cli-helpers.js';
import { startRuntime } from './helpers.js';

/** A map of 30 items: 65 events (RUN_STARTED, MAP_STARTED, NODE_STARTED and NODE_FINISHED per item, the node's NODE_FINISHED, RUN_COMPLETED). */
const thirty = flow('thirty', '1')
  .entry('each')
  .node('each', (ctx) => ({ status: 'ok', output: ctx.itemIndex }), { forEach: () => Array.from({ length: 30 }, (_, i) => i) })
  .build();

let rt: FlowRuntime;
let runId: string;
let lastSeq: number;
const cli = (...args: string[]) => runCli(args, { FLOW_URL: rt.url });
const rows = (stdout: string) => stdout.split('\n').filter((line) => /^\d+\s/.test(line));

beforeAll(async () => {
  rt = await startRuntime({ flows: [thirty] });
  ({ runId } = await rt.engine.startRun({ flowId: 'thirty', version: '1', input: null }));
  ({ lastSeq } = await rt.engine.runToCompletion(runId));
});
afterAll(async () => {
  await rt.close();
});

describe('hazel-flow runs timeline (paged)', { timeout: 120_000 }, () => {
  it('prints one page and how to read on; --after reads the next one', async () => {
    const first = await cli('runs', 'timeline', runId, '--limit', '25');
    expect(first.code, first.stderr).toBe(0);
    expect(rows(first.stdout).map((line) => Number(line.split(/\s+/)[0]))).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(first.stdout).toContain(`More events: hazel-flow runs timeline ${runId} --after 25 (or --all for every page)`);
    const next = JSON.parse((await cli('runs', 'timeline', runId, '--after', '25', '--limit', '25', '--json')).stdout);
    expect(next.events.map((e: { seq: number }) => e.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 26));
    expect(next.nextCursor).toBe(50);
  });

  it('--all reads every page: each event once, in order', async () => {
    const all = JSON.parse((await cli('runs', 'timeline', runId, '--all', '--limit', '20', '--json')).stdout);
    expect(all.events.map((e: { seq: number }) => e.seq)).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
    expect(all.nextCursor).toBeNull();
    const table = await cli('runs', 'timeline', runId, '--all', '--limit', '20');
    expect(rows(table.stdout)).toHaveLength(lastSeq);
    expect(table.stdout).not.toContain('More events');
  });

  it('exits 2 on a bad --after or --limit, 1 on a cursor past the end', async () => {
    for (const args of [
      ['--after', 'abc'],
      ['--after', '-1'],
      ['--limit', '0'],
      ['--limit', '1001'],
    ]) {
      const res = await cli('runs', 'timeline', runId, ...args);
      expect(res.code, args.join(' ')).toBe(2);
    }
    const past = await cli('runs', 'timeline', runId, '--after', String(lastSeq + 1));
    expect(past.code).toBe(1);
    expect(past.stderr).toMatch(/INVALID_ARGUMENT: .*past the last event/);
  });

  it('serve --prune-every 0 is bad usage, refused before the runtime starts', async () => {
    const res = await runCli(['serve', '--prune-every', '0', '--port', '0']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--prune-every must be a duration from 1ms/);
    expect(res.stdout).not.toContain('starting');
  });

  it('serve with FLOW_PRUNE_EVERY=0 in the environment is bad usage too, refused before the runtime starts', async () => {
    const res = await runCli(['serve', '--port', '0'], { FLOW_PRUNE_EVERY: '0' });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/FLOW_PRUNE_EVERY must be a duration from 1ms/);
    expect(res.stdout).not.toContain('starting');
  });
});
