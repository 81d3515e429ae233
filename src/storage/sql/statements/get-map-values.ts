/**
 * `getMapValues`: a map's stored item list and the outputs of its finished items, for the holder
 * that drives it (node ids of a map's values are `nodeId#branchId`, see engine/transition.ts).
 * $1 run id, $2 node id. Rows: `kind` ('items' | 'item'), `item_index`, `value_json`.
 */
import type { SqlNames } from '../names.js';

export function getMapValuesSql(n: SqlNames): string {
  return `SELECT kind, item_index, value_json FROM ${n.nodeValues}
    WHERE run_id = $1 AND node_id = $2 AND kind IN ('items', 'item') ORDER BY kind, item_index`;
}
