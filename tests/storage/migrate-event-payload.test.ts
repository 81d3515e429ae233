/**
 * Upgrading a database whose event inbox entries hold a copy of their event (before
 * `20261207000000_event_payload_once`): those entries read back as they were, even once their
 * event is pruned, and are applied like any other; new entries name their event instead.
 */
import { describe, expect } from 'vitest';
import type { SqlExecutor } from '../../src/storage/sql/executor.js';
import { migrate } from '../../src/storage/sql/migrate.js';
import { SqlFlowStorage } from '../../src/storage/sql/sql-storage.js';
import { j, step } from '../contract/contract-helpers.js';
import { itUpgradesOnBoth, withMigrationsBefore, migrationsFrom } from '../helpers/upgrade.js';

const MIGRATION = '20261207000000_event_payload_once';

async function checkUpgrade(executor: SqlExecutor, schema: string): Promise<void> {
  await withMigrationsBefore(MIGRATION, (dir) => migrate(executor, { schema, migrationsDir: dir }));
  const q = `"${schema}"`;
  const waiting = [{ branchId: 'b1', nodeId: 'ask', status: 'WAITING', attempt: 1, recoveries: 0, dueAt: null, waitReason: 'event', error: null, waitId: 2 }];
  const copy = { eventId: 'e-old', name: 'paid', key: 'k', payload: { amount: 7 } };
  await executor.query(
    `INSERT INTO ${q}.flow_runs (run_id, flow_id, flow_version, status, current_node_id, input_json, state_json, branches_json, last_seq, attempts_json, wait_reason)
     VALUES ('old', 'f', '1', 'WAITING', 'ask', '{}', '{}', $1::jsonb, 2, '{"ask":1}', 'event')`,
    [JSON.stringify(waiting)],
  );
  await executor.query(`INSERT INTO ${q}.flow_sent_events (event_id, name, key, payload_json) VALUES ('e-old', 'paid', 'k', '{"amount":7}')`);
  await executor.query(`INSERT INTO ${q}.flow_inbox (run_id, kind, wait_id, branch_id, payload_json) VALUES ('old', 'event', 2, 'b1', $1::jsonb)`, [
    JSON.stringify(copy),
  ]);

  // This migration and those after it.
  expect((await migrate(executor, { schema })).applied).toEqual(migrationsFrom(MIGRATION));
  const storage = new SqlFlowStorage(executor, { schema, ownsExecutor: false });
  try {
    const [entry] = await storage.getInbox('old');
    expect(entry).toMatchObject({ kind: 'event', waitId: 2, branchId: 'b1', payload: copy });
    // The old entry holds its copy: it does not keep its event, and reads the same without it.
    expect(await storage.pruneEvents(new Date(Date.now() + 60_000), 100)).toBe(1);
    expect((await storage.getInbox('old')).map((e) => e.payload)).toEqual([copy]);
    const lease = (await storage.lockRun('old', { onlyIfDue: true }))!;
    const run = lease.run!;
    const next = await lease.commit(
      step(
        run,
        { status: 'COMPLETED', currentNodeId: null, branches: j([]), waitReason: null },
        {
          consumeInbox: [entry!.id],
          receipts: ['e-old'],
          events: [{ type: 'EVENT_RECEIVED', nodeId: 'ask', branchId: 'b1' }, { type: 'RUN_COMPLETED' }],
          release: true,
        },
      ),
    );
    expect(next).toMatchObject({ status: 'COMPLETED', hasInbox: false });
  } finally {
    await storage.close();
  }
}

describe('upgrading a database whose event entries hold a copy of their event', () => {
  itUpgradesOnBoth('they read back as they were, and are applied', 'flow_upgrade_payload', checkUpgrade);
});
