/**
 * Type tests of transactional nodes (docs/transactions.md): `ctx.tx` is a `SqlTransaction` (pg,
 * PGlite) that may be absent, its rows typed by the caller; the option takes `true` or one of
 * Postgres' isolation levels, in typed and untyped builders alike.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { flow, type NodeOptions, type SqlTransaction, type TransactionIsolation } from '@hazeljs/flow';

describe('transactional nodes (types)', () => {
  it('ctx.tx is an optional SqlTransaction whose rows the caller types', () => {
    flow<{ sku: string }, { n: number }>('t', '1')
      .entry('a')
      .node(
        'a',
        async (ctx) => {
          expectTypeOf(ctx.tx).toEqualTypeOf<SqlTransaction | undefined>();
          const result = await ctx.tx!.query<{ id: number }>('INSERT INTO orders (sku) VALUES ($1) RETURNING id', [ctx.input.sku]);
          expectTypeOf(result.rows).toEqualTypeOf<{ id: number }[]>();
          expectTypeOf(result.rowCount).toEqualTypeOf<number>();
          return { status: 'ok', patch: { n: result.rows[0]!.id } };
        },
        { transaction: { isolation: 'serializable' } },
      );
  });

  it('the option takes true, false or a Postgres isolation level', () => {
    expectTypeOf<NonNullable<NodeOptions['transaction']>>().toEqualTypeOf<boolean | { isolation?: TransactionIsolation }>();
    expectTypeOf<TransactionIsolation>().toEqualTypeOf<'read committed' | 'repeatable read' | 'serializable'>();
    flow('t', '1')
      .entry('a')
      .node('a', () => ({ status: 'ok' }), {
        // @ts-expect-error not a Postgres isolation level
        transaction: { isolation: 'snapshot' },
      });
  });
});
