/**
 * The soak's flow-control check: runs of `chaos-limited@1` (2 executing runs per customer) are
 * started with the soak's own, and each of their steps records its start and end (database clock)
 * in `chaos_limited_steps`. Under the soak's faults (workers killed, paused, sessions cut) no
 * customer may ever have more than 2 steps running at once, and every run must finish: a slot
 * held by a killed process is freed with its connection, never left to block the others.
 */
import type pg from 'pg';
import { flow, type FlowDefinition, type FlowEngine } from '@hazeljs/flow';
import type { DatabaseAdmin } from './database-admin.js';

export const LIMITED_FLOW_ID = 'chaos-limited';
export const LIMITED_PER_CUSTOMER = 2;
const CUSTOMERS = 3;
const RETRY = { maxAttempts: 15, backoff: 'exponential' as const, baseDelayMs: 40, maxDelayMs: 1000 };

export function limitedTables(schema: string) {
  const s = `"${schema.replace(/"/g, '""')}"`;
  return {
    create: `CREATE TABLE IF NOT EXISTS ${s}.chaos_limited_steps (
        id bigserial PRIMARY KEY, run_id text NOT NULL, customer text NOT NULL, pid int NOT NULL,
        started_at timestamptz NOT NULL DEFAULT clock_timestamp(), ended_at timestamptz)`,
    started: `INSERT INTO ${s}.chaos_limited_steps (run_id, customer, pid) VALUES ($1, $2, $3) RETURNING id`,
    ended: `UPDATE ${s}.chaos_limited_steps SET ended_at = clock_timestamp() WHERE id = $1`,
    steps: `SELECT customer, started_at, ended_at FROM ${s}.chaos_limited_steps WHERE ended_at IS NOT NULL`,
    runs: `SELECT status::text AS status, count(*)::int AS n FROM ${s}.flow_runs WHERE flow_id = '${LIMITED_FLOW_ID}' GROUP BY 1`,
  };
}

/** The flow, its steps recorded through `pool`. */
export function limitedSoakFlow(pool: pg.Pool, schema: string): FlowDefinition {
  const tables = limitedTables(schema);
  const step = async (runId: string, customer: string) => {
    const { rows } = await pool.query<{ id: string }>(tables.started, [runId, customer, process.pid]);
    await new Promise((r) => setTimeout(r, 40 + Math.floor(Math.random() * 60)));
    await pool.query(tables.ended, [rows[0]!.id]);
  };
  return (
    flow<{ customer: string }>(LIMITED_FLOW_ID, '1', { concurrency: { limit: LIMITED_PER_CUSTOMER, key: (input) => input.customer } })
      .entry('first')
      // Retried: a step's own writes fail when the soak cuts its sessions.
      .node('first', async (ctx) => (await step(ctx.runId, ctx.input.customer), { status: 'ok' }), { retry: RETRY })
      .node('second', async (ctx) => (await step(ctx.runId, ctx.input.customer), { status: 'ok' }), { retry: RETRY })
      .edge('first', 'second')
      .build()
  );
}

/** Starts `count` runs over the customers, each start retried with its idempotency key under faults. */
export async function startLimitedRuns(engine: FlowEngine, tag: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        await engine.startRun({ flowId: LIMITED_FLOW_ID, version: '1', input: { customer: `c${i % CUSTOMERS}` }, idempotencyKey: `${tag}-limited-${i}` });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}

/** The most intervals open at once among `rows` — steps of one customer by their recorded times (ends before starts at equal times). */
export function peakOverlap(rows: ReadonlyArray<{ started_at: Date; ended_at: Date }>): number {
  const points = rows.flatMap((r) => [
    { at: r.started_at.getTime(), d: 1 },
    { at: r.ended_at.getTime(), d: -1 },
  ]);
  points.sort((a, b) => a.at - b.at || a.d - b.d);
  let open = 0;
  let peak = 0;
  for (const p of points) peak = Math.max(peak, (open += p.d));
  return peak;
}

/** Violations of the check, and the figures for the report. */
export async function verifyLimited(
  admin: DatabaseAdmin,
  schema: string,
  expected: number,
): Promise<{ violations: string[]; peak: number; completed: number }> {
  const tables = limitedTables(schema);
  const steps = await admin.query<{ customer: string; started_at: Date; ended_at: Date }>(tables.steps);
  const byStatus = new Map((await admin.query<{ status: string; n: number }>(tables.runs)).map((r) => [r.status, r.n]));
  const violations: string[] = [];
  const peaks = [...new Set(steps.map((s) => s.customer))].map((c) => ({ c, peak: peakOverlap(steps.filter((s) => s.customer === c)) }));
  for (const { c, peak } of peaks) {
    if (peak > LIMITED_PER_CUSTOMER) violations.push(`customer ${c} had ${peak} steps running at once (limit ${LIMITED_PER_CUSTOMER})`);
  }
  const completed = byStatus.get('COMPLETED') ?? 0;
  if (completed !== expected) violations.push(`${completed} of ${expected} flow-control runs completed (${JSON.stringify(Object.fromEntries(byStatus))})`);
  return { violations, peak: Math.max(0, ...peaks.map((p) => p.peak)), completed };
}
