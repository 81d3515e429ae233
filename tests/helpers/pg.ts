/**
 * Real-Postgres test support: each test file works in a schema of its own (random name) and
 * drops it afterwards, so files run in parallel against one database without seeing each other.
 *
 * Postgres is found at TEST_DATABASE_URL, else DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test.
 * When it is unreachable the Postgres tests are skipped with a message — unless
 * FLOW_REQUIRE_POSTGRES=1, which turns that into a failure (CI).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let availability: Promise<boolean> | null = null;

/** Whether the test Postgres answers (checked once per file). */
export function pgAvailable(): Promise<boolean> {
  availability ??= (async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch (err) {
      if (process.env.FLOW_REQUIRE_POSTGRES === '1') {
        throw new Error(`FLOW_REQUIRE_POSTGRES=1 but Postgres at ${redact(TEST_DATABASE_URL)} is unreachable: ${(err as Error).message}`, { cause: err });
      }
      console.warn(
        `[tests] Postgres at ${redact(TEST_DATABASE_URL)} is unreachable (${(err as Error).message}): skipping Postgres tests. Set FLOW_REQUIRE_POSTGRES=1 to make this a failure.`,
      );
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return availability;
}

/**
 * `await pgAvailable()` at module top level, for `describe.skipIf(!HAVE_PG)`.
 * Throws (fails the file) when FLOW_REQUIRE_POSTGRES=1 and Postgres is down.
 */
export const HAVE_PG: boolean = await pgAvailable();

function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
}

export function randomSchemaName(prefix = 'flow_test'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export interface TestSchema {
  schema: string;
  url: string;
  /** Run one statement with a short-lived connection. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  /** A connection string whose search_path is this schema (for Prisma clients and psql). */
  urlWithSchema: string;
  drop(): Promise<void>;
}

/** A fresh schema name (not created: migrate creates it). `drop()` removes it with everything in it. */
export async function createTestSchema(prefix?: string): Promise<TestSchema> {
  const schema = randomSchemaName(prefix);
  const query = async <R extends pg.QueryResultRow>(sql: string, params?: unknown[]) => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      return (await client.query<R>(sql, params)).rows;
    } finally {
      await client.end();
    }
  };
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set('schema', schema);
  return {
    schema,
    url: TEST_DATABASE_URL,
    urlWithSchema: url.toString(),
    query,
    drop: async () => {
      await query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
  };
}

/** Advisory locks held in the test database whose key belongs to a flow run of `schema`. */
export async function flowLocksHeld(t: TestSchema): Promise<number> {
  const rows = await t.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_locks l
     JOIN ${'"' + t.schema + '"'}.flow_runs r
       ON (l.classid::int8 << 32) | l.objid::int8 = hashtextextended('hazel-flow:' || $1 || ':' || r.run_id, 0)
     WHERE l.locktype = 'advisory' AND l.objsubid = 1`,
    [t.schema],
  );
  return rows[0]!.n;
}
