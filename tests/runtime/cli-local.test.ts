/**
 * The binary's commands that open the store themselves (serve, worker, migrate) and `npm start`,
 * each as a real child process on a temporary PGlite folder, stopped with SIGTERM.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, runThenStop, startCli, type LongRunning } from './cli-helpers.js';
import { http, waitFor } from './helpers.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'flow-cli-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
// One data folder for the file: creating a PGlite cluster (initdb) is the slow part of a start,
// so the commands after `migrate` reuse the one it created (each still works on its own).
const dataDir = tempDir();

const FIXTURE = 'tests/runtime/fixtures/cli-flows.ts';
const DASHBOARD_LINE = /dashboard\s+(http:\/\/127\.0\.0\.1:\d+)\//;

// PGlite boots a WebAssembly Postgres per process: allow for a busy machine.
describe('hazel-flow serve | worker | migrate, npm start', { timeout: 180_000 }, () => {
  it('migrate applies the schema once, then reports it up to date', async () => {
    const dir = dataDir;
    const first = await runCli(['migrate', '--data-dir', dir], {}, 120_000);
    expect(first.code, first.stderr).toBe(0);
    const applied = /^Applied (\d+) migration\(s\) on pglite \(pglite:\/\/.+\):\n((?: {2}\d+_\w+\n?)+)$/m.exec(first.stdout);
    expect(applied, first.stdout).not.toBeNull();
    const names = applied![2].trim().split(/\s+/);
    expect(names).toHaveLength(Number(applied![1]));
    expect(names[0]).toMatch(/^\d+_init$/);
    const second = await runCli(['migrate', '--data-dir', dir, '--json'], {}, 120_000);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual({ storage: 'pglite', applied: [] });
  });

  it('serve runs the API, dashboard and worker on PGlite, and stops on SIGTERM', async () => {
    const server = startCli(['serve', '--port', '0', '--data-dir', dataDir, '--flows', FIXTURE]);
    const { code } = await runThenStop(server, async () => {
      const url = (await server.waitFor(DASHBOARD_LINE))[1];
      expect(server.output()).toMatch(/storage\s+pglite/);
      expect(server.output()).toMatch(/flows\s+cli-ping@1\.0\.0 — from tests\/runtime\/fixtures\/cli-flows\.ts/);
      expect((await http(url, 'GET', '/health')).body).toMatchObject({ storage: { kind: 'pglite', durable: true } });
      expect((await http(url, 'GET', '/')).status).toBe(200);
      const started = await http(url, 'POST', '/v1/runs/start', { json: { flowId: 'cli-ping', version: '1.0.0' } });
      expect(started.status).toBe(201);
      // The server's own worker drives it to the end.
      const run = await waitFor(
        async () => {
          const res = await http(url, 'GET', `/v1/runs/${started.body.runId}`);
          return res.body.run.status === 'COMPLETED' ? res.body.run : null;
        },
        'the run to complete',
        60_000,
      );
      expect(run.stateJson).toEqual({ echoed: 'pong' });
    });
    expect(code, server.output()).toBe(0);
    expect(server.output()).toMatch(/SIGTERM: stopping the runtime/);
    expect(server.output()).toMatch(/\[hazel-flow\] stopped/);
  });

  it('serve refuses a network bind without a token (exit 1, nothing opened)', async () => {
    const dir = join(tempDir(), 'never-created');
    const res = await runCli(['serve', '--host', '0.0.0.0', '--port', '0', '--data-dir', dir, '--flows', FIXTURE]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/INSECURE_BIND: Refusing to listen on 0\.0\.0\.0 without an API token/);
    expect(existsSync(dir)).toBe(false);
  });

  it('serve and worker reject a flows module that exports no flow', async () => {
    const res = await runCli(['worker', '--flows', 'tests/runtime/cli-helpers.ts', '--data-dir', tempDir()]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/exports no flow definitions/);
  });

  it('worker runs a worker only, and stops on SIGTERM', async () => {
    const worker = startCli(['worker', '--data-dir', dataDir, '--flows', FIXTURE, '--concurrency', '2']);
    const { code } = await runThenStop(worker, () => worker.waitFor(/worker on pglite .+ for cli-ping@1\.0\.0/));
    expect(code, worker.output()).toBe(0);
    expect(worker.output()).toMatch(/SIGTERM: stopping the worker/);
  });

  /**
   * The window that made the test above flaky: a SIGTERM while the process is still starting —
   * here, while PGlite creates and migrates a new data folder (seconds) — killed it outright
   * (exit code null). The handlers are now installed before anything is opened, so wherever the
   * signal lands, start-up finishes what it is doing, starts nothing more, and the process exits 0.
   */
  async function signalDuringStartup(proc: LongRunning, dir: string, label: string) {
    await waitFor(async () => existsSync(dir) || proc.exited(), `${label} to start creating ${dir}`, 90_000);
    const early = !/Ctrl\+C to stop/.test(proc.output());
    const code = await proc.stop('SIGTERM', 90_000);
    expect(code, proc.output()).toBe(0);
    if (early) {
      expect(proc.output()).toMatch(new RegExp(`SIGTERM during start-up: stopping the ${label}`));
      expect(proc.output()).not.toMatch(/Ctrl\+C to stop/);
    }
    expect(proc.output()).toMatch(/\[hazel-flow\] stopped/);
    // Nothing was left half-created or half-migrated: the folder opens, with no migration pending.
    const check = await runCli(['migrate', '--data-dir', dir, '--json'], {}, 120_000);
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toEqual({ storage: 'pglite', applied: [] });
  }

  it('worker signalled while its store is being created stops cleanly (exit 0)', async () => {
    const dir = join(tempDir(), 'created-by-the-worker');
    await signalDuringStartup(startCli(['worker', '--data-dir', dir, '--flows', FIXTURE]), dir, 'worker');
  });

  it('serve signalled while its store is being created stops cleanly (exit 0)', async () => {
    const dir = join(tempDir(), 'created-by-serve');
    await signalDuringStartup(startCli(['serve', '--port', '0', '--data-dir', dir, '--flows', FIXTURE]), dir, 'runtime');
  });

  it('npm start serves the example flows and stops on SIGTERM', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
    // One process (tsx as a loader, not the tsx CLI): a stop signal reaches the runtime itself. The
    // tsx CLI relays it to a child and, when the child does not answer within ~60 ms (a loaded
    // machine), SIGKILLs it and exits 143 — a graceful stop lost.
    const [tool, ...args] = pkg.scripts.start.split(/\s+/);
    expect(tool).toBe('node');
    expect(args.slice(0, 2)).toEqual(['--import', 'tsx']);
    const app = startCli(args, { PORT: '0', FLOW_DATA_DIR: dataDir }, []);
    const { code } = await runThenStop(app, async () => {
      const url = (await app.waitFor(DASHBOARD_LINE))[1];
      expect(app.output()).toMatch(/Ctrl\+C to stop/);
      const flows = await http(url, 'GET', '/v1/flows');
      // The example flows (or the built-in demo flows) are registered and executable here.
      expect(flows.body.flows.filter((f: { registered: boolean }) => f.registered).length).toBeGreaterThanOrEqual(2);
      expect((await http(url, 'GET', '/health')).body.storage.kind).toBe('pglite');
    });
    expect(code, app.output()).toBe(0);
  });
});
