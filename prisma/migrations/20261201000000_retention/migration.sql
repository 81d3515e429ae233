-- Retention (issue 11): `pruneRuns` deletes finished runs with everything that belongs to them.
-- Events, node values, inbox entries, event waits and receipts go with their run by their
-- foreign keys (ON DELETE CASCADE). Idempotency records have none (their key is global): they
-- are deleted by run_id, which this index serves.

-- CreateIndex
CREATE INDEX "flow_idempotency_run_id_idx" ON "flow_idempotency"("run_id");
