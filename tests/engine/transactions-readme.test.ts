/**
 * The README's "Transactional nodes" example, verbatim, as a test on the Prisma store (and checked
 * against the README's text, so that the two cannot drift apart): the step's write to `orders`
 * is there once after the run; a step that fails after its write leaves none, and its retry's stays.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowEngine, createPostgresStorage, flow } from '@hazeljs/flow';
import { createFlowPrismaClient, createPrismaStorage } from '@hazeljs/flow/prisma';
import type { Prisma, PrismaClient } from '../../src/generated/prisma/client.js';
import { createTestSchema, HAVE_PG, TEST_DATABASE_URL, type TestSchema } from '../helpers/pg.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe.skipIf(!HAVE_PG)('README: Transactional nodes (Prisma)', () => {
  let t: TestSchema;
  let prisma: PrismaClient;
  let engine: FlowEngine;

  beforeAll(async () => {
    t = await createTestSchema('flow_tx_readme');
    const migrator = createPostgresStorage({ connectionString: TEST_DATABASE_URL, schema: t.schema, poolSize: 1, listen: false });
    await migrator.init();
    await migrator.close();
    await t.query(`CREATE TABLE "${t.schema}".orders (id serial PRIMARY KEY, run_id text NOT NULL, sku text NOT NULL, qty int NOT NULL)`);
    // The application's tables are found on its search_path, as in an app whose schema this is.
    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set('options', `-c search_path="${t.schema}"`);
    prisma = await createFlowPrismaClient<PrismaClient>({ connectionString: url.toString(), schema: t.schema, poolSize: 4 });
    engine = new FlowEngine({ storage: createPrismaStorage(prisma, { schema: t.schema }) });
  });
  afterAll(async () => {
    await engine?.close();
    await prisma?.$disconnect();
    await t?.drop();
  });

  it('runs the example: the order is written once, with the step', async () => {
    let failOnce = true;
    const paymentGateway = {
      // The first call fails after the write: the write must not stay.
      async reserve() {
        if (failOnce) {
          failOnce = false;
          throw new Error('gateway timeout');
        }
      },
    };
    // ---- verbatim from README.md, Transactional nodes ----
    const checkout = flow('checkout', '1')
      .entry('placeOrder')
      .node(
        'placeOrder',
        async (ctx) => {
          const tx = ctx.tx as unknown as Prisma.TransactionClient; // the store's interactive transaction
          const { sku, qty } = ctx.input as { sku: string; qty: number };
          await tx.$executeRaw`INSERT INTO orders (run_id, sku, qty) VALUES (${ctx.runId}, ${sku}, ${qty})`;
          await paymentGateway.reserve(); // a call to another system: NOT rolled back with the write
          return { status: 'ok', output: { ordered: qty } };
        },
        { transaction: true, retry: { maxAttempts: 3, backoff: 'exponential', baseDelayMs: 100 } },
      )
      .build();
    // ---- end ----
    await engine.registerDefinition(checkout);
    const { runId } = await engine.startRun({ flowId: 'checkout', version: '1', input: { sku: 'tea', qty: 2 } });
    const run = await engine.runToCompletion(runId);
    expect(run).toMatchObject({ status: 'COMPLETED', outputsJson: { placeOrder: { ordered: 2 } } });
    expect(await t.query(`SELECT run_id, sku, qty FROM "${t.schema}".orders`)).toEqual([{ run_id: runId, sku: 'tea', qty: 2 }]);
    expect((await engine.getTimeline(runId)).filter((e) => e.type === 'NODE_FAILED')).toHaveLength(1);
  });

  it('is the README’s text', () => {
    const section = README.slice(README.indexOf('## Transactional nodes'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
    const test = readFileSync(new URL(import.meta.url), 'utf8');
    const verbatim = /---- verbatim from README.md, Transactional nodes ----\n([\s\S]*?)\s*\/\/ ---- end ----/.exec(test)![1]!;
    const strip = (text: string) => text.replace(/^\s+/gm, '').trim();
    expect(strip(verbatim)).toBe(strip(code));
  });
});
