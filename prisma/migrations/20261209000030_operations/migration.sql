-- Operations (issue 21): the trace a run's steps belong to, and the workers' registry.
--
-- "traceparent" on a run is its W3C trace context (`00-<trace id>-<span id>-<flags>`), taken at
-- start: every step's span, in any process, after any wait, retry or recovery, is its child.
-- Runs made before this migration have none (NULL): their steps start traces of their own.
--
-- "flow_workers" holds one row per running worker, written at its start and refreshed every
-- "heartbeat_ms" (with "last_seen_at" by the database's clock); a worker that stops deletes its
-- row. A row not refreshed for 3 heartbeats is shown silent, and one silent for 30 heartbeats is
-- deleted by the next refresh of any worker (and no longer listed meanwhile).

-- AlterTable
ALTER TABLE "flow_runs" ADD COLUMN "traceparent" TEXT;

-- CreateTable
CREATE TABLE "flow_workers" (
    "worker_id" TEXT NOT NULL,
    "host" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "heartbeat_ms" INTEGER NOT NULL,
    "flow_keys" JSONB NOT NULL DEFAULT '[]',
    "concurrency" INTEGER NOT NULL,
    "in_flight" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "flow_workers_pkey" PRIMARY KEY ("worker_id")
);
