/**
 * Soak settings: flags win over environment variables, which win over the defaults. `--ci` is the
 * short version for CI (200 runs, a few kills, one session storm, one pause/takeover, no Postgres
 * restart); any explicit flag still overrides it.
 */
export interface SoakOptions {
  /** Postgres to soak (flag --database-url, env CHAOS_DATABASE_URL, DATABASE_URL; default the local test database). */
  databaseUrl: string;
  /** Runs started (--runs, CHAOS_RUNS; default 2000, --ci 200). */
  runs: number;
  /** Worker processes (--workers, CHAOS_WORKERS; default 4). */
  workers: number;
  /** Runs each worker advances at once (--concurrency, CHAOS_CONCURRENCY; default 6). */
  concurrency: number;
  /** Seconds over which the runs are started; faults are spread over this window (--load-seconds; default 30, --ci 10). */
  loadSeconds: number;
  /** Mean ms between SIGKILLs of a random worker (--kill-every-ms; default 2500, --ci 3000); 0 = none. */
  killEveryMs: number;
  /** Session-termination storms (pg_terminate_backend of every soak session) (--storms; default 4, --ci 1). */
  storms: number;
  /** SIGSTOP-inside-a-handler takeovers (--pauses; default 1). */
  pauses: number;
  /** Restart Postgres once (pg_ctlcluster) (--pg-restart / --no-pg-restart; default on, off with --ci). */
  pgRestart: boolean;
  /** Give up waiting for runs to finish after this many seconds (--timeout-seconds; default 600, --ci 150). */
  timeoutSeconds: number;
  /** Keep the schema afterwards for inspection (--keep). */
  keep: boolean;
  ci: boolean;
}

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';

export function parseSoakOptions(argv: string[], env: NodeJS.ProcessEnv): SoakOptions {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    const boolean = ['ci', 'keep', 'pg-restart', 'no-pg-restart', 'help'].includes(name);
    flags.set(name, inline ?? (boolean ? 'true' : (argv[++i] ?? '')));
  }
  if (flags.has('help')) {
    console.log(USAGE);
    process.exit(0);
  }
  const ci = flags.has('ci') || env.CHAOS_CI === '1';
  const num = (flag: string, envName: string, normal: number, short: number, min = 0): number => {
    const raw = flags.get(flag) ?? env[envName];
    if (raw === undefined) return ci ? short : normal;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min) throw new Error(`--${flag} (${envName}) must be a number >= ${min}, got ${JSON.stringify(raw)}`);
    return value;
  };
  return {
    databaseUrl: flags.get('database-url') ?? env.CHAOS_DATABASE_URL ?? env.DATABASE_URL ?? DEFAULT_URL,
    runs: num('runs', 'CHAOS_RUNS', 2000, 200, 1),
    workers: num('workers', 'CHAOS_WORKERS', 4, 4, 2),
    concurrency: num('concurrency', 'CHAOS_CONCURRENCY', 6, 6, 1),
    loadSeconds: num('load-seconds', 'CHAOS_LOAD_SECONDS', 30, 10, 1),
    killEveryMs: num('kill-every-ms', 'CHAOS_KILL_EVERY_MS', 2500, 3000),
    storms: num('storms', 'CHAOS_STORMS', 4, 1),
    pauses: num('pauses', 'CHAOS_PAUSES', 1, 1),
    pgRestart: flags.has('no-pg-restart') ? false : flags.has('pg-restart') ? true : env.CHAOS_PG_RESTART !== undefined ? env.CHAOS_PG_RESTART === '1' : !ci,
    timeoutSeconds: num('timeout-seconds', 'CHAOS_TIMEOUT_SECONDS', 600, 150, 1),
    keep: flags.has('keep'),
    ci,
  };
}

const USAGE = `npm run chaos -- [--ci] [--runs N] [--workers N] [--concurrency N] [--load-seconds S]
  [--kill-every-ms MS] [--storms N] [--pauses N] [--pg-restart | --no-pg-restart]
  [--timeout-seconds S] [--database-url URL] [--keep]
Environment: CHAOS_RUNS, CHAOS_WORKERS, CHAOS_CONCURRENCY, CHAOS_LOAD_SECONDS, CHAOS_KILL_EVERY_MS,
  CHAOS_STORMS, CHAOS_PAUSES, CHAOS_PG_RESTART=0|1, CHAOS_TIMEOUT_SECONDS, CHAOS_DATABASE_URL, CHAOS_CI=1.
Exits 1 on any violation, 2 when the soak itself could not run.`;
