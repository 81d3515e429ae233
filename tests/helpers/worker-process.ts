/**
 * Spawns the worker fixture (tests/worker/fixtures/worker-process.ts) as a real child process
 * and lets a test await the lines it prints (READY, ENTERED …) and its exit. The spawning itself
 * is the one helper the chaos soak and the stale-worker test use too (chaos/child-process.ts).
 */
import { fileURLToPath } from 'node:url';
import { spawnScript, type ScriptProcess } from '../../chaos/child-process.js';

const FIXTURE = fileURLToPath(new URL('../worker/fixtures/worker-process.ts', import.meta.url));

export type WorkerProcess = ScriptProcess;

export function spawnWorkerProcess(env: Record<string, string>): WorkerProcess {
  return spawnScript(FIXTURE, env);
}
