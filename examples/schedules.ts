/**
 * Schedules: a flow that declares its own schedule (every minute: `npm start` shows it firing on
 * the dashboard's Schedules page), and a schedule set at run time — a cron expression read in a
 * time zone — previewed, and triggered once by hand.
 * Run: npx tsx --conditions=hazel-source examples/schedules.ts
 */
import { FlowEngine, flow } from '@hazeljs/flow';

export const reportFlow = flow('report', '1.0.0', {
  // Applied when the flow is registered: created the first time, left as it is after.
  schedules: [{ scheduleId: 'report-every-minute', every: '1m', input: { kind: 'minutely' } }],
})
  .entry('collect')
  .node('collect', (ctx) => ({ status: 'ok', output: { kind: (ctx.input as { kind: string }).kind, rows: 42 } }))
  .node('publish', (ctx) => ({ status: 'ok', output: `published ${(ctx.outputs.collect as { kind: string }).kind} report` }))
  .edge('collect', 'publish')
  .build();

export async function runSchedulesExample(engine: FlowEngine) {
  await engine.registerDefinition(reportFlow);
  // Every night at 02:00 in Berlin, whatever the daylight-saving time; runs start the newest version of `report`.
  await engine.schedules.set({ scheduleId: 'report-nightly', flowId: 'report', cron: '0 2 * * *', timezone: 'Europe/Berlin', input: { kind: 'nightly' } });
  const upcoming = await engine.schedules.preview({ cron: '0 2 * * *', timezone: 'Europe/Berlin', from: '2026-03-27T12:00:00Z', count: 3 });
  // One run now, outside the timetable.
  const { runId } = await engine.schedules.trigger('report-nightly');
  const run = await engine.runToCompletion(runId);
  return { schedules: await engine.schedules.list({ flowId: 'report' }), upcoming, run };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const engine = new FlowEngine();
  const { schedules, upcoming, run } = await runSchedulesExample(engine);
  for (const s of schedules) console.log(s.scheduleId, s.cron ?? `every ${s.every} ms`, 'next', s.nextFireAt);
  console.log('02:00 Berlin around the spring change:', upcoming);
  console.log(run.status, run.scheduleId, run.outputsJson);
  await engine.close();
}
