-- Runs of many branches, with node outputs in rows of their own (issue 9).
--
-- Before: a run was one cursor (current_node_id, attempt, next_attempt_at…) and every node's
-- output lived in one JSON column (outputs_json), rewritten whole at every step.
-- After: the run row carries its live branches (branches_json); outputs, a map's item list and
-- item outputs are written once each, in flow_node_values; events say which branch and item
-- they belong to.
--
-- Existing runs are migrated, not abandoned: a RUNNING or WAITING run gets one branch "b1" built
-- from its cursor columns, and every run's outputs are copied into rows before outputs_json goes.

-- AlterTable
ALTER TABLE "flow_runs" ADD COLUMN "branches_json" JSONB NOT NULL DEFAULT '[]';

-- AlterTable
ALTER TABLE "flow_events" ADD COLUMN "branch_id" TEXT,
ADD COLUMN "item_index" INTEGER;

-- CreateTable
CREATE TABLE "flow_node_values" (
    "run_id" TEXT NOT NULL,
    "node_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "item_index" INTEGER NOT NULL DEFAULT -1,
    "value_json" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "flow_node_values_pkey" PRIMARY KEY ("run_id","node_id","kind","item_index")
);

-- CreateIndex
CREATE INDEX "flow_node_values_kind_idx" ON "flow_node_values"("run_id", "kind");

-- AddForeignKey
ALTER TABLE "flow_node_values" ADD CONSTRAINT "flow_node_values_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "flow_runs"("run_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddCheckConstraint (hand-written; Prisma neither generates nor diffs check constraints)
-- 'output': a node's last output; 'items': a map's item list; 'item': one item's output. Only
-- an item has an index (>= 0); the others use -1, so that the primary key covers every row.
ALTER TABLE "flow_node_values" ADD CONSTRAINT "flow_node_values_kind_check" CHECK ("kind" IN ('output', 'items', 'item'));
ALTER TABLE "flow_node_values" ADD CONSTRAINT "flow_node_values_item_index_check" CHECK (CASE WHEN "kind" = 'item' THEN "item_index" >= 0 ELSE "item_index" = -1 END);

-- MigrateData (hand-written): every run's outputs, one row per node.
INSERT INTO "flow_node_values" ("run_id", "node_id", "kind", "item_index", "value_json", "created_at")
SELECT r."run_id", o."key", 'output', -1, o."value", r."updated_at"
FROM "flow_runs" r
CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(r."outputs_json") = 'object' THEN r."outputs_json" ELSE '{}'::jsonb END) o;

-- MigrateData (hand-written): a live run's cursor becomes its one branch "b1" (the branch its
-- RUN_STARTED event, seq 1, started). RUNNING: an attempt in flight -> RUNNING; a retry still
-- to wait for -> RETRY (with the last failure of the node); else READY. dueAt is the ISO-8601
-- text of next_attempt_at (as JavaScript's toISOString writes it). FAILED, COMPLETED and
-- CANCELLED runs keep '[]'.
UPDATE "flow_runs" r SET "branches_json" = jsonb_build_array(jsonb_build_object(
    'branchId', 'b1',
    'nodeId', r."current_node_id",
    'status', b."status",
    'attempt', r."attempt",
    'recoveries', r."recoveries",
    'dueAt', to_char(r."next_attempt_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'waitReason', r."wait_reason",
    'error', CASE WHEN b."status" = 'RETRY' THEN COALESCE(r."error_json", (
        SELECT e."error_json" FROM "flow_events" e
        WHERE e."run_id" = r."run_id" AND e."type" = 'NODE_FAILED' AND e."node_id" = r."current_node_id"
        ORDER BY e."seq" DESC LIMIT 1)) END))
FROM (
    SELECT x."run_id", CASE
        WHEN x."status" = 'WAITING' THEN 'WAITING'
        WHEN x."attempt_in_flight" THEN 'RUNNING'
        WHEN x."next_attempt_at" > now() OR x."error_json" IS NOT NULL THEN 'RETRY'
        ELSE 'READY' END AS "status"
    FROM "flow_runs" x
    WHERE x."status" IN ('RUNNING', 'WAITING') AND x."current_node_id" IS NOT NULL
) b
WHERE r."run_id" = b."run_id";

-- MigrateData (hand-written): the node events of live runs belong to their branch "b1". The
-- timelines of finished runs are left as they are (branch_id NULL: runs of one cursor).
UPDATE "flow_events" e SET "branch_id" = 'b1'
FROM "flow_runs" r
WHERE e."run_id" = r."run_id" AND r."status" IN ('RUNNING', 'WAITING') AND e."type" LIKE 'NODE\_%' AND e."node_id" IS NOT NULL;

-- AlterTable
ALTER TABLE "flow_runs" DROP COLUMN "outputs_json";

-- CreateFunction (hand-written; Prisma neither generates nor diffs functions)
-- A run's outputs ({nodeId: output}) read with a snapshot taken when the function runs, not when
-- the calling statement began: lockRun calls it after pg_try_advisory_lock in the same statement
-- (next to flow_run_fresh, see the init migration), so it sees every output committed before
-- the previous holder let go of the lock.
CREATE FUNCTION "flow_run_outputs"("p_run_id" TEXT) RETURNS JSONB
    LANGUAGE sql VOLATILE STRICT
    SET search_path FROM CURRENT
    AS $$ SELECT COALESCE(jsonb_object_agg("node_id", "value_json"), '{}'::jsonb) FROM "flow_node_values" WHERE "run_id" = "p_run_id" AND "kind" = 'output' $$;
