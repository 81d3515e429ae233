/**
 * The runtime's scheduled prune (runFlowRuntime `prune`, FLOW_PRUNE_*, `serve --prune-*`), and
 * what keeps it answering under load: heavy reads bounded (503 BUSY with Retry-After beyond the
 * queue; by default on an embedded store only) and a /health that says "busy" at once instead of
 * queueing behind them, and "down" once the store has not answered in time.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FlowEngine, createMemoryStorage, flow } from '@hazeljs/flow';
import { parseDurationMs } from '../../src/config.js';
import { buildApiServer } from '../../src/runtime/http/server.js';
import { runCli } from './cli-helpers.js';
import { http, startRuntime, waitFor } from './helpers.js';
import { createTemplatedPGliteStorage } from '../helpers/pglite-template.js';
import type { FlowStorage } from '../../src/storage/types.js';

const quick = (flowId: string, retention?: { finishedRunsMs: number }) =>
  flow(flowId, '1', retention ? { retention } : undefined)
    .entry('a')
    .node('a', async () => ({ status: 'ok', output: 1 }))
    .build();

/** A memory store whose `method` calls wait until `open()` (each call parks until then). */
function gatedStorage(method: 'listRuns' | 'getRun'): { storage: FlowStorage; open(): void; parked(): number } {
  const inner = createMemoryStorage();
  let release: (() => void) | null = null;
  let gate: Promise<void> | null = new Promise<void>((resolve) => (release = resolve));
  let parked = 0;
  const storage = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop !== method) return value.bind(target);
      return async (...args: unknown[]) => {
        if (gate) {
          parked++;
          await gate;
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {
    storage,
    open: () => {
      gate = null;
      release?.();
    },
    parked: () => parked,
  };
}

describe('scheduled prune', () => {
  const closers: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    vi.unstubAllEnvs();
  });

  it('deletes the runs of a flow past its retention, and of other flows past `olderThanMs`', async () => {
    const short = quick('short-lived', { finishedRunsMs: 1 });
    const plain = quick('plain');
    const kept = quick('kept', { finishedRunsMs: 60 * 60_000 });
    const logs: string[] = [];
    const keep = (line: string) => void logs.push(line);
    const logger = { debug: keep, info: keep, warn: keep, error: keep };
    const rt = await startRuntime({ flows: [short, plain, kept], worker: true, prune: { everyMs: 30, olderThanMs: 1 }, logger });
    closers.push(() => rt.close());
    const ids = await Promise.all([short, plain, kept].map((def) => rt.engine.startRun({ flowId: def.flowId, version: '1', input: {} }).then((r) => r.runId)));
    await waitFor(async () => (await rt.engine.getRun(ids[0]!)) === null && (await rt.engine.getRun(ids[1]!)) === null, 'the finished runs to be pruned');
    expect((await rt.engine.getRun(ids[2]!))?.status).toBe('COMPLETED');
    expect(logs.some((l) => /pruned \d+ finished run/.test(l))).toBe(true);
  });

  it('prunes by FLOW_PRUNE_EVERY / FLOW_PRUNE_OLDER_THAN, and refuses bad values before it starts', async () => {
    vi.stubEnv('FLOW_PRUNE_EVERY', '20ms');
    vi.stubEnv('FLOW_PRUNE_OLDER_THAN', '0s');
    const def = quick('env-pruned');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    closers.push(async () => log.mockRestore());
    const rt = await startRuntime({ flows: [def], worker: true });
    closers.push(() => rt.close());
    const { runId } = await rt.engine.startRun({ flowId: def.flowId, version: '1', input: {} });
    await waitFor(async () => (await rt.engine.getRun(runId)) === null, 'the run to be pruned');

    vi.stubEnv('FLOW_PRUNE_EVERY', 'weekly');
    await expect(startRuntime({ flows: [def] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/FLOW_PRUNE_EVERY must be a duration/),
    });
    await expect(startRuntime({ flows: [def], prune: { everyMs: 0 } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('reads durations: 30s, 15m, 12h, 7d, bare milliseconds', () => {
    expect(parseDurationMs('x', '30s')).toBe(30_000);
    expect(parseDurationMs('x', '15m')).toBe(900_000);
    expect(parseDurationMs('x', '1.5h')).toBe(5_400_000);
    expect(parseDurationMs('x', '7d')).toBe(604_800_000);
    expect(parseDurationMs('x', '250')).toBe(250);
    expect(parseDurationMs('x', '')).toBeUndefined();
    expect(() => parseDurationMs('x', '-1s')).toThrow(/x must be a duration/);
    expect(() => parseDurationMs('x', '3 weeks')).toThrow(/x must be a duration/);
  });

  it('serve refuses a bad --prune-every as bad usage (exit 2)', async () => {
    const res = await runCli(['serve', '--prune-every', 'soon']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--prune-every must be a duration like 30s/);
  });
});

describe('heavy requests and /health under load', () => {
  it('serves heavy reads one at a time with a bounded queue; beyond it, 503 BUSY with Retry-After', async () => {
    const { storage, open, parked } = gatedStorage('listRuns');
    const rt = await startRuntime({ storage, heavyRequests: { concurrency: 1, queue: 1 } });
    try {
      const pending = [http(rt.url, 'GET', '/v1/runs'), http(rt.url, 'GET', '/v1/runs')];
      await waitFor(async () => parked() === 1, 'the first list to reach the store');
      const refused = await http(rt.url, 'GET', '/v1/runs?limit=1000');
      expect(refused.status).toBe(503);
      expect(refused.body).toEqual({ error: { code: 'BUSY', message: expect.any(String) } });
      expect(refused.headers.get('retry-after')).toBe('1');
      // Small requests are not held up.
      expect((await http(rt.url, 'GET', '/v1/flows')).status).toBe(200);
      open();
      expect((await Promise.all(pending)).map((r) => r.status)).toEqual([200, 200]);
    } finally {
      await rt.close();
    }
  });

  it('bounds heavy reads by default on an embedded store only', async () => {
    const pglite = await createTemplatedPGliteStorage();
    const engine = new FlowEngine({ storage: pglite });
    const memoryEngine = new FlowEngine({ storage: createMemoryStorage() });
    try {
      for (const [e, expectedBusy] of [
        [engine, 40 - 17],
        [memoryEngine, 0],
      ] as const) {
        const app = await buildApiServer({ engine: e });
        const answers = await Promise.all(
          Array.from({ length: 40 }, () => app.inject({ method: 'GET', url: '/v1/runs?limit=1000', headers: { host: '127.0.0.1' } })),
        );
        expect(answers.filter((a) => a.statusCode === 503).length).toBe(expectedBusy);
        expect(answers.filter((a) => a.statusCode === 200).length).toBe(40 - expectedBusy);
        await app.close();
      }
    } finally {
      await engine.close();
      await memoryEngine.close();
    }
  });

  it('/health answers at once that a busy store is busy, and down once it has not answered in time', async () => {
    const { storage, open, parked } = gatedStorage('getRun');
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const engine = new FlowEngine({ storage });
    const app = await buildApiServer({ engine, healthBusyAfterMs: 20, healthTimeoutMs: 400 });
    try {
      const started = Date.now();
      const busy = await app.inject({ method: 'GET', url: '/health', headers: { host: '127.0.0.1' } });
      expect(Date.now() - started).toBeLessThan(300);
      expect(busy.statusCode).toBe(200);
      expect(busy.json()).toMatchObject({ status: 'degraded', storage: { status: 'busy' } });
      // Probes are shared, not queued: many checks while the store is stuck send one.
      await Promise.all(Array.from({ length: 10 }, () => app.inject({ method: 'GET', url: '/health', headers: { host: '127.0.0.1' } })));
      expect(parked()).toBe(1);
      await new Promise((r) => setTimeout(r, 450));
      const down = await app.inject({ method: 'GET', url: '/health', headers: { host: '127.0.0.1' } });
      expect(down.statusCode).toBe(503);
      expect(down.json()).toMatchObject({ status: 'unavailable', storage: { status: 'down', error: { code: 'STORAGE_TIMEOUT' } } });
      // Still down while the next probe is out; up once the store answers.
      expect((await app.inject({ method: 'GET', url: '/health', headers: { host: '127.0.0.1' } })).statusCode).toBe(503);
      open();
      await waitFor(
        async () => (await app.inject({ method: 'GET', url: '/health', headers: { host: '127.0.0.1' } })).json().status === 'ok',
        '/health to say ok',
      );
    } finally {
      await app.close();
      await engine.close();
      errors.mockRestore();
    }
  });
});
