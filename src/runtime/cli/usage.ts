/** The CLI's help text and its usage errors (exit code 2, as opposed to 1 for failures). */
import { FlowError } from '../../errors.js';
import { parseExactJson } from '../exact-json.js';

export class UsageError extends Error {}

/**
 * An option's JSON value. Not valid JSON, or a number JavaScript cannot hold as written (an
 * integer beyond ±(2^53−1), 1e400): a usage error, rather than a value silently rounded or
 * turned into null on its way to the server.
 */
export function parseJsonOption(name: string, text: string): unknown {
  try {
    return parseExactJson(text, name);
  } catch (err) {
    if (err instanceof FlowError) throw new UsageError(`${err.code === 'INVALID_NUMBER' ? 'INVALID_NUMBER: ' : ''}${err.message}`);
    throw err;
  }
}

/** A whole number option within [min, max], or undefined when not given; a usage error otherwise. */
export function parseIntOption(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = /^-?\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw new UsageError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

export const USAGE = `hazel-flow — run and operate @hazeljs/flow flows

Usage:
  hazel-flow serve   [--flows <module>] [--port <n>] [--host <addr>] [--no-worker] [--allow-insecure-bind]
                     [--prune-every <duration>] [--prune-older-than <duration>]
  hazel-flow worker  [--flows <module>] [--concurrency <n>]
  hazel-flow migrate
  hazel-flow flows
  hazel-flow workers
  hazel-flow runs list [--status <S>[,<S>…]] [--flow <flowId>[@<version>]] [--tenant <id>] [--parent <runId>]
                       [--outcome <outcome>]… [--limit <n>] [--cursor <c>]
  hazel-flow runs show <runId>
  hazel-flow runs timeline <runId> [--limit <n>] [--after <seq>] [--all]
  hazel-flow start <flowId>@<version> [--input <json>] [--tenant <id>] [--idempotency-key <key>]
                   [--priority <n>] [--delay <duration> | --start-at <iso time>]
  hazel-flow resume <runId> [--payload <json>] [--node <nodeId>]
  hazel-flow cancel <runId> [--reason <text>]
  hazel-flow retry <runId> [--from-node <nodeId>] [--state-patch <json>]
  hazel-flow fork <runId> --from-node <nodeId> [--state-patch <json>] [--version <v>]
  hazel-flow migrate <flowId> --from <version> --to <version> [--node-map <json>] [--run <runId>]… [--dry-run]
                     (or: migrate <flowId> <from> <to>, migrate <flowId>@<from> <to>)
  hazel-flow send-event <name> [--key <key>] [--payload <json>]
  hazel-flow schedules list [--flow <flowId>]
  hazel-flow schedules set <scheduleId> --flow <flowId>[@<version>] (--cron <expr> | --every <duration>)
                     [--timezone <tz>] [--input <json>] [--overlap <o>] [--catchup <c>]
                     [--catchup-window <duration>] [--jitter <duration>] [--paused]
  hazel-flow schedules pause|resume|delete|trigger <scheduleId>

serve, worker and migrate (without a flow) open the store themselves:
  Postgres at --database-url / DATABASE_URL, else embedded PGlite in --data-dir / FLOW_DATA_DIR (./.flow-data).
  --flows <module>  a module exporting flow definitions (default: the example flows)
  --prune-every <d>       serve: delete finished runs past their retention this often (default
                          FLOW_PRUNE_EVERY; hourly when a flow has a retention or --prune-older-than is given)
  --prune-older-than <d>  serve: the retention of flows without one of their own (default
                          FLOW_PRUNE_OLDER_THAN; none: their runs are kept)
                          durations: 30s, 15m, 12h, 7d (a bare number is milliseconds)

flows, workers, runs, start, resume, cancel, send-event, schedules, retry, fork and migrate <flowId>
talk to a running server (serve or npm start):
  --url <url>       server address (default: FLOW_URL, else http://127.0.0.1:3000);
                    user:password@ in it is sent as HTTP Basic auth and never printed
  --token <token>   API token (default: FLOW_API_TOKEN)
  --timeout <s>     seconds to wait for each answer (default 30)
  --node <nodeId>   resume: only the branch waiting at this node (default: the run's waiting node)
  --parent <runId>  runs list: only the child runs of this run
  --outcome <o>     runs list: only runs with this business outcome (repeat it for any of several)
  --after <seq>     runs timeline: the events after this seq (a page's nextCursor; default: from the start)
  --limit <n>       runs timeline: events a page, 1 to 1000 (default 1000); --all reads every page
  --key <key>       send-event: the event's key (e.g. an order id); waits that gave a key get only
                    events with that key, waits that gave none get every event of the name

retry puts a FAILED or CANCELLED run back to RUNNING from the node(s) it stopped at (or --from-node);
fork starts a new run where the run first started --from-node, with the outputs it had then;
migrate <flowId> moves the unfinished runs of --from to --to (a version the server registers) where
their position exists there (--node-map '{"old":"new"}' for renamed nodes), and lists the runs it
could not move, with why; --dry-run moves nothing and gives the same answer.

schedules set creates or replaces a schedule: a cron expression (5 fields, or 6 with seconds first)
read in --timezone (an IANA name, default UTC), or an interval (--every 15m, at least 1s), that
starts runs of the flow (its newest version unless --flow names one), exactly once per tick.
  --overlap <o>     while the previous run is unfinished: skip (default), bufferOne, bufferAll, allow, cancelPrevious
  --catchup <c>     ticks missed while no worker ran: latest (default), all, none
schedules trigger starts one run now, outside the timetable.

workers lists the workers of every process on the server's store (live, or silent after 3 missed
refreshes; dropped after 30) and the runs due for flows no live worker serves.

Common options:
  --json            print JSON instead of tables (for scripts)
  -h, --help        show this help

send-event resumes every run branch waiting for the event (each once; the payload, null without
--payload, lands at ctx.state._resumePayload) and prints how many it was delivered to.

JSON options (--input, --payload) refuse numbers JavaScript cannot hold as written: integers
beyond ±9007199254740991 and numbers like 1e400 (send such values as strings).

Exit codes: 0 success, 1 failure (the error's code and message are printed), 2 bad usage
(an unknown command or option, or an option value that is not valid).`;
