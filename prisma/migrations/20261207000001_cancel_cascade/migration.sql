-- Children are never left behind (issue 16). A run that ends FAILED or CANCELLED, or a branch or
-- map item that stops waiting for its child run, cancels that child and everything under it, in
-- the same statement as the write that decides it: `cancelRun` and the commit (lease-queries.ts)
-- both call this function, so the rule is written once and no crash can leave a child behind.
-- The children are found with "flow_runs_parent_created_idx" (parent_run_id first).

-- CreateFunction (hand-written; Prisma neither generates nor diffs functions)
-- Cancels the RUNNING/WAITING runs among "p_run_ids" and all their descendants: status CANCELLED
-- with no live branch, a RUN_CANCELLED event each, their event waits unregistered, and the
-- version moved, so their holders' next commits are refused. A listed run gets "p_reason", a
-- run below it "parent run <id> was cancelled". Returns the ids it cancelled.
-- It writes only the rows of those runs: the statement calling it must not write them too (a
-- row written twice in one statement is an error), so callers pass runs below their own. No end
-- is put in a parent's inbox: the parent of each run cancelled here is cancelled with it, or is
-- the caller's run, which no longer waits for it.
CREATE FUNCTION "flow_cancel_runs"("p_run_ids" TEXT[], "p_reason" TEXT) RETURNS SETOF TEXT
    LANGUAGE sql VOLATILE
    SET search_path FROM CURRENT
    AS $$
    WITH RECURSIVE "tree" AS (
        SELECT "run_id", "p_reason" AS "reason" FROM "flow_runs" WHERE "run_id" = ANY ("p_run_ids")
        UNION
        SELECT "c"."run_id", 'parent run ' || "c"."parent_run_id" || ' was cancelled'
        FROM "flow_runs" "c" JOIN "tree" ON "c"."parent_run_id" = "tree"."run_id"
    ), "cancelled" AS (
        UPDATE "flow_runs" "r" SET
            "status" = 'CANCELLED',
            "error_json" = jsonb_build_object('code', 'CANCELLED', 'message', "tree"."reason", 'retryable', false),
            "branches_json" = '[]',
            "attempt_in_flight" = false,
            "next_attempt_at" = NULL,
            "wait_reason" = NULL,
            "version" = "r"."version" + 1,
            "last_seq" = "r"."last_seq" + 1,
            "updated_at" = statement_timestamp()
        FROM "tree"
        WHERE "r"."run_id" = "tree"."run_id" AND "r"."status" IN ('RUNNING', 'WAITING')
        RETURNING "r"."run_id", "r"."last_seq", "tree"."reason"
    ), "timeline" AS (
        INSERT INTO "flow_events" ("run_id", "seq", "at", "type", "payload_json")
        SELECT "run_id", "last_seq", statement_timestamp(), 'RUN_CANCELLED', jsonb_build_object('reason', "reason") FROM "cancelled"
    ), "waits_ended" AS (
        DELETE FROM "flow_event_waits" "w" USING "cancelled" WHERE "w"."run_id" = "cancelled"."run_id"
    )
    SELECT "run_id" FROM "cancelled"
$$;

-- Repair what earlier versions left: a cancelled run keeps no live branch, and the unfinished
-- runs under a run that ended FAILED or CANCELLED are cancelled.
UPDATE "flow_runs" SET "branches_json" = '[]' WHERE "status" = 'CANCELLED' AND "branches_json" <> '[]';

SELECT count(*) AS "cancelled" FROM "flow_cancel_runs"(
    ARRAY(SELECT "c"."run_id" FROM "flow_runs" "c" JOIN "flow_runs" "p" ON "p"."run_id" = "c"."parent_run_id"
          WHERE "p"."status" IN ('FAILED', 'CANCELLED') AND "c"."status" IN ('RUNNING', 'WAITING')),
    'its parent run had ended');
