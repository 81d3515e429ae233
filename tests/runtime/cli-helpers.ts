/** Runs the real `hazel-flow` binary (bin/hazel-flow.js) as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/hazel-flow.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Environment of the child: this process's, minus settings that would change what is tested. */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HAZEL_FLOW_FROM_SOURCE: '1', NO_COLOR: '1' };
  for (const key of ['FLOW_URL', 'FLOW_API_TOKEN', 'DATABASE_URL', 'FLOW_DATA_DIR', 'PORT', 'HOST', 'NODE_OPTIONS']) delete env[key];
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Async on purpose: the server under test runs in this process and must keep answering. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hazel-flow ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface LongRunning {
  child: ChildProcess;
  output(): string;
  /** Whether the process has exited. */
  exited(): boolean;
  /** Resolves with the first match of `pattern` in stdout+stderr. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

export function startCli(args: string[], env: Record<string, string | undefined> = {}, command: string[] = [BIN]): LongRunning {
  const child = spawn(process.execPath, [...command, ...args], { cwd: ROOT, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    output += d;
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  let hasExited = false;
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code, signal) => {
      hasExited = true;
      // Say how it ended: a process killed by a signal has no exit code (null).
      if (signal) output += `\n[test] process ended by ${signal}\n`;
      resolve(code);
    }),
  );
  return {
    child,
    output: () => output,
    exited: () => hasExited,
    waitFor: (pattern, timeoutMs = 90_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = output.match(pattern);
          if (m) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`No ${pattern} in ${timeoutMs} ms; output:\n${output}`));
        }, timeoutMs);
        listeners.add(check);
        void exited.then(() => {
          if (listeners.has(check)) {
            listeners.delete(check);
            clearTimeout(timer);
            reject(new Error(`Process exited before printing ${pattern}; output:\n${output}`));
          }
        });
        check();
      }),
    stop: async (signal = 'SIGTERM', timeoutMs = 30_000) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/**
 * Runs `body` against a long-running process, then stops it with `signal` and returns the exit
 * code. A failure of `body` is thrown as itself, after the stop: it is never hidden behind the
 * exit code of a process that was signalled before it was ready.
 */
export async function runThenStop<T>(
  proc: LongRunning,
  body: () => Promise<T>,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<{ value: T; code: number | null }> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await body() };
  } catch (error) {
    outcome = { ok: false, error };
  }
  const code = await proc.stop(signal);
  if (!outcome.ok) throw outcome.error;
  return { value: outcome.value, code };
}
