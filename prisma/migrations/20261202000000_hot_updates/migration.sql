-- Throughput (issue 11): room on each page of flow_runs for the next version of its rows.
-- A step rewrites its run's row; when no indexed column changes (the status stays RUNNING, no
-- due time is set) Postgres can make it a HOT update — no new entry in any of the table's eight
-- indexes — but only if the new version fits on the same page. With full pages (the default
-- fillfactor, 100) most updates could not: a 3-node bench drain measured 929 HOT updates of
-- 12,000; with 70, 6,204 (the other updates change the status, which no fillfactor helps).
-- Only pages written from now on are affected; existing ones fill as rows are updated.
ALTER TABLE "flow_runs" SET (fillfactor = 70);
