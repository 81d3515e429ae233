-- Flow control (issue 17): concurrency limits per key, rate limits, priority, delayed starts and
-- debounce (docs/flow-control.md). A run carries its claim priority ("priority") and, when its
-- flow has flow control, its limits with the keys its key functions gave at startRun
-- ("flow_control_json", FlowControlRecord of src/definitions/types.ts). Limits are decided where a
-- run is taken, by "flow_admit_run" below, under the run's lock:
--   - executing scope: advisory locks (slot namespace, slot number) taken with the run's own lock,
--     on the same session, let go with it: a process that dies frees its slots at once;
--   - active scope: rows of "flow_concurrency_slots", one per (flow, limit and key, slot), taken at
--     the run's first claim and free again once the run that holds one is no longer live (taken
--     over lazily: no write is needed when a run ends);
--   - rate limits: one row per (flow, key) in "flow_rate_limits", its GCRA "theoretical arrival
--     time", moved by one update per admitted run.
-- Runs made before this migration get priority 0 and no flow control.

-- AlterTable
ALTER TABLE "flow_runs" ADD COLUMN "priority" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN "flow_control_json" JSONB;

-- CreateTable
CREATE TABLE "flow_concurrency_slots" (
    "flow_id" TEXT NOT NULL,
    "slot_key" TEXT NOT NULL,
    "slot" INTEGER NOT NULL,
    "run_id" TEXT NOT NULL,

    CONSTRAINT "flow_concurrency_slots_pkey" PRIMARY KEY ("flow_id","slot_key","slot")
);

-- CreateTable
CREATE TABLE "flow_rate_limits" (
    "flow_id" TEXT NOT NULL,
    "rate_key" TEXT NOT NULL,
    "tat" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "flow_rate_limits_pkey" PRIMARY KEY ("flow_id","rate_key")
);

-- CreateIndex
CREATE INDEX "flow_concurrency_slots_run_id_idx" ON "flow_concurrency_slots"("run_id");

-- CreateIndex (hand-written: an expression index Prisma cannot express) — joinDebouncedRun's look-up.
CREATE INDEX "flow_runs_debounce_idx" ON "flow_runs"("flow_id", "flow_version", (("flow_control_json" -> 'debounce' ->> 'key')))
    WHERE "flow_control_json" ? 'debounce' AND "last_seq" = 1;

-- CreateFunction (hand-written; Prisma neither generates nor diffs functions)
-- Admits run "p_run_id", whose lock the caller holds, under its flow control limits, or refuses it
-- and lets go of everything it took. "p_locks": how executing slots are taken: 'session' (advisory
-- locks of the caller's session: pg's lock session; a refused run's own lock "p_run_key" is let go
-- too), 'xact' (transaction locks: Prisma's held transaction) or 'none' (counted by the caller:
-- PGlite). "p_rows": whether to take active slots and rate-limit tokens (rows, committed with the
-- calling statement). "p_ns": the slot lock namespace of the store's schema.
-- Returns {"ok": true, "slots": [[k1, k2], …]} (the executing slot locks taken) or
-- {"ok": false, "reason": 'concurrency' | 'rateLimit', "key", "limit", "until"?}; a rate-limited
-- run is not due until "until" (its next_attempt_at is moved there, and its rateLimit.heldUntil set).
CREATE FUNCTION "flow_admit_run"("p_run_id" TEXT, "p_ns" TEXT, "p_locks" TEXT, "p_rows" BOOLEAN, "p_run_key" BIGINT) RETURNS JSONB
    LANGUAGE plpgsql VOLATILE
    SET search_path FROM CURRENT
    AS $$
DECLARE
  v_flow TEXT;
  v_fc JSONB;
  v_c JSONB;
  v_idx INT := 0;
  v_slot INT;
  v_k1 INT;
  v_got BOOLEAN;
  v_slots JSONB := '[]';
  v_refusal JSONB := NULL;
  v_tat TIMESTAMPTZ;
  v_now TIMESTAMPTZ := clock_timestamp();
  v_step INTERVAL;
  v_period INTERVAL;
  v_pair JSONB;
BEGIN
  SELECT r."flow_id", r."flow_control_json" INTO v_flow, v_fc FROM "flow_runs" r
    WHERE r."run_id" = "p_run_id" AND r."status"::text IN ('RUNNING', 'WAITING');
  IF v_fc IS NULL THEN RETURN '{"ok": true, "slots": []}'; END IF;
  BEGIN
    FOR v_c IN SELECT x FROM jsonb_array_elements(COALESCE(v_fc -> 'concurrency', '[]')) AS x LOOP
      IF v_c ->> 'scope' = 'active' THEN
        IF "p_rows" AND NOT EXISTS (SELECT 1 FROM "flow_concurrency_slots" s WHERE s."run_id" = "p_run_id"
                                    AND s."flow_id" = v_flow AND s."slot_key" = v_idx || ':' || (v_c ->> 'key')) THEN
          v_got := false;
          FOR v_slot IN 0 .. (v_c ->> 'limit')::int - 1 LOOP
            INSERT INTO "flow_concurrency_slots" AS s ("flow_id", "slot_key", "slot", "run_id")
              VALUES (v_flow, v_idx || ':' || (v_c ->> 'key'), v_slot, "p_run_id")
              ON CONFLICT ("flow_id", "slot_key", "slot") DO UPDATE SET "run_id" = excluded."run_id"
                WHERE NOT EXISTS (SELECT 1 FROM "flow_runs" o WHERE o."run_id" = s."run_id" AND o."status"::text IN ('RUNNING', 'WAITING'))
              RETURNING true INTO v_got;
            EXIT WHEN v_got;
          END LOOP;
          IF NOT COALESCE(v_got, false) THEN
            v_refusal := jsonb_build_object('ok', false, 'reason', 'concurrency', 'key', v_c ->> 'key', 'limit', (v_c ->> 'limit')::int, 'scope', 'active');
            RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'flow_admit_run: refused';
          END IF;
        END IF;
      ELSIF "p_locks" <> 'none' THEN
        v_k1 := hashtext("p_ns" || v_flow || ':' || v_idx || ':' || (v_c ->> 'key'));
        v_got := false;
        FOR v_slot IN 0 .. (v_c ->> 'limit')::int - 1 LOOP
          -- Advisory locks are re-entrant within a session, and one lock session holds the slots
          -- of every run its process holds: a slot this session holds already is taken.
          IF EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.pid = pg_backend_pid()
                     AND l.classid::int8 = (v_k1::int8 & 4294967295) AND l.objid::int8 = v_slot) THEN v_got := false;
          ELSIF "p_locks" = 'session' THEN v_got := pg_try_advisory_lock(v_k1, v_slot);
          ELSE v_got := pg_try_advisory_xact_lock(v_k1, v_slot);
          END IF;
          IF v_got THEN
            v_slots := v_slots || jsonb_build_array(jsonb_build_array(v_k1, v_slot));
            EXIT;
          END IF;
        END LOOP;
        IF NOT v_got THEN
          v_refusal := jsonb_build_object('ok', false, 'reason', 'concurrency', 'key', v_c ->> 'key', 'limit', (v_c ->> 'limit')::int, 'scope', 'executing');
          RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'flow_admit_run: refused';
        END IF;
      END IF;
      v_idx := v_idx + 1;
    END LOOP;
    -- GCRA: each admitted run moves the key's theoretical arrival time one step (periodMs / limit);
    -- a run is admitted while that time is at most one period ahead of now (a burst of `limit`).
    IF "p_rows" AND v_fc -> 'rateLimit' IS NOT NULL AND jsonb_typeof(v_fc -> 'rateLimit') = 'object'
       AND NOT (v_fc -> 'rateLimit' ? 'admittedAt') THEN
      v_period := ((v_fc -> 'rateLimit' ->> 'periodMs')::float8) * interval '1 millisecond';
      v_step := v_period / ((v_fc -> 'rateLimit' ->> 'limit')::int);
      INSERT INTO "flow_rate_limits" ("flow_id", "rate_key", "tat") VALUES (v_flow, v_fc -> 'rateLimit' ->> 'key', v_now)
        ON CONFLICT ("flow_id", "rate_key") DO NOTHING;
      SELECT GREATEST(l."tat", v_now) INTO v_tat FROM "flow_rate_limits" l
        WHERE l."flow_id" = v_flow AND l."rate_key" = v_fc -> 'rateLimit' ->> 'key' FOR UPDATE;
      IF v_tat + v_step - v_now > v_period THEN
        v_refusal := jsonb_build_object('ok', false, 'reason', 'rateLimit', 'key', v_fc -> 'rateLimit' ->> 'key',
                                        'limit', (v_fc -> 'rateLimit' ->> 'limit')::int, 'until', v_tat + v_step - v_period);
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'flow_admit_run: refused';
      END IF;
      UPDATE "flow_rate_limits" l SET "tat" = v_tat + v_step WHERE l."flow_id" = v_flow AND l."rate_key" = v_fc -> 'rateLimit' ->> 'key';
      UPDATE "flow_runs" r SET "flow_control_json" = jsonb_set(r."flow_control_json", '{rateLimit,admittedAt}',
          to_jsonb(to_char(v_now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
        WHERE r."run_id" = "p_run_id";
    END IF;
  EXCEPTION WHEN SQLSTATE 'P0001' THEN
    IF v_refusal IS NULL THEN RAISE; END IF;
  END;
  IF v_refusal IS NULL THEN RETURN jsonb_build_object('ok', true, 'slots', v_slots); END IF;
  -- Refused: the rows written above were rolled back with the block; session locks are not.
  IF "p_locks" = 'session' THEN
    FOR v_pair IN SELECT x FROM jsonb_array_elements(v_slots) AS x LOOP
      PERFORM pg_advisory_unlock((v_pair ->> 0)::int, (v_pair ->> 1)::int);
    END LOOP;
    IF "p_run_key" IS NOT NULL THEN PERFORM pg_advisory_unlock("p_run_key"); END IF;
  END IF;
  IF v_refusal ? 'until' THEN
    UPDATE "flow_runs" r SET "next_attempt_at" = (v_refusal ->> 'until')::timestamptz,
        "flow_control_json" = jsonb_set(r."flow_control_json", '{rateLimit,heldUntil}',
          to_jsonb(to_char((v_refusal ->> 'until')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
      WHERE r."run_id" = "p_run_id";
  END IF;
  RETURN v_refusal;
END
$$;
