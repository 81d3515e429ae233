-- Child runs, event waits and the run's inbox (issue 10).
--
-- A run may be the child of another (parent_run_id, and the parent's node). Answers to a run's
-- waits — resumes, events, the end of a child — are rows of its inbox, written without the
-- run's lock and deleted by the transition of the holder that applies them. Sent events are
-- stored (flow_sent_events) so that a wait reached after the event was sent still gets it; the
-- waits registered for them (flow_event_waits) and the events each run already received
-- (flow_event_receipts) are rows too. Existing runs are top-level runs with an empty inbox:
-- nothing to migrate.

-- AlterTable
ALTER TABLE "flow_runs" ADD COLUMN "parent_node_id" TEXT,
ADD COLUMN "parent_run_id" TEXT;

-- CreateTable
CREATE TABLE "flow_inbox" (
    "id" BIGSERIAL NOT NULL,
    "run_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "wait_id" INTEGER,
    "branch_id" TEXT,
    "payload_json" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "flow_inbox_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "flow_sent_events" (
    "event_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "key" TEXT,
    "payload_json" JSONB NOT NULL,
    "sent_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "flow_sent_events_pkey" PRIMARY KEY ("event_id")
);

-- CreateTable
CREATE TABLE "flow_event_waits" (
    "run_id" TEXT NOT NULL,
    "branch_id" TEXT NOT NULL,
    "wait_id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "key" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "flow_event_waits_pkey" PRIMARY KEY ("run_id","branch_id","wait_id")
);

-- CreateTable
CREATE TABLE "flow_event_receipts" (
    "run_id" TEXT NOT NULL,
    "event_id" TEXT NOT NULL,

    CONSTRAINT "flow_event_receipts_pkey" PRIMARY KEY ("run_id","event_id")
);

-- CreateIndex
CREATE INDEX "flow_runs_parent_created_idx" ON "flow_runs"("parent_run_id", "created_at", "run_id");

-- CreateIndex
CREATE UNIQUE INDEX "flow_inbox_run_id_wait_id_key" ON "flow_inbox"("run_id", "wait_id");

-- CreateIndex
CREATE INDEX "flow_sent_events_name_key_sent_at_idx" ON "flow_sent_events"("name", "key", "sent_at");

-- CreateIndex
CREATE INDEX "flow_sent_events_sent_at_idx" ON "flow_sent_events"("sent_at");

-- CreateIndex
CREATE INDEX "flow_event_waits_name_key_idx" ON "flow_event_waits"("name", "key");

-- AddForeignKey
ALTER TABLE "flow_inbox" ADD CONSTRAINT "flow_inbox_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "flow_runs"("run_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "flow_event_waits" ADD CONSTRAINT "flow_event_waits_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "flow_runs"("run_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "flow_event_receipts" ADD CONSTRAINT "flow_event_receipts_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "flow_runs"("run_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddCheckConstraint (hand-written; Prisma neither generates nor diffs check constraints)
-- 'resume' and 'event' entries answer one wait (wait_id): the unique index above keeps one entry
-- per wait (NULLs are distinct, so the 'child' entries, which name no wait, are not limited).
ALTER TABLE "flow_inbox" ADD CONSTRAINT "flow_inbox_kind_check" CHECK ("kind" IN ('resume', 'event', 'child'));

-- CreateFunction (hand-written; Prisma neither generates nor diffs functions)
-- Whether the run's inbox holds entries, read with a snapshot taken when the function runs: next
-- to flow_run_fresh and flow_run_outputs after the lock in lockRun, so that it sees the inbox as
-- the previous holder left it (entries it consumed are gone).
CREATE FUNCTION "flow_run_has_inbox"("p_run_id" TEXT) RETURNS BOOLEAN
    LANGUAGE sql VOLATILE STRICT
    SET search_path FROM CURRENT
    AS $$ SELECT EXISTS (SELECT 1 FROM "flow_inbox" WHERE "run_id" = "p_run_id") $$;
