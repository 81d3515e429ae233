/**
 * The soak's schedule: a one-second schedule of a one-node flow fires through every fault (worker
 * SIGKILLs, terminated sessions, the Postgres restart). At the end every tick from the first one
 * until the soak stopped it has exactly one run, COMPLETED (check `schedule`): a claim a killed
 * worker held runs out, and catch-up 'all' fires what it missed.
 */
import { flow, type FlowDefinition, type FlowEngine } from '@hazeljs/flow';
import type { DatabaseAdmin } from './database-admin.js';

export const SCHEDULE_FLOW_ID = 'soak-tick';
export const SOAK_SCHEDULE_ID = 'soak-every-second';
/** How long the soak waits, after the faults, for late ticks (a dead worker's claim lasts 10 s). */
const CATCH_UP_MS = 60_000;

/** The flow the schedule starts, registered by every process of the soak. */
export function scheduleFlow(): FlowDefinition {
  return flow(SCHEDULE_FLOW_ID, '1')
    .entry('tick')
    .node('tick', async (ctx) => ({ status: 'ok', output: { at: ctx.input } }))
    .build();
}

export async function startSoakSchedule(engine: FlowEngine): Promise<void> {
  await engine.schedules.set({ scheduleId: SOAK_SCHEDULE_ID, flowId: SCHEDULE_FLOW_ID, every: '1s', catchup: 'all', overlap: 'allow' });
}

/**
 * Stops the schedule once every tick up to a second ago has its run and every run has completed
 * (or CATCH_UP_MS passed): the window the check covers is returned.
 */
export async function stopSoakSchedule(engine: FlowEngine, admin: DatabaseAdmin, schema: string): Promise<{ from: number | null; to: number }> {
  const to = Math.floor(Date.now() / 1000) * 1000 - 1000;
  const deadline = Date.now() + CATCH_UP_MS;
  for (;;) {
    const [row] = await admin.query<{ n: number; open: number; first: string | null }>(
      `SELECT count(*) FILTER (WHERE scheduled_at <= to_timestamp($1 / 1000.0))::int AS n,
              count(*) FILTER (WHERE status IN ('RUNNING', 'WAITING'))::int AS open,
              (extract(epoch FROM min(scheduled_at)) * 1000)::bigint::text AS first
       FROM "${schema}".flow_runs WHERE schedule_id = $2`,
      [to, SOAK_SCHEDULE_ID],
    );
    const first = row?.first === null || row?.first === undefined ? null : Number(row.first);
    const expected = first === null ? 1 : (to - first) / 1000 + 1;
    if ((row!.n >= expected && row!.open === 0) || Date.now() > deadline) {
      await engine.schedules.pause(SOAK_SCHEDULE_ID);
      // A run a worker started just before the pause finishes before the fleet stops.
      for (let i = 0; i < 100; i++) {
        const [left] = await admin.query<{ open: number }>(
          `SELECT count(*)::int AS open FROM "${schema}".flow_runs WHERE schedule_id = $1 AND status IN ('RUNNING', 'WAITING')`,
          [SOAK_SCHEDULE_ID],
        );
        if (left!.open === 0) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      return { from: first, to };
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Every tick of the window has exactly one run, COMPLETED; `fail` is told what is not so. */
export async function verifySoakSchedule(
  admin: DatabaseAdmin,
  schema: string,
  window: { from: number | null; to: number },
  fail: (message: string) => void,
  bump: (key: string, by?: number) => void,
): Promise<void> {
  if (window.from === null) return fail('the schedule started no run at all');
  const rows = await admin.query<{ at: string; n: number; completed: number }>(
    `SELECT (extract(epoch FROM scheduled_at) * 1000)::bigint::text AS at, count(*)::int AS n, count(*) FILTER (WHERE status = 'COMPLETED')::int AS completed
     FROM "${schema}".flow_runs WHERE schedule_id = $1 GROUP BY scheduled_at ORDER BY scheduled_at`,
    [SOAK_SCHEDULE_ID],
  );
  const byTick = new Map(rows.map((r) => [Number(r.at), r]));
  let missing = 0;
  for (let at = window.from; at <= window.to; at += 1000) if (!byTick.has(at)) missing += 1;
  if (missing > 0) fail(`${missing} tick(s) between ${new Date(window.from).toISOString()} and ${new Date(window.to).toISOString()} have no run`);
  const twice = rows.filter((r) => r.n > 1);
  if (twice.length > 0) fail(`${twice.length} tick(s) have more than one run (first: ${new Date(Number(twice[0]!.at)).toISOString()})`);
  const unfinished = rows.filter((r) => r.completed !== r.n);
  if (unfinished.length > 0) fail(`${unfinished.length} scheduled run(s) did not complete`);
  bump('schedule ticks checked', (window.to - window.from) / 1000 + 1);
  bump(
    'scheduled runs',
    rows.reduce((sum, r) => sum + r.n, 0),
  );
}
