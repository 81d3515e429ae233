/**
 * `hazel-flow schedules …` run as child processes against a real server: set (cron in a time
 * zone, an interval), list as a table and as JSON, pause, resume, trigger, delete; bad usage
 * exits 2, a refused schedule exits 1 with the server's code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { runCli } from './cli-helpers.js';
import { startRuntime } from './helpers.js';

let rt: FlowRuntime;
const cli = (...args: string[]) => runCli(args, { FLOW_URL: rt.url });

beforeAll(async () => {
  rt = await startRuntime();
});
afterAll(async () => {
  await rt.close();
});

describe('hazel-flow schedules', { timeout: 120_000 }, () => {
  it('sets, lists, pauses, resumes, triggers and deletes', async () => {
    const set = await cli(
      'schedules',
      'set',
      'nightly',
      '--flow',
      'demo-greeting',
      '--cron',
      '0 2 * * *',
      '--timezone',
      'Europe/Berlin',
      '--input',
      '{"name":"night"}',
    );
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/^Schedule nightly set$/m);
    expect(set.stdout).toMatch(/timetable\s+cron 0 2 \* \* \* \(Europe\/Berlin\)/);
    expect(set.stdout).toMatch(/next\s+\d{4}-\d\d-\d\dT0[01]:00:00\.000Z, /);
    const every = await cli(
      'schedules',
      'set',
      'quarter',
      '--flow',
      'demo-greeting@1.0.0',
      '--every',
      '15m',
      '--overlap',
      'bufferAll',
      '--catchup',
      'all',
      '--json',
    );
    expect(every.code, every.stderr).toBe(0);
    expect(JSON.parse(every.stdout).schedule).toMatchObject({ scheduleId: 'quarter', version: '1.0.0', every: 900_000, overlap: 'bufferAll', catchup: 'all' });

    const list = await cli('schedules', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^SCHEDULE\s+FLOW\s+TIMETABLE\s+NEXT\s+LAST FIRED\s+STATE$/m);
    expect(list.stdout).toMatch(/^nightly\s+demo-greeting\s+cron 0 2 \* \* \* \(Europe\/Berlin\)\s+\S+Z\s+active$/m);
    expect(list.stdout).toMatch(/^quarter\s+demo-greeting@1\.0\.0\s+every 900000 ms/m);
    const json = JSON.parse((await cli('schedules', 'list', '--flow', 'demo-greeting', '--json')).stdout);
    expect(json.schedules.map((s: { scheduleId: string }) => s.scheduleId)).toEqual(['nightly', 'quarter']);

    expect((await cli('schedules', 'pause', 'nightly')).stdout).toMatch(/^Schedule nightly paused$[\s\S]*paused\s+yes/m);
    expect((await cli('schedules', 'resume', 'nightly')).stdout).toMatch(/^Schedule nightly resumed$[\s\S]*paused\s+no/m);
    const triggered = await cli('schedules', 'trigger', 'nightly');
    expect(triggered.stdout).toMatch(/^Started run \S+ of schedule nightly$/m);
    const runs = await rt.engine.listRuns({ scheduleId: 'nightly' });
    expect(runs.runs).toHaveLength(1);
    expect(runs.runs[0]!.inputJson).toEqual({ name: 'night' });
    expect((await cli('schedules', 'delete', 'quarter')).stdout).toMatch(/^Deleted schedule quarter/m);
    expect(await rt.engine.schedules.get('quarter')).toBeNull();
  });

  it('exits 2 on bad usage and 1 when the server refuses the schedule', async () => {
    for (const args of [
      ['schedules'],
      ['schedules', 'frobnicate'],
      ['schedules', 'set', 'x', '--flow', 'demo-greeting'],
      ['schedules', 'set', 'x', '--cron', '* * * * *'],
      ['schedules', 'set', 'x', '--flow', 'demo-greeting', '--cron', '* * * * *', '--every', '1m'],
      ['schedules', 'set', 'x', '--flow', 'demo-greeting', '--every', 'soon'],
      ['schedules', 'set', 'x', '--flow', 'demo-greeting', '--every', '1m', '--overlap', 'queue'],
      ['schedules', 'pause'],
    ]) {
      const res = await cli(...args);
      expect(res.code, args.join(' ')).toBe(2);
    }
    const refused = await cli('schedules', 'set', 'x', '--flow', 'demo-greeting', '--cron', '* * * * *', '--timezone', 'Mars/Olympus');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/INVALID_ARGUMENT: .*timezone "Mars\/Olympus"/);
    const missing = await cli('schedules', 'trigger', 'no-such-schedule');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/SCHEDULE_NOT_FOUND/);
    expect(await rt.engine.schedules.get('x')).toBeNull();
  });
});
