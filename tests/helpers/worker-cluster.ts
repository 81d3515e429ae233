/**
 * Worker tests run the same scenarios on memory, PGlite and Postgres. A "cluster" is several
 * engines on one store's data, standing for several processes: on Postgres each engine gets a
 * pool of its own (exactly what another process would have); memory and PGlite live inside one
 * process, so their engines share the one store object (and its lock table).
 */
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { FlowEngine, type FlowEngineOptions } from '../../src/flow-engine.js';
import type { FlowDefinition } from '../../src/definitions/types.js';
import { createMemoryStorage } from '../../src/storage/memory.js';
import { createPGliteStorage } from '../../src/storage/pglite.js';
import { createPostgresStorage } from '../../src/storage/postgres.js';
import type { FlowStorage } from '../../src/storage/types.js';
import type { WorkerOptions } from '../../src/worker/types.js';
import type { FlowWorker } from '../../src/worker/worker.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from './pg.js';

export type WorkerStoreName = 'memory' | 'pglite' | 'postgres';

export interface WorkerStoreCase {
  name: WorkerStoreName;
  /** Why this store is skipped here, if it is. */
  skip?: string;
}

export const workerStoreCases: WorkerStoreCase[] = [
  { name: 'memory' },
  { name: 'pglite' },
  { name: 'postgres', skip: HAVE_PG ? undefined : 'Postgres unreachable (set FLOW_REQUIRE_POSTGRES=1 to fail instead)' },
];

/** Quiet logger that keeps what was said, for assertions. */
export function recordingLogger() {
  const lines: Array<{ level: string; message: string; meta?: Record<string, unknown> }> = [];
  const at = (level: string) => (message: string, meta?: Record<string, unknown>) => void lines.push({ level, message, meta });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

/** One embedded database per test file (it takes seconds to boot); each cluster gets a schema of its own in it. */
let sharedPGlite: Promise<PGlite> | undefined;

export class WorkerCluster {
  readonly engines: FlowEngine[] = [];
  readonly workers: FlowWorker[] = [];
  private readonly storages = new Set<FlowStorage>();
  private shared?: FlowStorage;

  private constructor(
    readonly store: WorkerStoreName,
    /** The Postgres schema (postgres only), for child processes and direct SQL. */
    readonly schema?: TestSchema,
    private readonly pglite?: PGlite,
  ) {}

  /** Boots what is slow to boot (the shared PGlite), for a `beforeAll` with the hook timeout. */
  static async prepare(store: WorkerStoreName): Promise<void> {
    if (store === 'pglite') await (sharedPGlite ??= PGlite.create());
  }

  static async open(store: WorkerStoreName): Promise<WorkerCluster> {
    if (store === 'postgres') return new WorkerCluster(store, await createTestSchema('flow_worker'));
    if (store === 'pglite') return new WorkerCluster(store, undefined, await (sharedPGlite ??= PGlite.create()));
    return new WorkerCluster(store);
  }

  /** A new engine on this cluster's data, with `defs` registered. */
  async engine(defs: FlowDefinition[], options: Omit<FlowEngineOptions, 'storage'> = {}): Promise<FlowEngine> {
    const engine = new FlowEngine({ ...options, storage: this.storageForEngine() });
    for (const def of defs) await engine.registerDefinition(def);
    this.engines.push(engine);
    return engine;
  }

  startWorker(engine: FlowEngine, options: WorkerOptions = {}): FlowWorker {
    const worker = engine.startWorker({ logger: recordingLogger().logger, ...options });
    this.workers.push(worker);
    return worker;
  }

  /** Stops every worker, then closes every store and drops the schema. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    await Promise.all([...this.storages].map((s) => s.close().catch(() => undefined)));
    await this.schema?.drop();
  }

  private storageForEngine(): FlowStorage {
    if (this.store === 'postgres') {
      const storage = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: this.schema!.schema, poolSize: 12 });
      this.storages.add(storage);
      return storage;
    }
    if (!this.shared && this.pglite) {
      this.shared = createPGliteStorage({ pglite: this.pglite, schema: `flow_worker_${randomBytes(6).toString('hex')}` });
    }
    this.shared ??= createMemoryStorage();
    this.storages.add(this.shared);
    return this.shared;
  }
}

/** Polls `check` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 20_000, intervalMs = 10): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A promise with its resolve function, for handlers that must block until the test lets them go. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
