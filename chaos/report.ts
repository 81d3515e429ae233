/**
 * The soak's report: what ran, which faults were injected, what the engine recorded while
 * surviving them, which checks were made, and every violation (the first 40 in full).
 */
import type { FaultRecord } from './faults.js';
import type { SoakOptions } from './options.js';
import { CHECKS, type CheckId, type Verdict } from './verify.js';
import type { WorkerFleet } from './worker-fleet.js';

export interface ReportInput {
  options: SoakOptions;
  schema: string;
  databaseUrl: string;
  durationMs: number;
  verdict: Verdict;
  faults: FaultRecord[];
  fleet: WorkerFleet;
  maxRecoveries: number;
  /** Runs not at rest when the soak stopped waiting (0: every run rested). */
  openAtEnd: number;
}

export function printReport(r: ReportInput): void {
  const { options, verdict, faults } = r;
  const st = verdict.stats;
  const count = (kind: string) => faults.filter((f) => f.kind === kind).length;
  const checkIds = Object.keys(CHECKS) as CheckId[];
  const failed = new Set(verdict.violations.map((v) => v.check));
  const events = Object.entries(st)
    .filter(([k]) => k.startsWith('events '))
    .map(([k, v]) => `${k.slice(7)} ${v}`)
    .join(', ');
  const childEvents = Object.entries(st)
    .filter(([k]) => k.startsWith('child events '))
    .map(([k, v]) => `${k.slice(13)} ${v}`)
    .join(', ');
  const statuses = Object.entries(st)
    .filter(([k]) => k.startsWith('status '))
    .map(([k, v]) => `${v} ${k.slice(7)}`)
    .join(', ');
  const childStatuses = Object.entries(st)
    .filter(([k]) => k.startsWith('child status '))
    .map(([k, v]) => `${v} ${k.slice(13)}`)
    .join(', ');
  const copies = Object.entries(st)
    .filter(([k]) => k.startsWith('duplicated signals: '))
    .map(([k, v]) => `${k.slice('duplicated signals: the run received '.length)} in ${v}`)
    .join(', ');
  const lines = [
    '',
    '==================== chaos soak report ====================',
    `database      ${r.databaseUrl} (schema ${r.schema})${options.ci ? '  [CI version]' : ''}`,
    `runs          ${options.runs} started over ${options.loadSeconds} s → ${statuses || 'none'} (branch approval ${st['branch approval'] ?? 0}, cooldown ${st['branch cooldown'] ?? 0}); each with a child run and an event wait`,
    `workers       ${options.workers} processes × concurrency ${options.concurrency} (maxRecoveries ${r.maxRecoveries}); ${r.fleet.spawned} processes spawned in all, ${r.fleet.crashes.length} died on their own`,
    r.openAtEnd === 0
      ? `duration      ${(r.durationMs / 1000).toFixed(1)} s until every run rested`
      : `duration      ${(r.durationMs / 1000).toFixed(1)} s, then stopped waiting: ${r.openAtEnd} runs (the soak's and children) never rested`,
    `faults        ${count('kill')} SIGKILL+restart, ${count('storm')} session storms, ${count('pause')} freeze/takeover, ${count('pg-restart')} Postgres restart`,
    ...faults.filter((f) => f.kind !== 'kill').map((f) => `  ${(f.atMs / 1000).toFixed(1).padStart(6)} s  ${f.kind.padEnd(10)} ${f.detail}`),
    `timeline      ${events}`,
    `branches      ${st['events BRANCH_STARTED'] ?? 0} started by splits, ${st['events JOIN_COMPLETED'] ?? 0} joins completed (join node attempted more than once in ${st['join attempts retried (runs)'] ?? 0} runs, its handler re-executed in ${st['gather handler re-executed (runs)'] ?? 0}); attempts of several branches/items in flight together in ${st['runs with attempts of several branches/items in flight together'] ?? 0} runs`,
    `maps          ${st['map items'] ?? 0} items in ${st['events MAP_STARTED'] ?? 0} maps; items in flight together in ${st['runs with map items in flight together'] ?? 0} runs; ${st['map items re-executed'] ?? 0} items' handlers ran more than once (failed, timed out or interrupted attempts)`,
    `children      ${st['child runs started'] ?? 0} child runs started (CHILD_STARTED) → ${childStatuses || 'none'}; more than one child in ${st['runs with more than one child'] ?? 0} runs; child fetch re-executed in ${st['fetch handler re-executed (runs)'] ?? 0}, ledger post in ${st['post handler re-executed (runs)'] ?? 0} (${st['ledger side-effect conflicts'] ?? 0} ledger writes found their key taken)`,
    `child runs    ${childEvents || 'no events'}`,
    `events        ${st['signal sends answered'] ?? 0} signals sent (${st['signal sends failed (retried)'] ?? 0} sends failed and were retried; ${st['signal events stored'] ?? 0} stored); received early (sent before the wait) ${st['signals received early (sent before the wait, found by it)'] ?? 0}, late (delivered to the waiting run) ${st['signals received late (delivered to the waiting run)'] ?? 0}, from a send whose reply was lost ${st['signals received from a send that failed (reply lost)'] ?? 0}; sent twice to ${st['runs sent their signal twice'] ?? 0} runs (received ${copies || 'none'}; ${st['duplicate copies sendEvent counted as delivered, though the wait had taken the other copy (the run received once)'] ?? 0} second copies reported delivered to a wait already answered); inbox entries left ${st['inbox entries left'] ?? 0}`,
    `sagas         ${(st['saga caught'] ?? 0) + (st['saga completed'] ?? 0) + (st['saga compensated'] ?? 0)} runs: ${st['saga caught'] ?? 0} completed through a catch, ${st['saga completed'] ?? 0} completed, ${st['saga compensated'] ?? 0} failed and compensated (${st['saga NODE_COMPENSATED'] ?? 0} NODE_COMPENSATED, ${st['saga compensation attempts failed and retried'] ?? 0} compensation attempts failed and retried, ${st['saga compensations interrupted'] ?? 0} interrupted; ${st['saga undo rows'] ?? 0} undo rows, ${st['saga undos re-executed after their write (conflicts)'] ?? 0} undos re-run after their write)`,
    `handlers      ${st['handler executions'] ?? 0} executions logged (${st['child handler executions'] ?? 0} in child runs); charge handler ran more than once in ${st['charge handler re-executed (runs)'] ?? 0} runs; ${st['side-effect rows'] ?? 0} side-effect rows, ${st['side-effect conflicts (re-executions of uncommitted attempts)'] ?? 0} writes found their key taken (ON CONFLICT; ${st['item side-effect conflicts'] ?? 0} by map items)`,
    `flow control  ${st['flow-control runs completed'] ?? 0} runs of chaos-limited (2 per customer) completed; most steps of one customer running at once: ${st['flow-control peak steps per customer (limit 2)'] ?? 0}`,
    `workers said  ${JSON.stringify(r.fleet.stoppedCounters)} (graceful stops only; killed workers report nothing)`,
    'checks',
    ...checkIds.map((id) => `  ${failed.has(id) ? '✗' : '✓'} ${CHECKS[id]}`),
    `violations    ${verdict.violations.length}`,
    ...verdict.violations.slice(0, 40).map((v) => `  ✗ [${v.check}] ${v.message}`),
    ...(verdict.violations.length > 40 ? [`  … and ${verdict.violations.length - 40} more`] : []),
    `result        ${verdict.violations.length === 0 ? 'PASS' : 'FAIL'}`,
    '============================================================',
    // A closing line CI can read: one per check.
    `chaos: ${checkIds.length - failed.size} passed, ${failed.size} failed`,
  ];
  console.log(lines.join('\n'));
}
