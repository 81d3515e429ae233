/**
 * `npm start`: the runtime with the example flows on the embedded store (or DATABASE_URL),
 * a worker, the API and the dashboard. Configured by environment only:
 *   PORT (3000), HOST (127.0.0.1), DATABASE_URL, FLOW_DATA_DIR (./.flow-data),
 *   FLOW_API_TOKEN, FLOW_ALLOW_INSECURE_BIND=1.
 */
import { loadExampleFlows } from './flow-modules.js';
import { runFlowRuntime, type FlowRuntime } from './runtime.js';
import { describeStartup, stopOnSignals } from './lifecycle.js';

async function main(): Promise<void> {
  const { flows, source, skipped } = await loadExampleFlows();
  for (const file of skipped) console.warn(`[hazel-flow] ${file} exports no ready flow definition; skipped`);
  const runtime: FlowRuntime = await runFlowRuntime({
    flows,
    allowInsecureBind: process.env.FLOW_ALLOW_INSECURE_BIND === '1',
  });
  stopOnSignals(runtime); // before the banner: whoever waits for it may signal at once
  console.log(describeStartup(runtime, source));
}

main().catch((err: unknown) => {
  console.error(`[hazel-flow] failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
