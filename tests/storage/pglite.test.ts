import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, describe, expect, it } from 'vitest';
import { createPGliteStorage } from '../../src/storage/pglite.js';
import type { JsonText, NewRun } from '../../src/storage/types.js';
import { migratedTemplate } from '../helpers/pglite-template.js';

const j = (v: unknown) => JSON.stringify(v) as JsonText;
const newRun = (): NewRun => ({
  runId: randomUUID(),
  flowId: 'embedded',
  flowVersion: '1',
  tenantId: null,
  idempotencyKey: null,
  currentNodeId: 'a',
  input: j({ hello: 'world' }),
  state: j({}),
  branches: j([]),
  events: [{ type: 'RUN_STARTED', nodeId: 'a' }],
});

describe('PGlite storage', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('is file-backed with dataDir: runs, events and leases survive a restart', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'flow-pglite-')), 'db');
    dirs.push(dataDir);
    const first = createPGliteStorage({ dataDir, schema: 'flows' });
    expect(first.kind).toBe('pglite');
    expect(first.durable).toBe(true);
    const { run } = await first.createRun(newRun());
    const lease = (await first.lockRun(run.runId))!;
    const moved = await lease.commit({
      expectedVersion: run.version,
      update: {
        status: 'WAITING',
        currentNodeId: 'a',
        branches: j([{ branchId: 'b1', nodeId: 'a', status: 'WAITING', attempt: 1, recoveries: 0, dueAt: null, waitReason: 'timer', error: null }]),
        attempt: 0,
        attemptInFlight: false,
        recoveries: 0,
        nextAttemptAt: { delayMs: 60_000 },
        waitReason: 'timer',
        error: null,
      },
      values: [
        { nodeId: 'a', kind: 'output', value: j({ before: 'restart' }) },
        { nodeId: 'm', kind: 'items', value: j([1]) },
        { nodeId: 'm', kind: 'item', itemIndex: 0, value: j('one') },
      ],
      events: [{ type: 'RUN_WAITING', nodeId: 'a', branchId: 'b1' }],
      release: true,
    });
    await first.close(); // a lease held at close would be dropped; this one was released by its commit

    const second = createPGliteStorage({ dataDir, schema: 'flows' });
    try {
      const again = await second.getRun(run.runId);
      expect(again).toMatchObject({
        status: 'WAITING',
        version: moved.version,
        inputJson: { hello: 'world' },
        waitReason: 'timer',
        outputsJson: { a: { before: 'restart' } },
      });
      expect(again!.branches).toEqual(moved.branches);
      const map = await second.getMapValues(run.runId, 'm');
      expect([map.items, [...map.outputs]]).toEqual([[1], [[0, 'one']]]);
      expect(again!.dueInMs).toBeGreaterThan(50_000);
      expect((await second.getEvents(run.runId)).map((e) => e.type)).toEqual(['RUN_STARTED', 'RUN_WAITING']);
      expect(await second.lockRun(run.runId)).not.toBeNull();
    } finally {
      await second.close();
    }
  }, 120_000); // two cold starts of embedded Postgres (initdb in WebAssembly)

  it('excludes concurrent holders in-process, also across stores on one PGlite, and says so to findDueRuns', async () => {
    const db = await PGlite.create({ loadDataDir: await migratedTemplate() });
    const s = createPGliteStorage({ pglite: db });
    const other = createPGliteStorage({ pglite: db });
    try {
      expect(s.durable).toBe(false);
      const { run } = await s.createRun(newRun());
      expect(await other.findDueRuns({ limit: 10 })).toEqual([run.runId]);
      const [a, b] = await Promise.all([s.lockRun(run.runId), s.lockRun(run.runId)]);
      expect([a, b].filter((l) => l !== null)).toHaveLength(1);
      expect(await other.lockRun(run.runId)).toBeNull();
      expect(await other.findDueRuns({ limit: 10 })).toEqual([]);
      await (a ?? b)!.release();
      expect(await other.findDueRuns({ limit: 10 })).toEqual([run.runId]);
      const taken = await other.lockRun(run.runId);
      expect(taken).not.toBeNull();
      await other.close(); // releases its lease
      expect(await s.lockRun(run.runId)).not.toBeNull();
    } finally {
      await s.close();
      await db.close();
    }
  }, 60_000);
});
