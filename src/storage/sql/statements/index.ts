/**
 * Every statement of the SQL store, one file each in this folder, built once per store for its
 * schema and lock mode. A statement is read whole in its file: its text, what its parameters are
 * and what its rows hold. What they share is named, not pasted: the table names (names.ts), the
 * status sets (core/states.ts), the columns of a run as read (rows.ts `runReadSql`) and the rule of
 * "due" (storage/due.ts).
 *
 * `mode`: whether statements announce wake-ups by NOTIFY (a database other processes share) and
 * whether a look for due runs skips runs whose advisory lock someone holds (lock-modes.ts).
 */
import type { SqlNames } from '../names.js';
import { addToInboxSql } from './add-to-inbox.js';
import { cancelRunSql } from './cancel-run.js';
import { commitSql } from './commit.js';
import { createRunsSql } from './create-runs.js';
import { getDefinitionSql, listDefinitionsSql, saveDefinitionSql } from './definitions.js';
import { findDueRunsSql } from './find-due-runs.js';
import { getEventsSql } from './get-events.js';
import { getIdempotencySql } from './get-idempotency.js';
import { getInboxSql } from './get-inbox.js';
import { getMapValuesSql } from './get-map-values.js';
import { getRunSql } from './get-run.js';
import { lockEventsSql } from './lock-events.js';
import { lockRowSql } from './lock-row.js';
import { lockRunsSql } from './lock-runs.js';
import { admitRunSql } from './admit-run.js';
import { joinDebouncedRunSql } from './join-debounced-run.js';
import { msUntilNextDueSql } from './ms-until-next-due.js';
import { deleteEventsSql, lockPrunableEventsSql } from './prune-events.js';
import { deleteClaimedSql, pruneSharedSql, selectPrunableSql } from './prune-runs.js';
import { runByIdempotencyKeySql } from './run-by-idempotency-key.js';
import { sendEventSql } from './send-event.js';
import { tablesPresentSql } from './tables-present.js';
import { tryTransactionLockSql } from './try-transaction-lock.js';
import { unlockRunsSql } from './unlock-runs.js';
import { wakeRunSql } from './wake-run.js';
import { claimDueSchedulesSql } from './claim-due-schedules.js';
import { deleteScheduleSql } from './delete-schedule.js';
import { fireScheduleSql } from './fire-schedule.js';
import { getScheduleSql } from './get-schedule.js';
import { listSchedulesSql } from './list-schedules.js';
import { msUntilNextScheduleSql } from './ms-until-next-schedule.js';
import { saveScheduleSql } from './save-schedule.js';
import { countLiveRunsSql } from './count-live-runs.js';
import { forkRunSql } from './fork-run.js';
import { rewriteRunSql } from './rewrite-run.js';
import { countRunsSql } from './count-runs.js';
import { countDueRunsSql } from './count-due-runs.js';
import { recordWorkerSql } from './record-worker.js';
import { removeWorkerSql } from './remove-worker.js';
import { listWorkersSql } from './list-workers.js';

export function buildStatements(n: SqlNames, mode: { notify: boolean; skipLocked: boolean }) {
  return {
    tablesPresent: tablesPresentSql(n),
    saveDefinition: saveDefinitionSql(n),
    getDefinition: getDefinitionSql(n),
    listDefinitions: listDefinitionsSql(n),
    createRuns: createRunsSql(n, mode),
    runByIdempotencyKey: runByIdempotencyKeySql(n),
    getRun: getRunSql(n),
    getEvents: getEventsSql(n),
    getMapValues: getMapValuesSql(n),
    getIdempotency: getIdempotencySql(n),
    findDueRuns: findDueRunsSql(n, mode),
    msUntilNextDue: msUntilNextDueSql(n),
    // Leases.
    lockRuns: lockRunsSql(n, { freshReadFn: true }),
    /** `lockRuns` on tables made by someone else's migrations, without the read-after-lock functions. */
    lockRunsPlainRead: lockRunsSql(n, { freshReadFn: false }),
    unlockRuns: unlockRunsSql(n, mode),
    admitRun: admitRunSql(n),
    joinDebouncedRun: joinDebouncedRunSql(n, mode),
    wakeRun: wakeRunSql(n, mode),
    tryTransactionLock: tryTransactionLockSql(n),
    lockRow: lockRowSql(n),
    commit: commitSql(n, mode),
    cancelRun: cancelRunSql(n, mode),
    // The inbox and events.
    addToInbox: addToInboxSql(n, mode),
    getInbox: getInboxSql(n),
    lockEvents: lockEventsSql(n),
    sendEvent: sendEventSql(n, mode),
    lockPrunableEvents: lockPrunableEventsSql(n),
    deleteEvents: deleteEventsSql(n),
    // Retention.
    pruneShared: pruneSharedSql(n),
    selectPrunable: selectPrunableSql(n),
    deleteClaimed: deleteClaimedSql(n),
    // Schedules.
    saveSchedule: saveScheduleSql(n),
    getSchedule: getScheduleSql(n),
    listSchedules: listSchedulesSql(n),
    deleteSchedule: deleteScheduleSql(n),
    claimDueSchedules: claimDueSchedulesSql(n),
    fireSchedule: fireScheduleSql(n, mode),
    msUntilNextSchedule: msUntilNextScheduleSql(n),
    // Versions, migration and re-runs.
    rewriteRun: rewriteRunSql(n, mode),
    forkRun: forkRunSql(n, mode),
    countLiveRuns: countLiveRunsSql(n),
    // Operations: metrics gauges and the workers' registry.
    countRuns: countRunsSql(n),
    countDueRuns: countDueRunsSql(n),
    recordWorker: recordWorkerSql(n),
    removeWorker: removeWorkerSql(n),
    listWorkers: listWorkersSql(n),
  };
}

export type Statements = ReturnType<typeof buildStatements>;

/**
 * The statements a driver may prepare once per connection: run often, fixed text, explicit result
 * columns, and served by a unique index whatever the table's size (a prepared statement may keep a
 * generic plan made when the table was small). The looks for due work are planned on every call.
 */
export function preparableStatements(s: Statements): string[] {
  return [
    s.createRuns,
    s.runByIdempotencyKey,
    s.getRun,
    s.getEvents,
    s.getMapValues,
    s.getIdempotency,
    s.addToInbox,
    s.getInbox,
    s.lockRuns,
    s.lockRunsPlainRead,
    s.unlockRuns,
    s.wakeRun,
    s.tryTransactionLock,
    s.lockRow,
    s.commit,
  ];
}
