-- Schedules (issue 18): durable cron and intervals, exactly once per tick across processes.
-- A schedule is one row in "flow_schedules". Workers claim the due ones ("due_at" past, no live
-- claim: "claimed_until") with FOR UPDATE SKIP LOCKED, and fire a tick in one statement that
-- advances the row, fenced by "revision", and inserts the tick's run. The run carries its
-- schedule and tick ("schedule_id", "scheduled_at"); the unique index on that pair makes a second
-- run for one tick impossible, whatever races or replays happen above it (a schedule deleted
-- and set again included). Runs made before this migration get NULL in both (no schedule).

-- CreateTable
CREATE TABLE "flow_schedules" (
    "schedule_id" TEXT NOT NULL,
    "flow_id" TEXT NOT NULL,
    "flow_version" TEXT,
    "cron" TEXT,
    "every_ms" BIGINT,
    "timezone" TEXT NOT NULL DEFAULT 'UTC',
    "input_json" JSONB NOT NULL DEFAULT 'null',
    "overlap" TEXT NOT NULL DEFAULT 'skip',
    "catchup" TEXT NOT NULL DEFAULT 'latest',
    "catchup_window_ms" BIGINT NOT NULL DEFAULT 86400000,
    "jitter_ms" BIGINT NOT NULL DEFAULT 0,
    "paused" BOOLEAN NOT NULL DEFAULT false,
    "next_fire_at" TIMESTAMPTZ(3),
    "due_at" TIMESTAMPTZ(3),
    "last_fire_at" TIMESTAMPTZ(3),
    "last_skip_json" JSONB,
    "buffered_json" JSONB NOT NULL DEFAULT '[]',
    "claimed_until" TIMESTAMPTZ(3),
    "revision" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "flow_schedules_pkey" PRIMARY KEY ("schedule_id")
);

-- The claim's look: active schedules by due time.
-- CreateIndex
CREATE INDEX "flow_schedules_due_idx" ON "flow_schedules"("paused", "due_at");

-- CreateIndex
CREATE INDEX "flow_schedules_flow_id_idx" ON "flow_schedules"("flow_id");

-- Not expressible in schema.prisma: a schedule has exactly one of a cron expression and an interval,
-- and only the overlap and catch-up values the engine knows.
ALTER TABLE "flow_schedules" ADD CONSTRAINT "flow_schedules_timetable_check" CHECK (("cron" IS NULL) <> ("every_ms" IS NULL));
ALTER TABLE "flow_schedules" ADD CONSTRAINT "flow_schedules_overlap_check"
    CHECK ("overlap" IN ('skip', 'bufferOne', 'bufferAll', 'allow', 'cancelPrevious'));
ALTER TABLE "flow_schedules" ADD CONSTRAINT "flow_schedules_catchup_check" CHECK ("catchup" IN ('none', 'latest', 'all'));

-- AlterTable
ALTER TABLE "flow_runs" ADD COLUMN "schedule_id" TEXT,
ADD COLUMN "scheduled_at" TIMESTAMPTZ(3);

-- One run per tick.
-- CreateIndex
CREATE UNIQUE INDEX "flow_runs_schedule_tick_key" ON "flow_runs"("schedule_id", "scheduled_at");

-- The claim reads each schedule's live runs (overlap), `listRuns({ scheduleId })` its runs.
-- CreateIndex
CREATE INDEX "flow_runs_schedule_status_idx" ON "flow_runs"("schedule_id", "status");

-- CreateIndex
CREATE INDEX "flow_runs_schedule_created_idx" ON "flow_runs"("schedule_id", "created_at", "run_id");
