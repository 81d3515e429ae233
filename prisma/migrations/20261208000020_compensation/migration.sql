-- Compensation (issue 22). A run records, as its nodes finish, what could be undone
-- ("compensation_json": the nodes with a compensate handler, and children with compensations of
-- their own), and, once it undoes them, its progress there. "compensated" says how that ended:
-- true when every compensation succeeded, false when one failed for good, NULL for a run that
-- never compensated. Both NULL on every existing run: nothing to write.
ALTER TABLE "flow_runs" ADD COLUMN "compensation_json" JSONB,
ADD COLUMN "compensated" BOOLEAN;

-- A cancel that compensates is not a write of the run's row by the caller: it is an entry of the
-- run's inbox (kind 'cancel', answering no wait), applied by the run's holder, which alone can
-- run the compensations.
ALTER TABLE "flow_inbox" DROP CONSTRAINT "flow_inbox_kind_check";
ALTER TABLE "flow_inbox" ADD CONSTRAINT "flow_inbox_kind_check" CHECK ("kind" IN ('resume', 'event', 'child', 'cancel'));
