/**
 * `npm start`: the runtime with the example flows on the embedded store (or DATABASE_URL),
 * a worker, the API and the dashboard. Configured by environment only:
 *   PORT (3000), HOST (127.0.0.1), DATABASE_URL, FLOW_DATA_DIR (./.flow-data),
 *   FLOW_API_TOKEN, FLOW_ALLOW_INSECURE_BIND=1, FLOW_PRUNE_EVERY, FLOW_PRUNE_OLDER_THAN.
 */
import { environment } from '../config.js';
import { loadExampleFlows } from './flow-modules.js';
import { runFlowRuntime, type FlowRuntime } from './runtime.js';
import { describeStartup, handleStopSignals } from './lifecycle.js';

async function main(): Promise<void> {
  // First, before any await: a SIGTERM during start-up (loading flows, opening and migrating the
  // store) must stop the runtime gracefully, not kill it half-opened.
  const stop = handleStopSignals('runtime');
  const { flows, source, skipped } = await loadExampleFlows();
  for (const file of skipped) console.warn(`[hazel-flow] ${file} exports no ready flow definition; skipped`);
  const runtime: FlowRuntime = await runFlowRuntime({
    flows,
    worker: !stop.requested,
    allowInsecureBind: environment.allowInsecureBind,
  });
  if (!stop.requested) console.log(describeStartup(runtime, source));
  stop.attach(runtime);
}

main().catch((err: unknown) => {
  console.error(`[hazel-flow] failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
