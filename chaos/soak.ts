/**
 * `npm run chaos` — the fault-injection soak (issue 6). Worker processes advance many runs of the
 * soak flow on the local Postgres while workers are SIGKILLed and restarted, one is frozen inside
 * a handler and taken over, every session is terminated several times and Postgres restarts once.
 * Then the database is checked (chaos/verify.ts). Prints a report; exits 1 on any violation,
 * 2 when the soak itself could not run. `--help` lists the settings; `--ci` is the short version.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { FlowEngine, createPostgresStorage } from '@hazeljs/flow';
import { withApplicationName } from './child-process.js';
import { DatabaseAdmin } from './database-admin.js';
import { injectFaults, planFaults, type FaultRecord } from './faults.js';
import { parseSoakOptions, type SoakOptions } from './options.js';
import { printReport } from './report.js';
import { sideTables, soakEffects } from './side-tables.js';
import { APPROVAL_REASON, approvalPayload, SOAK_FLOW_ID, soakFlow, soakInput, type SoakInput } from './soak-flow.js';
import { verifySoak } from './verify.js';
import { WorkerFleet } from './worker-fleet.js';

const MAX_RECOVERIES = 50;
const log = (line: string) => console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  log(`schema ${schema}: ${options.runs} runs, ${options.workers} workers × ${options.concurrency}, faults over ${options.loadSeconds} s${options.ci ? ' (CI version)' : ''}`);

  // The soak's own engine: starts runs and resumes the waiting ones, as an application would.
  const soakUrl = withApplicationName(options.databaseUrl, `${tag}-soak`);
  const side = new pg.Pool({ connectionString: soakUrl, max: 2 });
  side.on('error', () => undefined);
  const tables = sideTables(schema);
  const engine = new FlowEngine({ storage: createPostgresStorage({ connectionString: soakUrl, schema, poolSize: 4, listen: false }), maxRecoveries: MAX_RECOVERIES });
  // Its resumes run the resumed node's attempt here, so it has the handlers' effects too.
  await engine.registerDefinition(soakFlow(soakEffects(side, schema)));
  await admin.query(tables.create);

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

  const startedAt = Date.now();
  let stop = false;
  let allRested = false;
  const loader = startRuns(engine, options, () => stop);
  const resumer = resumeApprovals(engine, () => stop);
  const faults = injectFaults(planFaults(options), { fleet, admin, schema, startedAt, log, finished: () => allRested });
  const progress = reportProgress(admin, schema, options.runs, () => stop);

  // Wait for every run to rest, or for the deadline.
  await loader;
  const deadline = Date.now() + options.timeoutSeconds * 1000;
  let open = Number.POSITIVE_INFINITY;
  while (Date.now() < deadline) {
    open = await countOpenRuns(admin, schema, options.runs);
    if (open === 0) {
      allRested = true;
      break;
    }
    await sleep(500);
  }
  const faultRecords: FaultRecord[] = await faults;
  stop = true;
  await Promise.all([resumer, progress]);
  const finishedAt = Date.now();
  if (open > 0) log(`deadline reached with ${open} runs not finished`);

  await fleet.stopAll();
  await engine.close();
  await side.end().catch(() => undefined);
  const leftSessions = await admin.sessionCount(`${tag}-`);

  const verdict = await verifySoak(admin, schema, options.runs);
  if (leftSessions > 0) verdict.violations.push({ check: 'leftovers', message: `${leftSessions} database sessions of the soak still open after every process stopped` });
  for (const f of faultRecords) if (f.violation) verdict.violations.push({ check: f.kind === 'pause' ? 'takeover' : 'leftovers', message: f.violation });
  printReport({ options, schema, databaseUrl: redact(options.databaseUrl), durationMs: finishedAt - startedAt, verdict, faults: faultRecords, fleet, maxRecoveries: MAX_RECOVERIES });

  if (verdict.violations.length === 0 && !options.keep) await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
  else log(`schema ${schema} kept for inspection (DROP SCHEMA "${schema}" CASCADE when done)`);
  return verdict.violations.length === 0 ? 0 : 1;
}

/** Starts run i = 0…runs-1 at an even pace over the load window; a start that fails under a fault is retried with the same idempotency key, so it can never create a second run. */
async function startRuns(engine: FlowEngine, options: SoakOptions, stopped: () => boolean): Promise<void> {
  const began = Date.now();
  for (let i = 0; i < options.runs && !stopped(); i++) {
    const due = began + (i / options.runs) * options.loadSeconds * 1000;
    if (due > Date.now()) await sleep(due - Date.now());
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        await engine.startRun({ flowId: SOAK_FLOW_ID, version: '1', input: soakInput(i), idempotencyKey: `soak-${i}` });
        break;
      } catch {
        await sleep(delay);
      }
    }
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

async function countOpenRuns(admin: DatabaseAdmin, schema: string, expected: number): Promise<number> {
  const [row] = await admin.query<{ open: number; total: number }>(
    `SELECT count(*) FILTER (WHERE status IN ('RUNNING', 'WAITING'))::int AS open, count(*)::int AS total FROM "${schema}".flow_runs`,
  );
  return row!.open + (expected - row!.total);
}

async function reportProgress(admin: DatabaseAdmin, schema: string, runs: number, stopped: () => boolean): Promise<void> {
  while (!stopped()) {
    await sleep(5000);
    if (stopped()) return;
    const rows = await admin.query<{ status: string; n: number }>(`SELECT status::text AS status, count(*)::int AS n FROM "${schema}".flow_runs GROUP BY 1 ORDER BY 1`).catch(() => []);
    log(`progress: ${rows.map((r) => `${r.status} ${r.n}`).join(', ') || 'no runs yet'} (of ${runs})`);
  }
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
