/**
 * `tablesPresent`: which of the flow tables exist in the store's schema, whether the three
 * read-after-lock functions do (without them `lockRuns` reads plainly), and whether the cancel
 * cascade's function does (required). One row of booleans: `runs, events, definitions,
 * idempotency, node_values, inbox, sent_events, event_waits, event_receipts, fresh_fn, cancel_fn, schedules, workers`,
 * `flow_control` (the flow_control migration's two tables and its function `flow_admit_run`),
 * and `missing_run_columns`: the columns every read of a run names (`RUN_COLUMNS`, rows.ts) that
 * the runs table lacks (a schema a migration behind the code), as a text array.
 */
import type { SqlNames } from '../names.js';
import { quoteLiteral } from '../names.js';
import { RUN_COLUMNS } from '../rows.js';

export function tablesPresentSql(n: SqlNames): string {
  return `SELECT to_regclass(${quoteLiteral(n.runs)}) IS NOT NULL AS runs,
      to_regclass(${quoteLiteral(n.events)}) IS NOT NULL AS events,
      to_regclass(${quoteLiteral(n.definitions)}) IS NOT NULL AS definitions,
      to_regclass(${quoteLiteral(n.idempotency)}) IS NOT NULL AS idempotency,
      to_regclass(${quoteLiteral(n.nodeValues)}) IS NOT NULL AS node_values,
      to_regclass(${quoteLiteral(n.inbox)}) IS NOT NULL AS inbox,
      to_regclass(${quoteLiteral(n.sentEvents)}) IS NOT NULL AS sent_events,
      to_regclass(${quoteLiteral(n.eventWaits)}) IS NOT NULL AS event_waits,
      to_regclass(${quoteLiteral(n.eventReceipts)}) IS NOT NULL AS event_receipts,
      to_regprocedure(${quoteLiteral(`${n.freshRunFn}(text,boolean)`)}) IS NOT NULL
        AND to_regprocedure(${quoteLiteral(`${n.freshOutputsFn}(text)`)}) IS NOT NULL
        AND to_regprocedure(${quoteLiteral(`${n.freshInboxFn}(text)`)}) IS NOT NULL AS fresh_fn,
      to_regprocedure(${quoteLiteral(`${n.cancelRunsFn}(text[],text)`)}) IS NOT NULL AS cancel_fn,
      to_regclass(${quoteLiteral(n.schedules)}) IS NOT NULL AS schedules,
      to_regclass(${quoteLiteral(n.workers)}) IS NOT NULL AS workers,
      to_regclass(${quoteLiteral(n.concurrencySlots)}) IS NOT NULL AND to_regclass(${quoteLiteral(n.rateLimits)}) IS NOT NULL
        AND to_regprocedure(${quoteLiteral(`${n.admitRunFn}(text,text,text,boolean,bigint)`)}) IS NOT NULL AS flow_control,
      ARRAY(SELECT c FROM unnest(ARRAY[${RUN_COLUMNS.map(quoteLiteral).join(', ')}]::text[]) WITH ORDINALITY AS x(c, ord)
            WHERE to_regclass(${quoteLiteral(n.runs)}) IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = to_regclass(${quoteLiteral(n.runs)}) AND a.attname = c AND NOT a.attisdropped)
            ORDER BY ord
      ) AS missing_run_columns`;
}
