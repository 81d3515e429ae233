-- Business outcomes (issue 22). A node's ok result may carry `outcome` ('refunded', 'declined'…):
-- it becomes the run's outcome, shown in the runs list and filterable (`listRuns({ outcome })`).
-- Runs made before have none (NULL), as have most runs: the index is partial, holding only the
-- runs that have one, so a run without one costs it nothing (no entry written at its insert) and
-- it stays the size of what it is asked for. It serves `outcome = … ORDER BY created_at DESC,
-- run_id DESC` (the runs list's order, see list-runs-query.ts) read in order, with the cursor.
-- A step that leaves the outcome as it was changes no indexed column here: it can still be HOT.

-- AlterTable
ALTER TABLE "flow_runs" ADD COLUMN "outcome" TEXT;

-- CreateIndex
CREATE INDEX "flow_runs_outcome_created_idx" ON "flow_runs"("outcome", "created_at", "run_id") WHERE ("outcome" IS NOT NULL);
