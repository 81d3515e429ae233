/**
 * DBOS Transact running a 3-step workflow equivalent to the bench's 3-node flow, on the same
 * Postgres server in a database of its own (created and dropped here). Eight concurrent callers
 * invoke the workflow directly and await it — DBOS's most direct path (no queue in between).
 * DBOS is imported dynamically so the rest of the bench runs when it is not installed.
 */
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import pg from 'pg';
import { CONCURRENCY, inLanes, type ThroughputResult } from './worker-scenarios.js';

export type DbosResult = (ThroughputResult & { version: string }) | { error: string };

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The installed version (its package.json is not exported, so it is found next to the entry point). */
function dbosVersion(): string {
  const entry = createRequire(import.meta.url).resolve('@dbos-inc/dbos-sdk');
  const root = entry.slice(0, entry.lastIndexOf('/dist/'));
  return (JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as { version: string }).version;
}

export async function dbosWorkflows(serverUrl: string, runs: number): Promise<DbosResult> {
  let sdk: typeof import('@dbos-inc/dbos-sdk');
  try {
    sdk = await import('@dbos-inc/dbos-sdk');
  } catch (err) {
    return { error: `@dbos-inc/dbos-sdk cannot be imported: ${(err as Error).message}` };
  }
  const { DBOS } = sdk;
  const version = dbosVersion();
  const database = `hazel_bench_dbos_${randomBytes(4).toString('hex')}`;
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  await adminQuery(serverUrl, `CREATE DATABASE ${database}`);
  try {
    DBOS.setConfig({
      name: 'hazel-bench',
      applicationVersion: '0.1.0',
      systemDatabaseUrl: url.toString(),
      systemDatabasePoolSize: CONCURRENCY + 4,
      logLevel: 'error',
    });
    const step = async (value: unknown) => value;
    const workflow = DBOS.registerWorkflow(
      async (i: number) => {
        await DBOS.runStep(() => step(i), { name: 'a' });
        await DBOS.runStep(() => step({ b: true }), { name: 'b' });
        return DBOS.runStep(() => step('done'), { name: 'c' });
      },
      { name: 'bench3' },
    );
    await DBOS.launch();
    await inLanes(200, CONCURRENCY, (i) => workflow(-1 - i)); // warm-up
    const t0 = performance.now();
    await inLanes(runs, CONCURRENCY, (i) => workflow(i));
    const seconds = (performance.now() - t0) / 1000;
    await DBOS.shutdown();
    return { runs, seconds, runsPerSec: runs / seconds, stepsPerSec: (3 * runs) / seconds, version };
  } catch (err) {
    return { error: `DBOS failed to run: ${(err as Error).stack ?? String(err)}` };
  } finally {
    await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
  }
}
