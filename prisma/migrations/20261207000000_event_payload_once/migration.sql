-- An event's payload stored once (issue 16).
--
-- Before: each inbox entry of an event held a copy of it ({eventId, name, key, payload}): one
-- 1 MB event sent to 150 waiting runs wrote 150 copies. After: the entry names the sent event
-- (event_id) and holds no payload (payload_json NULL); the inbox is read joined to the event, and
-- pruneEvents keeps an event as long as an entry names it (the index below serves that check).
-- Entries written before keep their copy (event_id NULL) and are read as they were: nothing to
-- migrate, and the event they came from may already be pruned.

-- AlterTable
ALTER TABLE "flow_inbox" ADD COLUMN "event_id" TEXT,
ALTER COLUMN "payload_json" DROP NOT NULL;

-- CreateIndex
CREATE INDEX "flow_inbox_event_id_idx" ON "flow_inbox"("event_id");

-- AddCheckConstraint (hand-written; Prisma neither generates nor diffs check constraints)
-- An entry holds its payload or names an event, one of the two; only an 'event' entry names one.
ALTER TABLE "flow_inbox" ADD CONSTRAINT "flow_inbox_event_id_check" CHECK (("event_id" IS NULL) <> ("payload_json" IS NULL) AND ("event_id" IS NULL OR "kind" = 'event'));
