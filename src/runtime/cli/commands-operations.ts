/**
 * `hazel-flow workers`: the workers' registry of a running server's store (GET /v1/workers) —
 * every worker of every process, live or silent — and the runs due for flows no live worker
 * serves. Exit code 0 either way: it is a view, not a check (alert on the metrics).
 */
import type { unservedDto, workerDto } from '../http/routes-operations.js';
import type { RemoteContext } from './commands-remote.js';
import { table, truncate } from './table.js';

type WorkersJson = { workers: Array<ReturnType<typeof workerDto>>; unserved: Array<ReturnType<typeof unservedDto>> };

export async function workersCommand(ctx: RemoteContext): Promise<void> {
  const view = await ctx.client.request<WorkersJson>('GET', '/v1/workers');
  if (ctx.json) return ctx.print(JSON.stringify(view, null, 2));
  const now = Date.now();
  ctx.print(
    view.workers.length === 0
      ? 'No workers recorded.'
      : table(
          ['WORKER', 'STATUS', 'HOST', 'PID', 'IN FLIGHT', 'LAST SEEN', 'STARTED', 'FLOWS'],
          view.workers.map((w) => [
            w.workerId,
            w.status,
            w.host,
            w.pid,
            `${w.inFlight}/${w.concurrency}`,
            `${ago(now, w.lastSeenAt)} ago`,
            w.startedAt,
            truncate(w.flowKeys.join(', '), 60),
          ]),
        ),
  );
  if (view.unserved.length > 0) {
    ctx.print('\nRuns due for flows no live worker serves:');
    ctx.print(
      table(
        ['FLOW', 'DUE', 'OLDEST DUE'],
        view.unserved.map((u) => [u.flowKey, u.due, `${Math.round(u.oldestDueSeconds)}s`]),
      ),
    );
  }
}

function ago(now: number, iso: string): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}
