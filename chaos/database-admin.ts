/**
 * What the soak does to Postgres from outside: short-lived admin connections (a storm or a
 * restart kills any long-lived one), terminating the soak's sessions by application_name,
 * restarting the server, and looking for advisory locks left behind.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import pg from 'pg';
import { withApplicationName } from './child-process.js';

const run = promisify(execFile);

export class DatabaseAdmin {
  constructor(
    private readonly url: string,
    /** application_name prefix of every session the soak opens (workers, the soak's own engine). */
    readonly tag: string,
  ) {}

  /**
   * One statement on a fresh connection, retried while the server is down (a restart takes
   * seconds). An error of the statement itself (bad SQL, a missing column) is thrown at once.
   */
  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = [], patienceMs = 60_000): Promise<R[]> {
    const deadline = Date.now() + patienceMs;
    for (;;) {
      const client = new pg.Client({ connectionString: withApplicationName(this.url, `${this.tag}-admin`), connectionTimeoutMillis: 5000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        return (await client.query<R>(sql, params)).rows;
      } catch (err) {
        if (Date.now() > deadline || !isConnectionError(err)) throw err;
        await new Promise((r) => setTimeout(r, 250));
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  }

  /** Terminates every session whose application_name starts with `prefix` (the admin's own excepted). */
  async terminateSessions(prefix: string): Promise<number> {
    const [row] = await this.query<{ n: number }>(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
       WHERE application_name LIKE $1 AND application_name <> $2 AND pid <> pg_backend_pid()`,
      [`${prefix}%`, `${this.tag}-admin`],
    );
    return row!.n;
  }

  async sessionCount(prefix: string): Promise<number> {
    const [row] = await this.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE $1 AND application_name <> $2`, [
      `${prefix}%`,
      `${this.tag}-admin`,
    ]);
    return row!.n;
  }

  /** Restarts the local cluster (Debian's pg_ctlcluster, fast mode) and waits until it answers. */
  async restartPostgres(): Promise<{ restartMs: number; answeringAfterMs: number }> {
    const version = readdirSync('/etc/postgresql').sort().pop();
    if (!version) throw new Error('no cluster under /etc/postgresql: cannot restart Postgres');
    const started = Date.now();
    await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart']);
    const restartMs = Date.now() - started;
    await this.query('SELECT 1');
    return { restartMs, answeringAfterMs: Date.now() - started };
  }

  /** Advisory locks in pg_locks whose key is a run lock of this schema (see sqlNames().lockKey). */
  async runLocksHeld(schema: string): Promise<number> {
    const [row] = await this.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks l
       JOIN "${schema}".flow_runs r
         ON (l.classid::int8 << 32) | l.objid::int8 = hashtextextended('hazel-flow:' || $1 || ':' || r.run_id, 0)
       WHERE l.locktype = 'advisory' AND l.objsubid = 1`,
      [schema],
    );
    return row!.n;
  }
}

/** No SQLSTATE (a socket error, a timeout), or one of connection exceptions (08), operator intervention (57: shutdown, terminated, starting up) or insufficient resources (53). */
function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || /^(08|57|53)/.test(code);
}
