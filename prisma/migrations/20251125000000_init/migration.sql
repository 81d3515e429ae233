-- CreateEnum
CREATE TYPE "flow_run_status" AS ENUM ('RUNNING', 'WAITING', 'COMPLETED', 'FAILED', 'CANCELLED');

-- CreateTable
CREATE TABLE "flow_runs" (
    "run_id" TEXT NOT NULL,
    "flow_id" TEXT NOT NULL,
    "flow_version" TEXT NOT NULL,
    "tenant_id" TEXT,
    "status" "flow_run_status" NOT NULL DEFAULT 'RUNNING',
    "current_node_id" TEXT,
    "input_json" JSONB NOT NULL,
    "state_json" JSONB NOT NULL,
    "outputs_json" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "idempotency_key" TEXT,
    "version" INTEGER NOT NULL DEFAULT 1,
    "last_seq" INTEGER NOT NULL DEFAULT 0,
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "attempts_json" JSONB NOT NULL DEFAULT '{}',
    "attempt_in_flight" BOOLEAN NOT NULL DEFAULT false,
    "recoveries" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3),
    "wait_reason" TEXT,
    "error_json" JSONB,

    CONSTRAINT "flow_runs_pkey" PRIMARY KEY ("run_id")
);

-- CreateTable
CREATE TABLE "flow_events" (
    "run_id" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "type" TEXT NOT NULL,
    "node_id" TEXT,
    "attempt" INTEGER,
    "duration_ms" INTEGER,
    "error_json" JSONB,
    "payload_json" JSONB,

    CONSTRAINT "flow_events_pkey" PRIMARY KEY ("run_id","seq")
);

-- CreateTable
CREATE TABLE "flow_definitions" (
    "flow_id" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "graph_json" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "flow_definitions_pkey" PRIMARY KEY ("flow_id","version")
);

-- CreateTable
CREATE TABLE "flow_idempotency" (
    "key" TEXT NOT NULL,
    "run_id" TEXT NOT NULL,
    "node_id" TEXT NOT NULL,
    "result_json" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "flow_idempotency_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE UNIQUE INDEX "flow_runs_idempotency_key_key" ON "flow_runs"("idempotency_key");

-- CreateIndex
CREATE INDEX "flow_runs_due_idx" ON "flow_runs"("status", "next_attempt_at");

-- CreateIndex
CREATE INDEX "flow_runs_created_idx" ON "flow_runs"("created_at", "run_id");

-- CreateIndex
CREATE INDEX "flow_runs_status_created_idx" ON "flow_runs"("status", "created_at", "run_id");

-- CreateIndex
CREATE INDEX "flow_runs_flow_created_idx" ON "flow_runs"("flow_id", "flow_version", "created_at", "run_id");

-- CreateIndex
CREATE INDEX "flow_runs_tenant_created_idx" ON "flow_runs"("tenant_id", "created_at", "run_id");

-- AddForeignKey
ALTER TABLE "flow_events" ADD CONSTRAINT "flow_events_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "flow_runs"("run_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- CreateFunction (hand-written; Prisma neither generates nor diffs functions)
-- Reads a run with a snapshot taken when the function runs, not when the calling statement
-- began. lockRun calls it after pg_try_advisory_lock in the same statement, so the row it returns
-- includes every commit made before the previous holder let go of the lock.
CREATE FUNCTION "flow_run_fresh"("p_run_id" TEXT, "p_locked" BOOLEAN) RETURNS SETOF "flow_runs"
    LANGUAGE sql VOLATILE
    SET search_path FROM CURRENT
    AS $$ SELECT * FROM "flow_runs" WHERE "run_id" = "p_run_id" AND "p_locked" $$;
