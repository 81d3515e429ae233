-- Versions, migration and re-runs (issue 19). A run made by `forkRun` names the run it was forked
-- from and the node it runs on from; NULL on every other run, existing ones included: nothing to
-- write. Migration and retry need no column: they rewrite the run's own (flow_version, status,
-- branches…) under its lock, fenced by its version, like any commit.
ALTER TABLE "flow_runs" ADD COLUMN "forked_from_run_id" TEXT,
ADD COLUMN "forked_from_node_id" TEXT;
