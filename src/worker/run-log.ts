/**
 * What happens to runs, as log lines: the lines an operator greps for (a run failed, an attempt
 * was interrupted by a crash, a node failed and will retry) at warn and info, every step at
 * debug — each with the run's `runId`, `flow`, `version` and `node` (logger.ts `runFields`).
 * Installed once per engine however many workers it runs (the first worker's logger is used),
 * from the engine's hooks, so that what `tick` and `runToCompletion` do is logged too.
 */
import type { FlowHookName, FlowHookPayload } from '../engine/events.js';
import type { WorkerHost } from './host.js';
import { runFields, type FlowLogger } from './logger.js';

type Level = 'debug' | 'info' | 'warn' | 'error';
const LINES: Array<[Exclude<FlowHookName, 'error'>, Level, string]> = [
  ['run:failed', 'warn', 'run failed'],
  ['node:interrupted', 'warn', 'attempt interrupted (its holder stopped or died); the node runs again'],
  ['node:failed', 'info', 'node attempt failed'],
  ['node:retry-scheduled', 'info', 'retry scheduled'],
  ['run:cancelled', 'info', 'run cancelled'],
  ['run:completed', 'debug', 'run completed'],
  ['run:waiting', 'debug', 'run waiting'],
  ['node:finished', 'debug', 'node finished'],
];

const perEngine = new WeakMap<WorkerHost, { off: Array<() => void>; users: number }>();

export function acquireRunLog(engine: WorkerHost, logger: FlowLogger): void {
  let entry = perEngine.get(engine);
  if (!entry) {
    const off = LINES.map(([hook, level, message]) =>
      engine.on(hook, ({ run, event }: FlowHookPayload) => {
        const error = event?.error ?? (hook === 'run:failed' ? run.error : null);
        logger[level](message, {
          ...runFields(run, event?.nodeId ?? null),
          ...(event?.attempt != null ? { attempt: event.attempt } : {}),
          ...(event?.durationMs != null ? { durationMs: event.durationMs } : {}),
          ...(error ? { code: error.code, error: error.message } : {}),
        });
      }),
    );
    perEngine.set(engine, (entry = { off, users: 0 }));
  }
  entry.users += 1;
}

export function releaseRunLog(engine: WorkerHost): void {
  const entry = perEngine.get(engine);
  if (!entry || --entry.users > 0) return;
  for (const off of entry.off) off();
  perEngine.delete(engine);
}
