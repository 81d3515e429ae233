/**
 * Spawns the worker fixture (tests/worker/fixtures/worker-process.ts) as a real child process
 * and lets a test await the lines it prints (READY, ENTERED …) and its exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('../worker/fixtures/worker-process.ts', import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  lines: string[];
  /** Resolves with the first line (already printed or to come) that `match` accepts. */
  line(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnWorkerProcess(env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters = new Set<{ match: (l: string) => boolean; resolve: (l: string) => void; reject: (e: Error) => void }>();
  let buffer = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) if (w.match(line)) (waiters.delete(w), w.resolve(line));
    }
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => void (stderr += chunk));
  const describe = () => `stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`;
  let hasExited = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      hasExited = true;
      for (const w of [...waiters]) w.reject(new Error(`worker process ${child.pid} exited (${signal ?? code}) before printing the awaited line; ${describe()}`));
      waiters.clear();
      resolve({ code, signal });
    }),
  );
  return {
    child,
    pid: child.pid!,
    lines,
    exited,
    line(match, timeoutMs = 30_000) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      if (hasExited) return Promise.reject(new Error(`worker process ${child.pid} has exited; ${describe()}`));
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`worker process ${child.pid}: no matching line within ${timeoutMs} ms; ${describe()}`));
        }, timeoutMs);
        const waiter = {
          match,
          resolve: (l: string) => (clearTimeout(timer), resolve(l)),
          reject: (e: Error) => (clearTimeout(timer), reject(e)),
        };
        waiters.add(waiter);
      });
    },
  };
}
