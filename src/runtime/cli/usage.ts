/** The CLI's help text and its usage errors (exit code 2, as opposed to 1 for failures). */

export class UsageError extends Error {}

export function parseJsonOption(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${name} is not valid JSON: ${(err as Error).message}`);
  }
}

export const USAGE = `hazel-flow — run and operate @hazeljs/flow flows

Usage:
  hazel-flow serve   [--flows <module>] [--port <n>] [--host <addr>] [--no-worker] [--allow-insecure-bind]
  hazel-flow worker  [--flows <module>] [--concurrency <n>]
  hazel-flow migrate
  hazel-flow flows
  hazel-flow runs list [--status <S>[,<S>…]] [--flow <flowId>[@<version>]] [--tenant <id>] [--limit <n>] [--cursor <c>]
  hazel-flow runs show <runId>
  hazel-flow runs timeline <runId>
  hazel-flow start <flowId>@<version> [--input <json>] [--tenant <id>] [--idempotency-key <key>]
  hazel-flow resume <runId> [--payload <json>]
  hazel-flow cancel <runId> [--reason <text>]

serve, worker and migrate open the store themselves:
  Postgres at --database-url / DATABASE_URL, else embedded PGlite in --data-dir / FLOW_DATA_DIR (./.flow-data).
  --flows <module>  a module exporting flow definitions (default: the example flows)

flows, runs, start, resume and cancel talk to a running server (serve or npm start):
  --url <url>       server address (default: FLOW_URL, else http://127.0.0.1:3000)
  --token <token>   API token (default: FLOW_API_TOKEN)

Common options:
  --json            print JSON instead of tables (for scripts)
  -h, --help        show this help

Exit codes: 0 success, 1 failure (the error's code and message are printed), 2 bad usage.`;
