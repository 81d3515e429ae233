/**
 * prisma/schema.prisma (the schema of record) and prisma/migrations (what the engine and
 * `prisma migrate deploy` apply) must describe the same tables: every model field is a column of
 * the right name, type and nullability, and the generated client reads and writes every model
 * against a schema built by our own migrate.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresExecutor } from '../../src/storage/postgres.js';
import { migrate } from '../../src/storage/sql/migrate.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';

const ROOT = join(import.meta.dirname, '..', '..');

interface FieldSpec {
  model: string;
  table: string;
  column: string;
  type: string;
  optional: boolean;
  db?: string;
}

/** A small reader of the model blocks of schema.prisma: scalar fields with @map / @db / `?`. */
function readSchemaFields(text: string): { fields: FieldSpec[]; enums: Map<string, string> } {
  const enums = new Map<string, string>();
  for (const m of text.matchAll(/^enum (\w+) \{\n([\s\S]*?)\n\}/gm)) enums.set(m[1]!, /@@map\("([^"]+)"\)/.exec(m[2]!)?.[1] ?? m[1]!);
  const fields: FieldSpec[] = [];
  for (const m of text.matchAll(/^model (\w+) \{\n([\s\S]*?)\n\}/gm)) {
    const body = m[2]!;
    const table = /@@map\("([^"]+)"\)/.exec(body)?.[1] ?? m[1]!;
    for (const line of body.split('\n').map((l) => l.trim())) {
      const f = /^(\w+)\s+(\w+)(\??)(\[\])?\s*(.*)$/.exec(line);
      if (!f || line.startsWith('//') || line.startsWith('@@')) continue;
      const [, name, type, opt, list, attrs] = f;
      if (
        list ||
        /@relation/.test(attrs!) ||
        (/^[A-Z]/.test(type!) && !enums.has(type!) && !['String', 'Int', 'BigInt', 'Boolean', 'Json', 'DateTime'].includes(type!))
      )
        continue;
      fields.push({
        model: m[1]!,
        table,
        column: /@map\("([^"]+)"\)/.exec(attrs!)?.[1] ?? name!,
        type: type!,
        optional: opt === '?',
        db: /@db\.(\w+(\(\d+\))?)/.exec(attrs!)?.[1],
      });
    }
  }
  return { fields, enums };
}

function expectedPgType(f: FieldSpec, enums: Map<string, string>): string {
  if (enums.has(f.type)) return `USER-DEFINED:${enums.get(f.type)}`;
  if (f.type === 'DateTime') return f.db === 'Timestamptz(3)' ? 'timestamp with time zone(3)' : `unexpected ${f.db}`;
  return { String: 'text', Int: 'integer', BigInt: 'bigint', Boolean: 'boolean', Json: 'jsonb' }[f.type] ?? `unknown ${f.type}`;
}

describe.skipIf(!HAVE_PG)('Prisma schema and migrations agree', () => {
  let t: TestSchema;
  let prisma: any;

  beforeAll(async () => {
    // Regenerate the client from the current schema (no database or schema engine needed).
    const gen = spawnSync(process.execPath, [join(ROOT, 'scripts', 'prisma.mjs'), 'generate'], { cwd: ROOT, encoding: 'utf8' });
    expect(gen.status, gen.stderr + gen.stdout).toBe(0);
    t = await createTestSchema('flow_prisma_schema');
    const executor = createPostgresExecutor({ connectionString: TEST_DATABASE_URL, poolSize: 1, listen: false });
    await migrate(executor, { schema: t.schema });
    await executor.close();
    const generated = './../../src/generated/prisma/client.js';
    const { PrismaClient } = await import(generated);
    const { PrismaPg } = await import('@prisma/adapter-pg');
    prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: TEST_DATABASE_URL, max: 2 }, { schema: t.schema }) });
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await t?.drop();
  });

  it('every model field is a column with the same name, type and nullability (and nothing else)', async () => {
    const { fields, enums } = readSchemaFields(readFileSync(join(ROOT, 'prisma', 'schema.prisma'), 'utf8'));
    expect(new Set(fields.map((f) => f.table))).toEqual(
      new Set([
        'flow_runs',
        'flow_events',
        'flow_definitions',
        'flow_idempotency',
        'flow_node_values',
        'flow_inbox',
        'flow_sent_events',
        'flow_event_waits',
        'flow_event_receipts',
        'flow_schedules',
        'flow_workers',
        'flow_concurrency_slots',
        'flow_rate_limits',
      ]),
    );
    const cols = await t.query<{
      table_name: string;
      column_name: string;
      is_nullable: string;
      data_type: string;
      udt_name: string;
      datetime_precision: number | null;
    }>(
      `SELECT table_name, column_name, is_nullable, data_type, udt_name, datetime_precision FROM information_schema.columns
       WHERE table_schema = $1 AND table_name LIKE 'flow\\_%' ORDER BY table_name, column_name`,
      [t.schema],
    );
    const actual = cols.map((c) => {
      const type =
        c.data_type === 'USER-DEFINED'
          ? `USER-DEFINED:${c.udt_name}`
          : c.data_type.startsWith('timestamp')
            ? `${c.data_type}(${c.datetime_precision})`
            : c.data_type;
      return `${c.table_name}.${c.column_name} ${type}${c.is_nullable === 'YES' ? ' null' : ''}`;
    });
    const expected = fields.map((f) => `${f.table}.${f.column} ${expectedPgType(f, enums)}${f.optional ? ' null' : ''}`).sort();
    expect(actual.sort()).toEqual(expected);
  });

  it('the generated client reads and writes every model on a schema built by our migrate', async () => {
    const at = new Date('2030-01-02T03:04:05.678Z');
    const run = await prisma.flowRun.create({
      data: {
        runId: 'r-1',
        flowId: 'f',
        flowVersion: '1',
        tenantId: 't',
        status: 'WAITING',
        currentNodeId: 'a',
        inputJson: { in: [1, 2] },
        stateJson: { s: true },
        branchesJson: [{ branchId: 'b1', nodeId: 'a' }],
        createdAt: at,
        updatedAt: at,
        idempotencyKey: 'k',
        version: 3,
        lastSeq: 1,
        attempt: 2,
        attemptsJson: { a: 2 },
        attemptInFlight: true,
        recoveries: 1,
        nextAttemptAt: at,
        waitReason: 'timer',
        errorJson: { code: 'E', message: 'm' },
        events: {
          create: [
            {
              seq: 1,
              at,
              type: 'RUN_STARTED',
              nodeId: 'a',
              branchId: 'b1',
              itemIndex: 2,
              attempt: 1,
              durationMs: 5,
              errorJson: { code: 'E' },
              payloadJson: { p: 1 },
            },
          ],
        },
        nodeValues: {
          create: [
            { nodeId: 'a', kind: 'output', valueJson: { out: 1 } },
            { nodeId: 'm', kind: 'item', itemIndex: 3, valueJson: 'x', createdAt: at },
          ],
        },
      },
      include: { events: true, nodeValues: { orderBy: { nodeId: 'asc' } } },
    });
    expect(run).toMatchObject({ status: 'WAITING', inputJson: { in: [1, 2] }, createdAt: at, nextAttemptAt: at, attemptInFlight: true });
    expect(run.events).toEqual([
      {
        runId: 'r-1',
        seq: 1,
        at,
        type: 'RUN_STARTED',
        nodeId: 'a',
        branchId: 'b1',
        itemIndex: 2,
        attempt: 1,
        durationMs: 5,
        errorJson: { code: 'E' },
        payloadJson: { p: 1 },
      },
    ]);
    expect(run.branchesJson).toEqual([{ branchId: 'b1', nodeId: 'a' }]);
    expect(run.nodeValues).toEqual([
      { runId: 'r-1', nodeId: 'a', kind: 'output', itemIndex: -1, valueJson: { out: 1 }, createdAt: expect.any(Date) },
      { runId: 'r-1', nodeId: 'm', kind: 'item', itemIndex: 3, valueJson: 'x', createdAt: at },
    ]);
    // The migration's checks (which Prisma cannot express) hold for its client too.
    await expect(prisma.flowNodeValue.create({ data: { runId: 'r-1', nodeId: 'b', kind: 'bogus', valueJson: 1 } })).rejects.toThrow();
    // Column defaults of the migration are what the schema declares.
    const bare = await prisma.flowRun.create({ data: { runId: 'r-2', flowId: 'f', flowVersion: '1', inputJson: {}, stateJson: {} } });
    expect(bare).toMatchObject({
      status: 'RUNNING',
      version: 1,
      lastSeq: 0,
      attempt: 0,
      attemptsJson: {},
      branchesJson: [],
      attemptInFlight: false,
      recoveries: 0,
      nextAttemptAt: null,
      errorJson: null,
      parentRunId: null,
      parentNodeId: null,
      scheduleId: null,
      scheduledAt: null,
    });
    expect(await prisma.flowRun.update({ where: { runId: 'r-2' }, data: { status: 'CANCELLED' } })).toMatchObject({ status: 'CANCELLED' });

    // A schedule with the migration's defaults; one run per (schedule, tick); its checks hold.
    const schedule = await prisma.flowSchedule.create({ data: { scheduleId: 's1', flowId: 'f', cron: '* * * * *' } });
    expect(schedule).toMatchObject({
      timezone: 'UTC',
      overlap: 'skip',
      catchup: 'latest',
      catchupWindowMs: 86_400_000n,
      jitterMs: 0n,
      paused: false,
      bufferedJson: [],
      revision: 1,
      inputJson: null,
    });
    const tick = new Date('2030-01-01T00:00:00Z');
    await prisma.flowRun.create({ data: { runId: 'r-s1', flowId: 'f', flowVersion: '1', inputJson: {}, stateJson: {}, scheduleId: 's1', scheduledAt: tick } });
    await expect(
      prisma.flowRun.create({ data: { runId: 'r-s2', flowId: 'f', flowVersion: '1', inputJson: {}, stateJson: {}, scheduleId: 's1', scheduledAt: tick } }),
    ).rejects.toThrow();
    await expect(prisma.flowSchedule.create({ data: { scheduleId: 's2', flowId: 'f', cron: '* * * * *', everyMs: 1000n } })).rejects.toThrow();
    await expect(prisma.flowSchedule.create({ data: { scheduleId: 's3', flowId: 'f', everyMs: 1000n, overlap: 'queue' } })).rejects.toThrow();

    const def = await prisma.flowDefinition.create({ data: { flowId: 'f', version: '1', fingerprint: 'fp', graphJson: { nodes: [] } } });
    expect(def.createdAt).toBeInstanceOf(Date);
    expect(await prisma.flowDefinition.findUnique({ where: { flowId_version: { flowId: 'f', version: '1' } } })).toEqual(def);

    const idem = await prisma.flowIdempotency.create({ data: { key: 'k1', runId: 'r-1', nodeId: 'a', resultJson: { output: 1 } } });
    expect(await prisma.flowIdempotency.findUnique({ where: { key: 'k1' } })).toEqual(idem);

    expect(await prisma.flowEvent.findUnique({ where: { runId_seq: { runId: 'r-1', seq: 1 } } })).toMatchObject({ type: 'RUN_STARTED' });
    expect(
      await prisma.flowNodeValue.findUnique({ where: { runId_nodeId_kind_itemIndex: { runId: 'r-1', nodeId: 'm', kind: 'item', itemIndex: 3 } } }),
    ).toMatchObject({ valueJson: 'x' });

    // A child run, its inbox, event waits and receipts; sent events.
    const child = await prisma.flowRun.create({
      data: { runId: 'r-3', flowId: 'f', flowVersion: '1', inputJson: {}, stateJson: {}, parentRunId: 'r-1', parentNodeId: 'a' },
    });
    expect(child).toMatchObject({ parentRunId: 'r-1', parentNodeId: 'a' });
    expect((await prisma.flowRun.findMany({ where: { parentRunId: 'r-1' } })).map((r: { runId: string }) => r.runId)).toEqual(['r-3']);
    const first = await prisma.flowInboxEntry.create({ data: { runId: 'r-1', kind: 'resume', waitId: 4, branchId: 'b1', payloadJson: { ok: true } } });
    const second = await prisma.flowInboxEntry.create({
      data: { runId: 'r-1', kind: 'child', payloadJson: { childRunId: 'r-3', status: 'COMPLETED' }, createdAt: at },
    });
    expect(first).toEqual({
      id: expect.any(BigInt),
      runId: 'r-1',
      kind: 'resume',
      waitId: 4,
      branchId: 'b1',
      payloadJson: { ok: true },
      eventId: null,
      createdAt: expect.any(Date),
    });
    expect(second.id > first.id).toBe(true);
    expect(second).toMatchObject({ waitId: null, branchId: null, createdAt: at });
    await expect(prisma.flowInboxEntry.create({ data: { runId: 'r-1', kind: 'event', waitId: 4, payloadJson: {} } })).rejects.toThrow(); // one entry per wait
    await expect(prisma.flowInboxEntry.create({ data: { runId: 'r-1', kind: 'bogus', payloadJson: {} } })).rejects.toThrow(); // the kind check
    await prisma.flowInboxEntry.create({ data: { runId: 'r-1', kind: 'child', payloadJson: {} } }); // child entries name no wait
    const sent = await prisma.flowSentEvent.create({ data: { eventId: 'e-1', name: 'paid', key: 'order-1', payloadJson: { amount: 3 } } });
    expect(sent).toEqual({ eventId: 'e-1', name: 'paid', key: 'order-1', payloadJson: { amount: 3 }, sentAt: expect.any(Date) });
    expect(await prisma.flowSentEvent.create({ data: { eventId: 'e-2', name: 'paid', payloadJson: {}, sentAt: at } })).toMatchObject({ key: null, sentAt: at });
    // An event's entry names the event and holds no payload; an entry holds one of the two, never both or neither.
    expect(await prisma.flowInboxEntry.create({ data: { runId: 'r-1', kind: 'event', waitId: 8, eventId: 'e-1' } })).toMatchObject({
      eventId: 'e-1',
      payloadJson: null,
    });
    await expect(prisma.flowInboxEntry.create({ data: { runId: 'r-1', kind: 'event', waitId: 9, eventId: 'e-1', payloadJson: {} } })).rejects.toThrow();
    await expect(prisma.flowInboxEntry.create({ data: { runId: 'r-1', kind: 'resume', waitId: 9 } })).rejects.toThrow();
    await expect(prisma.flowInboxEntry.create({ data: { runId: 'r-1', kind: 'resume', waitId: 9, eventId: 'e-1' } })).rejects.toThrow();
    const wait = await prisma.flowEventWait.create({ data: { runId: 'r-1', branchId: 'b1', waitId: 7, name: 'paid', key: null } });
    expect(wait).toEqual({ runId: 'r-1', branchId: 'b1', waitId: 7, name: 'paid', key: null, createdAt: expect.any(Date) });
    expect(await prisma.flowEventWait.findUnique({ where: { runId_branchId_waitId: { runId: 'r-1', branchId: 'b1', waitId: 7 } } })).toEqual(wait);
    await prisma.flowEventReceipt.create({ data: { runId: 'r-1', eventId: 'e-1' } });
    expect(await prisma.flowEventReceipt.findUnique({ where: { runId_eventId: { runId: 'r-1', eventId: 'e-1' } } })).toEqual({ runId: 'r-1', eventId: 'e-1' });

    await prisma.flowRun.delete({ where: { runId: 'r-1' } });
    expect(await prisma.flowEvent.count({ where: { runId: 'r-1' } })).toBe(0); // ON DELETE CASCADE
    expect(await prisma.flowNodeValue.count({ where: { runId: 'r-1' } })).toBe(0);
    expect(await prisma.flowInboxEntry.count({ where: { runId: 'r-1' } })).toBe(0);
    expect(await prisma.flowEventWait.count({ where: { runId: 'r-1' } })).toBe(0);
    expect(await prisma.flowEventReceipt.count({ where: { runId: 'r-1' } })).toBe(0);
    expect(await prisma.flowSentEvent.count()).toBe(2); // events belong to no run
  });
});
