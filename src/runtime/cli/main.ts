/**
 * `hazel-flow`: the command line. Parses arguments with node:util parseArgs, dispatches to the
 * local commands (serve, worker, migrate) or the API commands (runs, flows, start, resume,
 * cancel, send-event), and turns every failure into one line on stderr and a nonzero exit code.
 */
import { workersCommand } from './commands-operations.js';
import { parseArgs } from 'node:util';
import { environment, parseDurationMs } from '../../config.js';
import { FlowError } from '../../errors.js';
import { ApiClient, redactUrl } from './client.js';
import { MAX_PRUNE_EVERY_MS, checkPruneOptions } from '../prune-schedule.js';
import {
  cancelCommand,
  flowsCommand,
  listRunsCommand,
  resumeCommand,
  sendEventCommand,
  showRunCommand,
  startCommand,
  timelineCommand,
  type RemoteContext,
} from './commands-remote.js';
import { USAGE, UsageError } from './usage.js';
import { forkCommand, migrateRunsCommand, retryCommand } from './commands-versions.js';
import { deleteScheduleCommand, listSchedulesCommand, scheduleActionCommand, setScheduleCommand, triggerScheduleCommand } from './commands-schedules.js';

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  url: { type: 'string' },
  token: { type: 'string' },
  timeout: { type: 'string' },
  'database-url': { type: 'string' },
  'data-dir': { type: 'string' },
  flows: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  'no-worker': { type: 'boolean' },
  'allow-insecure-bind': { type: 'boolean' },
  'prune-every': { type: 'string' },
  'prune-older-than': { type: 'string' },
  concurrency: { type: 'string' },
  status: { type: 'string' },
  flow: { type: 'string' },
  tenant: { type: 'string' },
  parent: { type: 'string' },
  outcome: { type: 'string', multiple: true },
  key: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  after: { type: 'string' },
  all: { type: 'boolean' },
  input: { type: 'string' },
  'idempotency-key': { type: 'string' },
  priority: { type: 'string' },
  delay: { type: 'string' },
  'start-at': { type: 'string' },
  payload: { type: 'string' },
  node: { type: 'string' },
  reason: { type: 'string' },
  cron: { type: 'string' },
  every: { type: 'string' },
  timezone: { type: 'string' },
  overlap: { type: 'string' },
  catchup: { type: 'string' },
  'catchup-window': { type: 'string' },
  jitter: { type: 'string' },
  paused: { type: 'boolean' },
  'from-node': { type: 'string' },
  'state-patch': { type: 'string' },
  version: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  'node-map': { type: 'string' },
  run: { type: 'string', multiple: true },
  'dry-run': { type: 'boolean' },
} as const;

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** --timeout in seconds (fractions allowed), as milliseconds; a usage error unless from 0.1 to 3600. */
function parseTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : NaN;
  if (!(seconds >= 0.1 && seconds <= 3600)) throw new UsageError(`--timeout must be a number of seconds from 0.1 to 3600, got ${JSON.stringify(text)}`);
  return Math.round(seconds * 1000);
}

/** --database-url must be a Postgres URL; the message never shows its password. */
function checkDatabaseUrl(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  let protocol = '';
  try {
    protocol = new URL(text).protocol;
  } catch {
    // reported below
  }
  if (!['postgres:', 'postgresql:', 'socket:'].includes(protocol))
    throw new UsageError(`--database-url must be a postgres:// URL, got ${JSON.stringify(redactUrl(text))}`);
  return text;
}

/** --prune-every / --prune-older-than: a duration (30s, 15m, 12h, 7d), as milliseconds; a usage error otherwise. */
function durationOption(name: string, text: string | undefined): number | undefined {
  try {
    return parseDurationMs(name, text);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function need(positionals: string[], index: number, what: string): string {
  const value = positionals[index];
  if (!value) throw new UsageError(`Missing ${what}`);
  if (positionals.length > index + 1) throw new UsageError(`Unexpected argument ${JSON.stringify(positionals[index + 1])}`);
  return value;
}

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parse(argv);
  const [command, sub] = positionals;
  if (v.help || !command || command === 'help') {
    console.log(USAGE);
    return;
  }
  const store = { databaseUrl: checkDatabaseUrl(v['database-url']), dataDir: v['data-dir'] };
  const remote = (): RemoteContext => ({
    client: new ApiClient({
      url: v.url ?? environment.apiUrl,
      token: v.token ?? environment.apiToken,
      timeoutMs: parseTimeout(v.timeout),
    }),
    json: v.json ?? false,
    print: (text) => console.log(text),
  });
  // The store, the server and the flows load only for the commands that need them: the API
  // commands stay quick to start.
  const local = () => import('./commands-local.js');
  switch (command) {
    case 'serve': {
      const pruneEveryMs = durationOption('--prune-every', v['prune-every']);
      const pruneOlderThanMs = durationOption('--prune-older-than', v['prune-older-than']);
      const prune = pruneEveryMs === undefined && pruneOlderThanMs === undefined ? undefined : { everyMs: pruneEveryMs, olderThanMs: pruneOlderThanMs };
      // Checked before anything starts: `--prune-every 0` is a bad value (exit 2), not a failed start.
      if (prune) {
        try {
          checkPruneOptions(prune);
        } catch (err) {
          if (!(err instanceof FlowError)) throw err;
          throw new UsageError(`--prune-every must be a duration from 1ms to about 24d (${MAX_PRUNE_EVERY_MS} ms), got ${JSON.stringify(v['prune-every'])}`);
        }
      }
      // So are FLOW_PRUNE_EVERY / FLOW_PRUNE_OLDER_THAN, which the runtime reads when no option is given.
      checkPruneEnvironment();
      return (await local()).serveCommand({
        ...store,
        flows: v.flows,
        port: v.port,
        host: v.host,
        noWorker: v['no-worker'],
        allowInsecureBind: v['allow-insecure-bind'],
        prune,
      });
    }
    case 'worker':
      return (await local()).workerCommand({ ...store, flows: v.flows, concurrency: v.concurrency });
    case 'migrate':
      // `migrate` alone applies the database migrations; `migrate <flowId> …` moves runs between versions.
      if (sub === undefined) return (await local()).migrateCommand({ ...store, json: v.json ?? false });
      // Versions by option (--from, --to) or by position: `migrate order 1 2`, `migrate order@1 2`.
      if (positionals.length > 4) throw new UsageError(`Unexpected argument ${JSON.stringify(positionals[4])}`);
      return migrateRunsCommand(remote(), positionals[1]!, {
        from: v.from ?? (positionals.length === 4 ? positionals[2] : undefined),
        to: v.to ?? positionals.at(positionals.length === 4 ? 3 : 2),
        nodeMap: v['node-map'],
        runIds: v.run,
        dryRun: v['dry-run'],
      });
    case 'retry':
      // The node by --from-node, or --node as `resume` names one.
      return retryCommand(remote(), need(positionals, 1, '<runId>'), { fromNode: v['from-node'] ?? v.node, statePatch: v['state-patch'] });
    case 'fork':
      return forkCommand(remote(), need(positionals, 1, '<runId>'), { fromNode: v['from-node'] ?? v.node, statePatch: v['state-patch'], version: v.version });
    case 'flows':
      return flowsCommand(remote());
    case 'workers':
      if (positionals.length > 1) throw new UsageError(`Unexpected argument ${JSON.stringify(positionals[1])}`);
      return workersCommand(remote());
    case 'runs':
      if (sub === 'list')
        return listRunsCommand(remote(), {
          status: v.status,
          flow: v.flow,
          tenant: v.tenant,
          parent: v.parent,
          outcome: v.outcome,
          limit: v.limit,
          cursor: v.cursor,
        });
      if (sub === 'show') return showRunCommand(remote(), need(positionals, 2, '<runId>'));
      if (sub === 'timeline') return timelineCommand(remote(), need(positionals, 2, '<runId>'), { limit: v.limit, after: v.after, all: v.all });
      throw new UsageError(sub ? `Unknown subcommand "runs ${sub}" (expected list, show or timeline)` : 'Missing subcommand: runs list|show|timeline');
    case 'schedules': {
      if (sub === 'list') {
        if (positionals.length > 2) throw new UsageError(`Unexpected argument ${JSON.stringify(positionals[2])}`);
        return listSchedulesCommand(remote(), v.flow);
      }
      if (sub === 'set') {
        const s = { flow: v.flow, cron: v.cron, every: v.every, timezone: v.timezone, input: v.input, overlap: v.overlap, catchup: v.catchup };
        return setScheduleCommand(remote(), need(positionals, 2, '<scheduleId>'), {
          ...s,
          catchupWindow: v['catchup-window'],
          jitter: v.jitter,
          paused: v.paused,
        });
      }
      if (sub === 'pause' || sub === 'resume') return scheduleActionCommand(remote(), sub, need(positionals, 2, '<scheduleId>'));
      if (sub === 'delete') return deleteScheduleCommand(remote(), need(positionals, 2, '<scheduleId>'));
      if (sub === 'trigger') return triggerScheduleCommand(remote(), need(positionals, 2, '<scheduleId>'));
      throw new UsageError(
        sub
          ? `Unknown subcommand "schedules ${sub}" (expected list, set, pause, resume, delete or trigger)`
          : 'Missing subcommand: schedules list|set|pause|resume|delete|trigger',
      );
    }
    case 'start':
      return startCommand(remote(), need(positionals, 1, '<flowId>@<version>'), {
        input: v.input,
        tenant: v.tenant,
        idempotencyKey: v['idempotency-key'],
        priority: v.priority,
        delay: v.delay,
        startAt: v['start-at'],
      });
    case 'resume':
      return resumeCommand(remote(), need(positionals, 1, '<runId>'), v.payload, v.node);
    case 'cancel':
      return cancelCommand(remote(), need(positionals, 1, '<runId>'), v.reason);
    case 'send-event':
      return sendEventCommand(remote(), need(positionals, 1, '<name>'), { key: v.key, payload: v.payload });
    default:
      throw new UsageError(`Unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) {
    console.error(`hazel-flow: ${err.message}\nRun \`hazel-flow --help\` for usage.`);
    process.exit(2);
  }
  const code = err instanceof FlowError ? `${err.code}: ` : '';
  console.error(`hazel-flow: error: ${code}${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

/** The environment's prune settings, checked like the options (a bad value is bad usage, exit 2). */
function checkPruneEnvironment(): void {
  let everyMs: number | undefined;
  try {
    everyMs = environment.pruneEveryMs;
    void environment.pruneOlderThanMs;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (everyMs !== undefined && !(everyMs >= 1 && everyMs <= MAX_PRUNE_EVERY_MS)) {
    throw new UsageError(
      `FLOW_PRUNE_EVERY must be a duration from 1ms to about 24d (${MAX_PRUNE_EVERY_MS} ms), got ${JSON.stringify(process.env.FLOW_PRUNE_EVERY)}`,
    );
  }
}
