/**
 * `hazel-flow retry|fork|migrate <flowId> …` through a running server's API: a failed run back
 * to RUNNING, a run forked from one of its nodes, and the runs of one version moved to another
 * (`--dry-run` shows what would move). Option values are checked here (a bad one is a usage
 * error, exit 2); what the engine refuses is the server's error (exit 1).
 */
import { parseFlowKey } from '../../definitions/flow-key.js';
import type { runDto } from '../http/dto.js';
import { runPath } from './client.js';
import type { RemoteContext } from './commands-remote.js';
import { table } from './table.js';
import { UsageError, parseJsonOption } from './usage.js';

const printJson = (ctx: RemoteContext, value: unknown) => ctx.print(JSON.stringify(value, null, 2));

function statePatchOption(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  const patch = parseJsonOption('--state-patch', text);
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) throw new UsageError('--state-patch must be a JSON object');
  return patch as Record<string, unknown>;
}

function nonEmpty(name: string, value: string | undefined): string | undefined {
  if (value === '') throw new UsageError(`${name} must not be empty`);
  return value;
}

export async function retryCommand(ctx: RemoteContext, runId: string, opts: { fromNode?: string; statePatch?: string }) {
  const body: Record<string, unknown> = {};
  const fromNodeId = nonEmpty('--from-node', opts.fromNode);
  if (fromNodeId !== undefined) body.fromNodeId = fromNodeId;
  const statePatch = statePatchOption(opts.statePatch);
  if (statePatch !== undefined) body.statePatch = statePatch;
  const { run } = await ctx.client.request<{ run: ReturnType<typeof runDto> }>('POST', runPath(runId, '/retry'), body);
  if (ctx.json) return printJson(ctx, { run });
  ctx.print(`Retried run ${run.runId}: now ${run.status} at ${run.branches.map((b) => b.nodeId).join(', ')}`);
}

export async function forkCommand(ctx: RemoteContext, runId: string, opts: { fromNode?: string; statePatch?: string; version?: string }) {
  const fromNodeId = nonEmpty('--from-node', opts.fromNode);
  if (fromNodeId === undefined) throw new UsageError('Missing --from-node <nodeId>: the node the fork runs on from');
  const body: Record<string, unknown> = { fromNodeId };
  const statePatch = statePatchOption(opts.statePatch);
  if (statePatch !== undefined) body.statePatch = statePatch;
  const version = nonEmpty('--version', opts.version);
  if (version !== undefined) body.version = version;
  const result = await ctx.client.request<{ runId: string }>('POST', runPath(runId, '/fork'), body);
  if (ctx.json) return printJson(ctx, result);
  ctx.print(`Forked run ${runId} at ${fromNodeId}: new run ${result.runId}`);
}

/**
 * `migrate <flowId> --from <v> --to <v>` (or `migrate <flowId>@<from> --to <v>`): moves the
 * unfinished runs of a version; prints what moved and what was blocked, with why.
 */
export async function migrateRunsCommand(
  ctx: RemoteContext,
  flowRef: string,
  opts: { from?: string; to?: string; nodeMap?: string; runIds?: string[]; dryRun?: boolean },
) {
  const key = flowRef.includes('@') ? parseFlowKey(flowRef) : { flowId: flowRef, version: '' };
  if (!key?.flowId) throw new UsageError(`Expected <flowId> or <flowId>@<fromVersion>, got ${JSON.stringify(flowRef)}`);
  if (key.version && opts.from !== undefined && opts.from !== key.version) throw new UsageError(`--from ${opts.from} contradicts ${flowRef}`);
  const fromVersion = nonEmpty('--from', opts.from) ?? key.version;
  // `--to 2` or `order@2`: a version of the same flow.
  const toKey = opts.to?.includes('@') ? parseFlowKey(opts.to) : null;
  if (toKey && toKey.flowId !== key.flowId) throw new UsageError(`--to ${opts.to} names another flow than ${key.flowId}`);
  const toVersion = nonEmpty('--to', toKey ? toKey.version : opts.to);
  if (!fromVersion) throw new UsageError('Missing --from <version>: the version the runs are on');
  if (!toVersion) throw new UsageError('Missing --to <version>: the version they move to');
  const body: Record<string, unknown> = { fromVersion, toVersion };
  if (opts.nodeMap !== undefined) {
    const map = parseJsonOption('--node-map', opts.nodeMap);
    if (map === null || typeof map !== 'object' || Array.isArray(map)) throw new UsageError('--node-map must be a JSON object of old node id → new node id');
    body.nodeMap = map;
  }
  if (opts.runIds?.length) body.runIds = opts.runIds.map((id) => nonEmpty('--run', id));
  if (opts.dryRun) body.dryRun = true;
  const path = `/v1/flows/${encodeURIComponent(key.flowId)}/migrate`;
  const result = await ctx.client.request<{ migrated: string[]; blocked: Array<{ runId: string; reason: string }> }>('POST', path, body);
  if (ctx.json) return printJson(ctx, result);
  const verb = opts.dryRun ? 'Would migrate' : 'Migrated';
  ctx.print(
    `${verb} ${result.migrated.length} run${result.migrated.length === 1 ? '' : 's'} of ${key.flowId} from ${fromVersion} to ${toVersion}; ${result.blocked.length} blocked`,
  );
  const rows = [
    ...result.migrated.map((runId) => [runId, opts.dryRun ? 'would move' : 'moved', '']),
    ...result.blocked.map((b) => [b.runId, 'blocked', b.reason]),
  ];
  if (rows.length > 0) ctx.print(table(['RUN', 'RESULT', 'REASON'], rows));
}
