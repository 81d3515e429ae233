/**
 * The stored definitions (graphs without functions): saved once per `flowId@version`, read back.
 * Three statements on one small table, kept together.
 */
import type { SqlNames } from '../names.js';

/**
 * `saveDefinition`: stores the definition unless one with its flowId@version exists, and returns
 * the stored one (new or existing). None under a race (inserted by a transaction that committed
 * after this statement's snapshot): read it with `getDefinition`.
 * $1 flowId, $2 version, $3 fingerprint, $4 graph JSON. Rows: the definition row.
 */
export function saveDefinitionSql(n: SqlNames): string {
  return `WITH ins AS (
      INSERT INTO ${n.definitions} (flow_id, version, fingerprint, graph_json, created_at)
      VALUES ($1, $2, $3, $4::jsonb, statement_timestamp())
      ON CONFLICT (flow_id, version) DO NOTHING
      RETURNING *
    )
    SELECT * FROM ins
    UNION ALL
    SELECT * FROM ${n.definitions} WHERE flow_id = $1 AND version = $2 AND NOT EXISTS (SELECT 1 FROM ins)`;
}

/** `getDefinition`: $1 flowId, $2 version. Rows: at most one definition row. */
export function getDefinitionSql(n: SqlNames): string {
  return `SELECT * FROM ${n.definitions} WHERE flow_id = $1 AND version = $2`;
}

/** `listDefinitions`: every definition, oldest first. */
export function listDefinitionsSql(n: SqlNames): string {
  return `SELECT * FROM ${n.definitions} ORDER BY created_at, flow_id, version`;
}
