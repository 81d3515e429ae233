/**
 * The soak's own tables, beside the flow tables in its schema: every handler execution (to show
 * each is in the timeline: at-least-once), the idempotent side effects (a row per key, written by
 * the handlers with ON CONFLICT DO NOTHING) and each write that found its key taken (a conflict:
 * the handler ran again after an attempt whose outcome was never committed), and the rows of the
 * transactional node (`finish`), written in its step's transaction: one per completed run.
 */
import type pg from 'pg';
import type { FlowContext } from '@hazeljs/flow';
import type { SoakEffects } from './soak-flow.js';

export function sideTables(schema: string) {
  const s = `"${schema.replace(/"/g, '""')}"`;
  return {
    create: `
      CREATE TABLE IF NOT EXISTS ${s}.chaos_executions (
        id bigserial PRIMARY KEY, run_id text NOT NULL, node_id text NOT NULL, branch_id text NOT NULL,
        item_index int, attempt int NOT NULL, pid int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
      CREATE TABLE IF NOT EXISTS ${s}.chaos_side_effects (
        key text PRIMARY KEY, run_id text NOT NULL, node_id text NOT NULL, item_index int, attempt int NOT NULL,
        amount int NOT NULL, pid int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
      CREATE TABLE IF NOT EXISTS ${s}.chaos_tx_writes (
        id bigserial PRIMARY KEY, run_id text NOT NULL, attempt int NOT NULL, pid int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
      CREATE TABLE IF NOT EXISTS ${s}.chaos_effect_conflicts (
        id bigserial PRIMARY KEY, key text NOT NULL, run_id text NOT NULL, node_id text NOT NULL, item_index int,
        attempt int NOT NULL, pid int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());`,
    logExecution: `INSERT INTO ${s}.chaos_executions (run_id, node_id, branch_id, item_index, attempt, pid) VALUES ($1, $2, $3, $4, $5, $6)`,
    /** One statement: the row, or (key taken) a conflict record. */
    insertSideEffect: `WITH ins AS (
        INSERT INTO ${s}.chaos_side_effects (key, run_id, node_id, item_index, attempt, amount, pid)
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO NOTHING RETURNING key)
      INSERT INTO ${s}.chaos_effect_conflicts (key, run_id, node_id, item_index, attempt, pid)
      SELECT $1, $2, $3, $4, $5, $7 WHERE NOT EXISTS (SELECT 1 FROM ins)`,
    /** The transactional node's write: no key, so a second commit of it would show as a second row. */
    txWrite: `INSERT INTO ${s}.chaos_tx_writes (run_id, attempt, pid) VALUES ($1, $2, $3)`,
    txWrites: `SELECT run_id, count(*)::int AS n FROM ${s}.chaos_tx_writes GROUP BY run_id`,
    executions: `SELECT run_id, node_id, branch_id, item_index, attempt, count(*)::int AS n FROM ${s}.chaos_executions GROUP BY 1, 2, 3, 4, 5`,
    sideEffects: `SELECT key, run_id, node_id, item_index, amount FROM ${s}.chaos_side_effects`,
    conflicts: `SELECT key, run_id, node_id, item_index, attempt FROM ${s}.chaos_effect_conflicts`,
  };
}

/** The handlers' effects on `pool` (the soak process and every worker use the same). */
export function soakEffects(pool: pg.Pool, schema: string, afterLog?: (ctx: FlowContext) => Promise<void>): SoakEffects {
  const tables = sideTables(schema);
  return {
    async executionStarted(ctx) {
      await pool.query(tables.logExecution, [ctx.runId, ctx.meta.nodeId, ctx.meta.branchId, ctx.itemIndex ?? null, ctx.meta.attempt, process.pid]);
      await afterLog?.(ctx);
    },
    async effect(key, ctx, amount) {
      await pool.query(tables.insertSideEffect, [key, ctx.runId, ctx.meta.nodeId, ctx.itemIndex ?? null, ctx.meta.attempt, amount, process.pid]);
    },
    async transactionalWrite(ctx) {
      await ctx.tx!.query(tables.txWrite, [ctx.runId, ctx.meta.attempt, process.pid]);
    },
  };
}
