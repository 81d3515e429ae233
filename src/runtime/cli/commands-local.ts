/**
 * CLI commands that open the store themselves: serve (API + dashboard + worker), worker (a
 * worker process only, to scale out against one Postgres), migrate (apply the schema).
 */
import { DEFAULT_DATA_DIR, environment } from '../../config.js';
import type { FlowDefinition } from '../../definitions/types.js';
import { FlowEngine } from '../../flow-engine.js';
import { chooseStorage, describeStorage } from '../../storage/choose.js';
import { SqlFlowStorage } from '../../storage/sql/sql-storage.js';
import { migrate } from '../../storage/sql/migrate.js';
import { loadExampleFlows, loadFlowsFromModule } from '../flow-modules.js';
import { describeStartup, handleStopSignals } from '../lifecycle.js';
import type { PruneScheduleOptions } from '../prune-schedule.js';
import { runFlowRuntime } from '../runtime.js';
import { parseIntOption } from './usage.js';

export interface StoreOptions {
  databaseUrl?: string;
  dataDir?: string;
}

async function loadFlows(modulePath: string | undefined): Promise<{ flows: FlowDefinition[]; source: string }> {
  if (modulePath) return { flows: await loadFlowsFromModule(modulePath), source: modulePath };
  const examples = await loadExampleFlows();
  return { flows: examples.flows, source: examples.source };
}

export async function serveCommand(
  opts: StoreOptions & { flows?: string; port?: string; host?: string; noWorker?: boolean; allowInsecureBind?: boolean; prune?: PruneScheduleOptions },
) {
  const port = parseIntOption('--port', opts.port, 0, 65535);
  // Before any await (see lifecycle.ts): a signal during start-up stops the server once it is open.
  const stop = handleStopSignals('runtime');
  console.log('[hazel-flow] starting the runtime…');
  const { flows, source } = await loadFlows(opts.flows);
  const runtime = await runFlowRuntime({
    flows,
    port,
    host: opts.host,
    databaseUrl: opts.databaseUrl,
    dataDir: opts.dataDir,
    worker: !opts.noWorker && !stop.requested,
    allowInsecureBind: opts.allowInsecureBind || environment.allowInsecureBind,
    prune: opts.prune,
  });
  if (!stop.requested) console.log(describeStartup(runtime, source));
  stop.attach(runtime);
}

export async function workerCommand(opts: StoreOptions & { flows?: string; concurrency?: string }) {
  const concurrency = parseIntOption('--concurrency', opts.concurrency, 1, 1000);
  // Before any await (see lifecycle.ts): a signal during start-up stops the worker once its store is open.
  const stop = handleStopSignals('worker');
  console.log('[hazel-flow] starting the worker…');
  const { flows, source } = await loadFlows(opts.flows);
  const engine = new FlowEngine({ storage: chooseStorage({ ...opts, defaultDataDir: DEFAULT_DATA_DIR }) });
  try {
    for (const def of flows) await engine.registerDefinition(def);
  } catch (err) {
    await engine.close().catch(() => {});
    throw err;
  }
  if (!stop.requested) {
    engine.startWorker({ concurrency });
    console.log(`[hazel-flow] worker on ${describeStorage(engine.storage)} for ${engine.flowKeys().join(', ')} (from ${source}); Ctrl+C to stop`);
  }
  stop.attach(engine);
}

export async function migrateCommand(opts: StoreOptions & { json: boolean }) {
  const storage = chooseStorage({ ...opts, defaultDataDir: DEFAULT_DATA_DIR });
  try {
    // SqlFlowStorage exposes its executor: run the migrator directly to report what it applied.
    const applied = storage instanceof SqlFlowStorage ? (await migrate(storage.executor)).applied : (await storage.init(), []);
    if (opts.json) console.log(JSON.stringify({ storage: storage.kind, applied }, null, 2));
    else if (applied.length === 0) console.log(`Schema is up to date on ${describeStorage(storage)}.`);
    else console.log(`Applied ${applied.length} migration(s) on ${describeStorage(storage)}:\n${applied.map((m) => `  ${m}`).join('\n')}`);
  } finally {
    await storage.close();
  }
}
