/**
 * The soak's own tables, beside the flow tables in its schema: every handler execution (to show
 * each is in the timeline: at-least-once) and the idempotent side effect, a row per key.
 */
export function sideTables(schema: string) {
  const s = `"${schema.replace(/"/g, '""')}"`;
  return {
    create: `
      CREATE TABLE IF NOT EXISTS ${s}.chaos_executions (
        id bigserial PRIMARY KEY, run_id text NOT NULL, node_id text NOT NULL, attempt int NOT NULL,
        pid int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
      CREATE TABLE IF NOT EXISTS ${s}.chaos_side_effects (
        key text PRIMARY KEY, run_id text NOT NULL, amount int NOT NULL, pid int NOT NULL,
        at timestamptz NOT NULL DEFAULT clock_timestamp());`,
    logExecution: `INSERT INTO ${s}.chaos_executions (run_id, node_id, attempt, pid) VALUES ($1, $2, $3, $4)`,
    insertSideEffect: `INSERT INTO ${s}.chaos_side_effects (key, run_id, amount, pid) VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING`,
    executions: `SELECT run_id, node_id, attempt, count(*)::int AS n FROM ${s}.chaos_executions GROUP BY 1, 2, 3`,
    sideEffects: `SELECT key, run_id, amount FROM ${s}.chaos_side_effects`,
  };
}
