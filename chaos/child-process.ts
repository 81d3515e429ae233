/**
 * A TypeScript script run as a real child process (node + tsx, resolving '@hazeljs/flow' to the
 * sources), whose stdout lines can be awaited. The one spawn helper of the chaos soak (its
 * workers) and the multi-process tests (tests/helpers/worker-process.ts, the stale-worker test):
 * crashes, SIGSTOP and lost sessions are only real across processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface ScriptProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** The first line (already printed or to come) that `match` accepts. */
  line(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** stderr so far (for failure messages). */
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly hasExited: boolean;
}

export function spawnScript(script: string, env: Record<string, string>, onLine?: (line: string) => void): ScriptProcess {
  const child = spawn(process.execPath, ['--conditions=hazel-source', '--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters = new Set<{ match: (l: string) => boolean; resolve: (l: string) => void; reject: (e: Error) => void }>();
  let buffer = '';
  let errText = '';
  let exited = false;
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      lines.push(line);
      onLine?.(line);
      for (const w of [...waiters]) {
        if (!w.match(line)) continue;
        waiters.delete(w);
        w.resolve(line);
      }
    }
  });
  // Keep only the tail: a long soak must not grow without bound.
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => void (errText = (errText + chunk).slice(-20_000)));
  const describe = () => `stdout (last 40 lines):\n${lines.slice(-40).join('\n')}\nstderr:\n${errText}`;
  const exitedPromise = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      exited = true;
      for (const w of [...waiters]) w.reject(new Error(`process ${child.pid} exited (${signal ?? code}) before printing the awaited line; ${describe()}`));
      waiters.clear();
      resolve({ code, signal });
    }),
  );
  return {
    child,
    pid: child.pid!,
    lines,
    exited: exitedPromise,
    get hasExited() {
      return exited;
    },
    stderr: () => errText,
    line(match, timeoutMs = 30_000) {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      if (exited) return Promise.reject(new Error(`process ${child.pid} has exited; ${describe()}`));
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`process ${child.pid}: no matching line within ${timeoutMs} ms; ${describe()}`));
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

/** A connection string with `application_name` set, so the process's sessions can be found in pg_stat_activity. */
export function withApplicationName(url: string, name: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', name);
  return u.toString();
}
