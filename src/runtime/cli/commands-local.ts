/**
 * CLI commands that open the store themselves: serve (API + dashboard + worker), worker (a
 * worker process only, to scale out against one Postgres), migrate (apply the schema).
 */
import type { FlowDefinition } from '../../definitions/types.js';
import { FlowEngine } from '../../engine/engine.js';
import { SqlFlowStorage } from '../../storage/sql/sql-storage.js';
import { migrate } from '../../storage/sql/migrate.js';
import { loadExampleFlows, loadFlowsFromModule } from '../flow-modules.js';
import { describeStartup, stopOnSignals } from '../lifecycle.js';
import { runFlowRuntime } from '../runtime.js';
import { chooseStorage, describeStorage } from '../storage-choice.js';
import { UsageError } from './usage.js';

export interface StoreOptions {
  databaseUrl?: string;
  dataDir?: string;
}

async function loadFlows(modulePath: string | undefined): Promise<{ flows: FlowDefinition[]; source: string }> {
  if (modulePath) return { flows: await loadFlowsFromModule(modulePath), source: modulePath };
  const examples = await loadExampleFlows();
  return { flows: examples.flows, source: examples.source };
}

function parseIntOption(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new UsageError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

export async function serveCommand(opts: StoreOptions & { flows?: string; port?: string; host?: string; noWorker?: boolean; allowInsecureBind?: boolean }) {
  const { flows, source } = await loadFlows(opts.flows);
  const runtime = await runFlowRuntime({
    flows,
    port: parseIntOption('--port', opts.port, 0, 65535),
    host: opts.host,
    databaseUrl: opts.databaseUrl,
    dataDir: opts.dataDir,
    worker: !opts.noWorker,
    allowInsecureBind: opts.allowInsecureBind || process.env.FLOW_ALLOW_INSECURE_BIND === '1',
  });
  // Handlers first: whoever waits for the banner may signal the moment it appears.
  stopOnSignals(runtime);
  console.log(describeStartup(runtime, source));
}

export async function workerCommand(opts: StoreOptions & { flows?: string; concurrency?: string }) {
  const { flows, source } = await loadFlows(opts.flows);
  const engine = new FlowEngine({ storage: chooseStorage(opts) });
  try {
    for (const def of flows) await engine.registerDefinition(def);
  } catch (err) {
    await engine.close().catch(() => {});
    throw err;
  }
  engine.startWorker({ concurrency: parseIntOption('--concurrency', opts.concurrency, 1, 1000) });
  stopOnSignals(engine, 'worker'); // before the banner: whoever waits for it may signal at once
  console.log(`[hazel-flow] worker on ${describeStorage(engine.storage)} for ${engine.registry.keys().join(', ')} (from ${source}); Ctrl+C to stop`);
}

export async function migrateCommand(opts: StoreOptions & { json: boolean }) {
  const storage = chooseStorage(opts);
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
