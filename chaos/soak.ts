/**
 * `npm run chaos` — the fault-injection soak (issue 6). Worker processes advance many runs of the
 * soak flow (and the child run each starts), and a quarter as many of the saga flow (failures
 * caught or compensated, chaos/saga-flow.ts), on the local Postgres while workers are SIGKILLed and
 * restarted, one is frozen inside a handler and taken over, every session is terminated several
 * times and Postgres restarts once. The soak is the outside world too: it approves the runs that
 * wait for approval and sends each run's signal event, at a random moment (often before the run
 * reaches its wait), some twice. Then the database is checked (chaos/verify.ts). Prints a report;
 * exits 1 on any violation, 2 when the soak itself could not run. `--help` lists the settings;
 * `--ci` is the short version.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { FlowEngine, createPostgresStorage, type StartRunArgs } from '@hazeljs/flow';
import { withApplicationName } from './child-process.js';
import { DatabaseAdmin } from './database-admin.js';
import { injectFaults, planFaults, type FaultRecord } from './faults.js';
import { parseSoakOptions, type SoakOptions } from './options.js';
import { printReport } from './report.js';
import { SAGA_EVERY, SAGA_FLOW_ID, SAGA_FLOW_VERSION, type SagaInput } from './saga-flow.js';
import { sideTables, soakEffects } from './side-tables.js';
import { APPROVAL_REASON, approvalPayload, SIGNAL_EVENT, SIGNAL_NODE, signalPayload, SOAK_FLOW_ID, soakFlows, soakInput, type SoakInput } from './soak-flow.js';
import { SOAK_FLOW_VERSION, SOAK_MIGRATED_VERSION } from './soak-flow.js';
import { verifySoak, type SentSignal } from './verify.js';
import { startSoakSchedule, stopSoakSchedule } from './soak-schedule.js';
import { limitedSoakFlow, limitedTables, startLimitedRuns, verifyLimited } from './soak-limited.js';
import { WorkerFleet } from './worker-fleet.js';

const MAX_RECOVERIES = 50;
/** No run moved (no event committed anywhere) for this long after the last start: stop waiting for the deadline, the rest is stuck. */
const STALL_MS = 20_000;
const log = (line: string) => console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * Errors thrown outside any await in this process (an unhandled 'error' event of a pg client, say):
 * recorded as a violation (check `crashes`) and the soak goes on, so that it still reports.
 */
const unhandled: unknown[] = [];
process.on('uncaughtException', (err) => {
  unhandled.push(err);
  log(`UNHANDLED ERROR in the soak's own process: ${(err as Error)?.stack ?? String(err)}`);
});

async function main(options: SoakOptions): Promise<number> {
  const tag = `chaos_${randomBytes(4).toString('hex')}`;
  const schema = tag;
  const admin = new DatabaseAdmin(options.databaseUrl, tag);
  try {
    await admin.query('SELECT 1', [], 5000);
  } catch (err) {
    console.error(`chaos: Postgres at ${redact(options.databaseUrl)} is unreachable: ${(err as Error).message}`);
    return 2;
  }
  log(
    `schema ${schema}: ${options.runs} runs, ${options.workers} workers × ${options.concurrency}, faults over ${options.loadSeconds} s${options.ci ? ' (CI version)' : ''}`,
  );

  // The soak's own engine: starts runs and resumes the waiting ones, as an application would.
  const soakUrl = withApplicationName(options.databaseUrl, `${tag}-soak`);
  const side = new pg.Pool({ connectionString: soakUrl, max: 2 });
  side.on('error', () => undefined);
  const tables = sideTables(schema);
  const engine = new FlowEngine({
    storage: createPostgresStorage({ connectionString: soakUrl, schema, poolSize: 4, listen: false }),
    maxRecoveries: MAX_RECOVERIES,
  });
  // Its resumes run the resumed node's attempt here, so it has the handlers' effects (and the child flow) too.
  for (const definition of soakFlows(soakEffects(side, schema))) await engine.registerDefinition(definition);
  await engine.registerDefinition(limitedSoakFlow(side, schema));
  await admin.query(tables.create);
  await admin.query(limitedTables(schema).create);

  const fleet = new WorkerFleet({ databaseUrl: options.databaseUrl, schema, tag, concurrency: options.concurrency, maxRecoveries: MAX_RECOVERIES });
  process.once('SIGINT', () => (fleet.killAll(), process.exit(130)));
  try {
    return await soak(options, { admin, engine, fleet, schema, tag, side });
  } catch (err) {
    fleet.killAll(); // never leave worker processes behind
    throw err;
  }
}

interface SoakParts {
  admin: DatabaseAdmin;
  engine: FlowEngine;
  fleet: WorkerFleet;
  schema: string;
  tag: string;
  side: pg.Pool;
}

async function soak(options: SoakOptions, { admin, engine, fleet, schema, tag, side }: SoakParts): Promise<number> {
  await fleet.start(options.workers);
  log(`${options.workers} workers ready`);
  await startSoakSchedule(engine);
  // Flow control under the faults: runs with a per-customer limit, started with the load.
  const limitedRuns = Math.max(12, Math.round(options.runs / 10));
  const limitedStarts = startLimitedRuns(engine, tag, limitedRuns);

  const startedAt = Date.now();
  let stop = false;
  let allRested = false;
  // Each run's signal: sent by the loader's side, at a random moment after the run starts.
  const signals = new Map<number, SentSignal>();
  const sends: Array<Promise<void>> = [];
  const loader = startRuns(
    engine,
    options,
    () => stop,
    (i, runId) => sends.push(sendSignals(engine, i, runId, signals)),
  );
  const resumer = resumeApprovals(engine, () => stop);
  const migrations: MigrationRecord = { migrated: new Set(), blocked: 0, failedCalls: 0 };
  const migrator = migrateSome(engine, () => stop, migrations);
  const faults = injectFaults(planFaults(options), { fleet, admin, schema, startedAt, log, finished: () => allRested });
  const progress = reportProgress(admin, schema, options.runs, () => stop);

  // Wait for every run to rest, or for the deadline, or until nothing has moved for STALL_MS.
  await loader;
  await limitedStarts;
  const deadline = Date.now() + options.timeoutSeconds * 1000;
  let open = Number.POSITIVE_INFINITY;
  let moved = { at: Date.now(), events: -1 };
  while (Date.now() < deadline) {
    const now = await countOpenRuns(admin, schema, options.runs);
    open = now.open;
    if (open === 0) {
      allRested = true;
      break;
    }
    if (now.events !== moved.events) moved = { at: Date.now(), events: now.events };
    else if (Date.now() - moved.at > STALL_MS) {
      log(`nothing moved for ${STALL_MS / 1000} s with ${open} runs not finished: they are stuck`);
      break;
    }
    await sleep(500);
  }
  // The soak's duration: until every run rested (the wind-down below — a fault in progress, late
  // second copies, the progress reporter — is not part of it).
  const restedAt = Date.now();
  const faultRecords: FaultRecord[] = await faults;
  // Second copies may still be on their way (to runs that finished with the first): let them land.
  await Promise.all(sends);
  stop = true;
  await Promise.all([resumer, progress, migrator]);
  log(
    `migrated ${migrations.migrated.size} runs in flight to version ${SOAK_MIGRATED_VERSION} (${migrations.blocked} blocked, ${migrations.failedCalls} calls cut off by faults)`,
  );
  if (open > 0) log(`stopped waiting with ${open} runs not finished`);
  const scheduleWindow = await stopSoakSchedule(engine, admin, schema);
  log(
    `schedule stopped: ticks from ${scheduleWindow.from === null ? '—' : new Date(scheduleWindow.from).toISOString()} to ${new Date(scheduleWindow.to).toISOString()}`,
  );

  await fleet.stopAll();
  await engine.close();
  await side.end().catch(() => undefined);
  const leftSessions = await admin.sessionCount(`${tag}-`);

  const verdict = await verifySoak(admin, schema, options.runs, signals, scheduleWindow, migrations.migrated);
  const limited = await verifyLimited(admin, schema, limitedRuns);
  for (const message of limited.violations) verdict.violations.push({ check: 'flowControl', message });
  verdict.stats['flow-control runs completed'] = limited.completed;
  verdict.stats['flow-control peak steps per customer (limit 2)'] = limited.peak;
  if (leftSessions > 0)
    verdict.violations.push({ check: 'leftovers', message: `${leftSessions} database sessions of the soak still open after every process stopped` });
  for (const f of faultRecords) if (f.violation) verdict.violations.push({ check: f.kind === 'pause' ? 'takeover' : 'leftovers', message: f.violation });
  for (const err of unhandled) {
    verdict.violations.push({
      check: 'crashes',
      message: `the soak's own process (its engine: startRun, resumeRun, sendEvent) had an unhandled error: ${(err as Error)?.message ?? String(err)}`,
    });
  }
  for (const c of fleet.crashes) {
    verdict.violations.push({
      check: 'crashes',
      message: `worker ${c.slot} (pid ${c.pid}) exited on its own (${c.signal ?? `code ${c.code}`}): ${crashSummary(c.stderr)}`,
    });
  }
  printReport({
    options,
    schema,
    databaseUrl: redact(options.databaseUrl),
    durationMs: restedAt - startedAt,
    verdict,
    faults: faultRecords,
    fleet,
    maxRecoveries: MAX_RECOVERIES,
    openAtEnd: open,
  });

  if (verdict.violations.length === 0 && !options.keep) await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
  else log(`schema ${schema} kept for inspection (DROP SCHEMA "${schema}" CASCADE when done)`);
  return verdict.violations.length === 0 ? 0 : 1;
}

/**
 * Starts run i = 0…runs-1 at an even pace over the load window, and a saga run with each
 * SAGA_EVERY-th; a start that fails under a fault is retried with the same idempotency key, so it
 * can never create a second run. `started` is told each soak run's id.
 */
async function startRuns(engine: FlowEngine, options: SoakOptions, stopped: () => boolean, started: (i: number, runId: string) => void): Promise<void> {
  const began = Date.now();
  const start = async (args: StartRunArgs): Promise<string> => {
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        return (await engine.startRun(args)).runId;
      } catch {
        await sleep(delay);
      }
    }
  };
  for (let i = 0; i < options.runs && !stopped(); i++) {
    const due = began + (i / options.runs) * options.loadSeconds * 1000;
    if (due > Date.now()) await sleep(due - Date.now());
    started(i, await start({ flowId: SOAK_FLOW_ID, version: '1', input: soakInput(i), idempotencyKey: `soak-${i}` }));
    // Every few runs, a saga run (failures caught or compensated, chaos/saga-flow.ts).
    if (i % SAGA_EVERY === 0) {
      const input: SagaInput = { i: i / SAGA_EVERY };
      await start({ flowId: SAGA_FLOW_ID, version: SAGA_FLOW_VERSION, input, idempotencyKey: `saga-${input.i}` });
    }
  }
}

/** One run in ten gets its signal twice: a duplicate delivery, which the run must consume once. */
const DUPLICATE_SIGNAL_EVERY = 10;
/** A third of the signals go out within this many ms of the start (before or after the run reached its wait). */
const SIGNAL_WITHIN_MS = 1500;
/** A duplicate is sent this soon after the first copy (concurrently with it): either may be the one received. */
const DUPLICATE_WITHIN_MS = 600;
/** How often the soak looks whether a run waits for its signal yet (for the third sent only then). */
const WAITING_POLL_MS = 150;
/** A send that keeps failing this long is given up (the run's wait then times out: SIGNAL_LOST). */
const SEND_PATIENCE_MS = 45_000;

/**
 * The outside world's signal for run `i`: `sendEvent('chaos.signal', key runId)` at a random
 * moment — for a third of the runs at once (before the run can have reached its wait), for a third
 * within 1.5 s (either side of it), for a third once the run waits for it — and for some runs a
 * second, identical copy at about the same time (sent concurrently). A send that fails under a fault is retried; the
 * failed one may have been stored nonetheless (its reply was lost), which the verifier allows for.
 */
async function sendSignals(engine: FlowEngine, i: number, runId: string, signals: Map<number, SentSignal>): Promise<void> {
  const record: SentSignal = { runId, copies: i % DUPLICATE_SIGNAL_EVERY === 3 ? 2 : 1, sent: [], failedSends: 0 };
  signals.set(i, record);
  const moment = Math.floor(Math.random() * 3);
  if (moment === 1) await sleep(Math.random() * SIGNAL_WITHIN_MS);
  else if (moment === 2) await untilWaitingForSignal(engine, runId);
  const sendCopy = async () => {
    const giveUpAt = Date.now() + SEND_PATIENCE_MS;
    for (let backoff = 100; ; backoff = Math.min(backoff * 2, 2000)) {
      try {
        const sent = await engine.sendEvent({ name: SIGNAL_EVENT, key: runId, payload: signalPayload(i) });
        record.sent.push({ eventId: sent.eventId, delivered: sent.delivered });
        return;
      } catch (err) {
        record.failedSends += 1;
        if (Date.now() > giveUpAt) return log(`gave up sending the signal of run ${runId} (input ${i}): ${(err as Error).message}`);
        await sleep(backoff);
      }
    }
  };
  // A duplicate goes out concurrently with the first copy, up to DUPLICATE_WITHIN_MS after it.
  const copies = Array.from({ length: record.copies }, async (_, copy) => {
    if (copy > 0) await sleep(Math.random() * DUPLICATE_WITHIN_MS);
    await sendCopy();
  });
  await Promise.all(copies);
}

/** Until run `runId` waits for its signal (or has ended, or 30 s passed): getRun, as an application would. */
async function untilWaitingForSignal(engine: FlowEngine, runId: string): Promise<void> {
  const giveUpAt = Date.now() + 30_000;
  while (Date.now() < giveUpAt) {
    try {
      const run = await engine.getRun(runId);
      if (!run || run.status === 'COMPLETED' || run.status === 'FAILED' || run.status === 'CANCELLED') return;
      if (run.branches.some((b) => b.nodeId === SIGNAL_NODE && b.status === 'WAITING')) return;
    } catch {
      // A fault: look again.
    }
    await sleep(WAITING_POLL_MS);
  }
}

/** The outside world: approves each run waiting for approval (resumeRun with its payload). */
async function resumeApprovals(engine: FlowEngine, stopped: () => boolean): Promise<void> {
  while (!stopped()) {
    try {
      const page = await engine.listRuns({ status: 'WAITING', flowId: SOAK_FLOW_ID, limit: 1000 });
      for (const run of page.runs) {
        if (stopped()) return;
        if (run.waitReason !== APPROVAL_REASON) continue;
        // Refused when already resumed (InvalidRunStateError), busy, or cut off by a fault: a run
        // still waiting is simply found again next round.
        await engine.resumeRun(run.runId, approvalPayload((run.inputJson as SoakInput).i)).catch(() => undefined);
      }
    } catch {
      // The database is down or our sessions were terminated: try again shortly.
    }
    await sleep(200);
  }
}

interface MigrationRecord {
  /** Runs a `migrateRuns` call reported migrated. */
  migrated: Set<string>;
  blocked: number;
  /** Calls that threw under a fault (some of their runs may have moved nonetheless: the verifier allows for it). */
  failedCalls: number;
}

/** Runs of the soak's version 1 moved per round, at most. */
const MIGRATE_PER_ROUND = 10;

/**
 * The deploy in the middle of the soak: every second, some unfinished runs of version 1 (running,
 * waiting, held by a worker that may be killed the next moment) are migrated to version 2, the
 * same graph, served by the same workers. Each must move once, never under a holder, and end as
 * any run does (chaos/verify.ts, check `migration`).
 */
async function migrateSome(engine: FlowEngine, stopped: () => boolean, record: MigrationRecord): Promise<void> {
  while (!stopped()) {
    try {
      const page = await engine.listRuns({ status: ['RUNNING', 'WAITING'], flowId: SOAK_FLOW_ID, flowVersion: SOAK_FLOW_VERSION, limit: 100, summary: true });
      const runIds = page.runs
        .map((r) => r.runId)
        .filter(() => Math.random() < 0.3)
        .slice(0, MIGRATE_PER_ROUND);
      if (runIds.length > 0) {
        const result = await engine.migrateRuns({ flowId: SOAK_FLOW_ID, fromVersion: SOAK_FLOW_VERSION, toVersion: SOAK_MIGRATED_VERSION, runIds });
        for (const runId of result.migrated) record.migrated.add(runId);
        record.blocked += result.blocked.length;
      }
    } catch {
      record.failedCalls += 1;
    }
    await sleep(1000);
  }
}

/** Runs (the soak's and their children) not yet at rest, plus the soak's runs not yet started; `events`: all events committed so far (progress). */
async function countOpenRuns(admin: DatabaseAdmin, schema: string, expected: number): Promise<{ open: number; events: number }> {
  const [row] = await admin.query<{ open: number; total: number; events: number }>(
    `SELECT count(*) FILTER (WHERE status IN ('RUNNING', 'WAITING'))::int AS open, count(*) FILTER (WHERE flow_id = $1)::int AS total,
            COALESCE(sum(last_seq), 0)::int AS events FROM "${schema}".flow_runs`,
    [SOAK_FLOW_ID],
  );
  return { open: row!.open + (expected - row!.total), events: row!.events };
}

async function reportProgress(admin: DatabaseAdmin, schema: string, runs: number, stopped: () => boolean): Promise<void> {
  while (!stopped()) {
    // Every 5 s, in short naps: the soak must not wait for a nap to end when it stops.
    for (let napped = 0; napped < 5000 && !stopped(); napped += 250) await sleep(250);
    if (stopped()) return;
    const rows = await admin
      .query<{ child: boolean; status: string; n: number }>(
        `SELECT parent_run_id IS NOT NULL AS child, status::text AS status, count(*)::int AS n FROM "${schema}".flow_runs GROUP BY 1, 2 ORDER BY 1, 2`,
      )
      .catch(() => []);
    const list = (child: boolean) =>
      rows
        .filter((r) => r.child === child)
        .map((r) => `${r.status} ${r.n}`)
        .join(', ');
    log(`progress: ${list(false) || 'no runs yet'} (of ${runs}); children ${list(true) || 'none yet'}`);
  }
}

/** The gist of a crashed process's stderr: the thrown error's line (else the tail). */
function crashSummary(stderr: string): string {
  const error = stderr.split('\n').find((l) => /^\s*(\w*Error\b|error:)/.test(l));
  const unhandledEvent = stderr.includes("Unhandled 'error' event") ? "an unhandled 'error' event: " : '';
  return (error ? `${unhandledEvent}${error}` : stderr.slice(-400)).replace(/\s+/g, ' ').trim();
}

function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
}

let options: SoakOptions;
try {
  options = parseSoakOptions(process.argv.slice(2), process.env);
} catch (err) {
  console.error(`chaos: ${(err as Error).message}`);
  process.exit(2);
}
main(options).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('chaos: the soak could not run:', err);
    process.exit(2);
  },
);
