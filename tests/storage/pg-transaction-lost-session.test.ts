/**
 * A session terminated (pg_terminate_backend, a Postgres restart) while the executor's
 * `transaction()` has its connection checked out but no statement running. pg-pool removes its
 * idle 'error' listener from a client while it is checked out, so without one of our own the
 * client's 'error' event is unhandled and crashes the process. `hold()` has that listener;
 * `transaction()` has none — and since events, every `sendEvent` and every commit that parks a
 * branch on an event wait runs in `transaction()` (SqlInbox.queryUnderEventLocks). Seen in the
 * chaos soak: the soak process died in a session storm while sending events.
 *
 * Expected: the transaction fails with an error; nothing is thrown outside it.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresExecutor } from '../../src/storage/postgres.js';
import { HAVE_PG, TEST_DATABASE_URL } from '../helpers/pg.js';

describe.skipIf(!HAVE_PG)('pg transaction() whose session is terminated between statements', () => {
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => void uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  afterAll(() => void process.removeListener('uncaughtException', onUncaught));

  it('fails the transaction and does not crash the process', async () => {
    const executor = createPostgresExecutor({ connectionString: TEST_DATABASE_URL, poolSize: 2, listen: false });
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    try {
      const outcome = executor.transaction(async (tx) => {
        const [row] = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await admin.query('SELECT pg_terminate_backend($1)', [row!.pid]);
        // The server's FATAL arrives while no statement of ours is running on the connection.
        await new Promise((r) => setTimeout(r, 300));
      });
      await expect(outcome).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 100));
      expect(uncaught.map((e) => (e as Error).message)).toEqual([]);
    } finally {
      await admin.end();
      await executor.close();
    }
  });
});
