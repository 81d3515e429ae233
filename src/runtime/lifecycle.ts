/**
 * Process-level concerns shared by `npm start` and `hazel-flow serve|worker`: the start-up
 * banner and a graceful stop on SIGTERM/SIGINT (a second signal forces the exit).
 */
import type { FlowRuntime } from './runtime.js';
import { describeStorage } from './storage-choice.js';

export function describeStartup(runtime: FlowRuntime, flowSource: string): string {
  const storage = runtime.engine.storage;
  const flows = runtime.engine.registry.keys();
  return [
    `[hazel-flow] dashboard  ${runtime.url}/`,
    `[hazel-flow] API        ${runtime.url}/v1  (OpenAPI: ${runtime.url}/openapi.json)`,
    `[hazel-flow] storage    ${describeStorage(storage)}${storage.durable ? '' : ' (NOT durable: runs are lost on restart)'}`,
    `[hazel-flow] worker     ${runtime.worker ? 'running in this process' : 'disabled'}`,
    `[hazel-flow] flows      ${flows.join(', ')} — from ${flowSource}`,
    `[hazel-flow] Ctrl+C to stop`,
  ].join('\n');
}

/** Closes `target` on the first SIGTERM/SIGINT and exits 0 (1 if closing failed); a second signal exits at once. */
export function stopOnSignals(target: { close(): Promise<void> }, label = 'runtime'): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      console.error(`[hazel-flow] ${signal} again: exiting without waiting`);
      process.exit(130);
    }
    stopping = true;
    console.log(`[hazel-flow] ${signal}: stopping the ${label} (finishing in-flight steps)…`);
    target.close().then(
      () => {
        console.log('[hazel-flow] stopped');
        process.exit(0);
      },
      (err: unknown) => {
        console.error('[hazel-flow] error while stopping:', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
