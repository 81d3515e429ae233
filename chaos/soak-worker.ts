/**
 * One soak worker process. Environment:
 *   DATABASE_URL   Postgres, with application_name set (the soak finds this process's sessions by it)
 *   CHAOS_SCHEMA   the soak's schema
 *   CONCURRENCY    runs advanced at once (default 6)
 *   MAX_RECOVERIES interrupted attempts in a row before POISON_PILL (the soak interrupts on purpose)
 * stdout: `READY <pid>`; `PAUSED <runId> <nodeId> <attempt> <itemIndex|->` when a handler stops at the pause point
 * (armed by SIGUSR2: the soak then freezes this process inside that handler); `COUNTERS <json>`
 * on SIGUSR1 and `STOPPED <json>` after a graceful stop (SIGTERM).
 */
import pg from 'pg';
import { FlowEngine, createPostgresStorage } from '@hazeljs/flow';
import { soakFlows } from './soak-flow.js';
import { soakEffects } from './side-tables.js';
import { limitedSoakFlow } from './soak-limited.js';

const env = process.env;
const say = (line: string) => process.stdout.write(`${line}\n`);
const quiet = () => undefined;

const storage = createPostgresStorage({ connectionString: env.DATABASE_URL, schema: env.CHAOS_SCHEMA, poolSize: Number(env.CONCURRENCY ?? 6) + 3 });
const engine = new FlowEngine({ storage, maxRecoveries: Number(env.MAX_RECOVERIES ?? 50) });
// The handlers' own connections (execution log, side effects); errors of idle ones must not crash us.
// Map items run concurrently inside each run, so handlers need more than a couple.
const side = new pg.Pool({ connectionString: env.DATABASE_URL, max: 4, connectionTimeoutMillis: 5000 });
side.on('error', quiet);

// A soak that died without stopping us (killed, crashed) must not leave us running: we exit when
// our parent is gone (we are re-parented).
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) process.exit(3);
}, 1000).unref();

let pauseArmed = false;
process.on('SIGUSR2', () => (pauseArmed = true));

// The soak's flow and its child flow: a worker runs parent and child runs alike.
const definitions = soakFlows(
  soakEffects(side, env.CHAOS_SCHEMA!, async (ctx) => {
    if (pauseArmed) {
      pauseArmed = false;
      say(`PAUSED ${ctx.runId} ${ctx.meta.nodeId} ${ctx.meta.attempt} ${ctx.itemIndex ?? '-'}`);
      // The soak freezes us (SIGSTOP) during this sleep; the handler resumes where it was.
      await new Promise((r) => setTimeout(r, 1500));
      // One more turn of the event loop after the thaw, so the connection's death (terminated while
      // frozen) is noticed before the commit: the lease then knows its lock is gone (StaleRunError).
      await new Promise((r) => setTimeout(r, 50));
    }
  }),
);
// A restart can begin while the database is being restarted or our sessions terminated: keep trying.
for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
  try {
    for (const definition of definitions) await engine.registerDefinition(definition);
    await engine.registerDefinition(limitedSoakFlow(side, env.CHAOS_SCHEMA!));
    break;
  } catch {
    await new Promise((r) => setTimeout(r, delay));
  }
}

const worker = engine.startWorker({
  concurrency: Number(env.CONCURRENCY ?? 6),
  pollIntervalMs: 250,
  stopTimeoutMs: 5000,
  logger: { debug: quiet, info: quiet, warn: quiet, error: quiet }, // expected under chaos; the counters tell
  openTelemetry: false,
});
await worker.started;
say(`READY ${process.pid}`);

process.on('SIGUSR1', () => say(`COUNTERS ${JSON.stringify(worker.status().counters)}`));
process.once('SIGTERM', () => {
  void (async () => {
    await engine.close();
    await side.end().catch(quiet);
    say(`STOPPED ${JSON.stringify(worker.status().counters)}`);
    process.exit(0);
  })();
});
