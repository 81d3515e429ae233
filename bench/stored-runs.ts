/**
 * Throughput with many finished runs stored (part of `npm run bench:worker`, section `stored`):
 * the worker drain of bench/worker-scenarios.ts on an empty schema, then on a schema holding
 * `BENCH_STORED_RUNS` (default 1,000,000) finished runs of the same flow — each with 4 timeline
 * events and 2 node values, generated in SQL — then on the empty one again. The ratio (stored /
 * mean of the two empty figures) says whether the hot statements stay on their indexes as the
 * tables grow (target ≥ 0.8).
 */
import pg from 'pg';
import { createPostgresStorage } from '../src/storage/postgres.js';
import { workerDrain, type ThroughputResult } from './worker-scenarios.js';

export interface StoredRunsResult {
  stored: number;
  fillSeconds: number;
  empty: ThroughputResult[];
  full: ThroughputResult;
  ratio: number;
}

/** Fills `schema` with `count` finished runs of `bench-3@1`, in batches of 100,000 (one transaction each). */
async function fill(url: string, schema: string, count: number): Promise<void> {
  const storage = createPostgresStorage({ connectionString: url, schema, poolSize: 2 });
  await storage.init(); // the tables, by the migrations
  await storage.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const s = `"${schema}"`;
    for (let from = 1; from <= count; from += 100_000) {
      const to = Math.min(count, from + 99_999);
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO ${s}.flow_runs (run_id, flow_id, flow_version, status, current_node_id, input_json, state_json, branches_json,
                                     created_at, updated_at, version, last_seq)
         SELECT 'stored-' || i, 'bench-3', '1', 'COMPLETED', NULL, jsonb_build_object('i', i), '{"b": true}', '[]',
                now() - interval '1 day' + i * interval '1 ms', now() - interval '1 day' + i * interval '1 ms', 6, 4
         FROM generate_series($1::int, $2::int) i`,
        [from, to],
      );
      await client.query(
        `INSERT INTO ${s}.flow_events (run_id, seq, at, type, node_id)
         SELECT 'stored-' || i, e.seq, now() - interval '1 day', e.type, e.node
         FROM generate_series($1::int, $2::int) i,
              (VALUES (1, 'RUN_STARTED', NULL), (2, 'NODE_FINISHED', 'a'), (3, 'NODE_FINISHED', 'c'), (4, 'RUN_COMPLETED', NULL)) AS e(seq, type, node)`,
        [from, to],
      );
      await client.query(
        `INSERT INTO ${s}.flow_node_values (run_id, node_id, kind, item_index, value_json)
         SELECT 'stored-' || i, v.node, 'output', -1, v.value
         FROM generate_series($1::int, $2::int) i, (VALUES ('a', '1'::jsonb), ('c', '"done"'::jsonb)) AS v(node, value)`,
        [from, to],
      );
      await client.query('COMMIT');
    }
    await client.query(`VACUUM ANALYZE ${s}.flow_runs`);
    await client.query(`VACUUM ANALYZE ${s}.flow_events`);
    await client.query(`VACUUM ANALYZE ${s}.flow_node_values`);
  } finally {
    await client.end();
  }
}

export async function storedRunsThroughput(url: string, freshSchema: (label: string) => string, stored: number, runs: number): Promise<StoredRunsResult> {
  const first = await workerDrain(url, freshSchema('empty'), runs);
  const full = freshSchema('stored');
  const t0 = Date.now();
  await fill(url, full, stored);
  const fillSeconds = (Date.now() - t0) / 1000;
  const withStored = await workerDrain(url, full, runs);
  const second = await workerDrain(url, freshSchema('empty2'), runs);
  const emptyRate = (first.runsPerSec + second.runsPerSec) / 2;
  return { stored, fillSeconds, empty: [first, second], full: withStored, ratio: withStored.runsPerSec / emptyRate };
}
