-- Durable failure handlers (issue 22): a flow's `onFailure` flow is started by the very commit
-- that ends a run FAILED (see the commit statement, src/storage/sql/statements/commit.ts). The
-- two runs name each other: "failure_of" on the handler run, "failure_handler_run_id" on the
-- failed run. Neither is a foreign key nor a parent link: the runs end, are cancelled and are
-- pruned independently, and a name may outlive the run it names (as "parent_run_id" does).
-- At most one handler per failed run is kept structurally by its idempotency key
-- ('onFailure:<run id>', under the existing unique index on "idempotency_key").

-- AlterTable
ALTER TABLE "flow_runs" ADD COLUMN "failure_of" TEXT,
ADD COLUMN "failure_handler_run_id" TEXT;
