/**
 * Process-level concerns shared by `npm start` and `hazel-flow serve|worker`: the start-up
 * banner and a graceful stop on SIGTERM/SIGINT (a second signal forces the exit).
 *
 * The signal handlers are installed before anything else happens — before the flows load and the
 * store opens (a PGlite boot or a migration takes seconds). A signal that arrives during that
 * start-up is remembered: the start-up finishes what it is doing (nothing is left half-opened or
 * half-migrated), starts no worker, and then closes and exits 0, as a stop after start-up would.
 * Without this, a deploy that stopped a process seconds after starting it killed it outright
 * (exit by signal) in the middle of opening its store.
 */
import type { FlowRuntime } from './runtime.js';
import { describeStorage } from '../storage/choose.js';

export function describeStartup(runtime: FlowRuntime, flowSource: string): string {
  const storage = runtime.engine.storage;
  const flows = runtime.engine.flowKeys();
  return [
    `[hazel-flow] dashboard  ${runtime.url}/`,
    `[hazel-flow] API        ${runtime.url}/v1  (OpenAPI: ${runtime.url}/openapi.json)`,
    `[hazel-flow] storage    ${describeStorage(storage)}${storage.durable ? '' : ' (NOT durable: runs are lost on restart)'}`,
    `[hazel-flow] worker     ${runtime.worker ? 'running in this process' : 'disabled'}`,
    `[hazel-flow] flows      ${flows.join(', ')} — from ${flowSource}`,
    `[hazel-flow] Ctrl+C to stop`,
  ].join('\n');
}

export interface GracefulStop {
  /** Whether SIGTERM/SIGINT has arrived: a start-up still in progress should start nothing more. */
  readonly requested: boolean;
  /**
   * Hands over what a signal must close once start-up is done. If a signal already came, it is
   * closed now (and the process exits); otherwise on the first signal.
   */
  attach(target: { close(): Promise<void> }): void;
}

const SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * Installs the SIGTERM/SIGINT handlers; call it first thing, before any await. The first signal
 * closes the attached target and exits 0 (1 if closing failed) — or, while nothing is attached
 * yet, waits for `attach`. A second signal exits at once (130).
 */
export function handleStopSignals(label = 'runtime'): GracefulStop {
  let requested = false;
  let target: { close(): Promise<void> } | null = null;
  let closing = false;
  const close = () => {
    if (closing || !target) return;
    closing = true;
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
  const onSignal = (signal: NodeJS.Signals) => {
    if (requested) {
      console.error(`[hazel-flow] ${signal} again: exiting without waiting`);
      process.exit(130);
    }
    requested = true;
    if (target) console.log(`[hazel-flow] ${signal}: stopping the ${label} (finishing in-flight steps)…`);
    else console.log(`[hazel-flow] ${signal} during start-up: stopping the ${label} as soon as its store is open`);
    close();
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return {
    get requested() {
      return requested;
    },
    attach(t) {
      target = t;
      if (requested) close();
    },
  };
}
