/**
 * CLI commands that act on runs through a running server's API: runs list|show|timeline,
 * flows, start, resume, cancel, send-event. Each prints a readable view, or the API's JSON with --json.
 */
import { RUN_STATUSES } from '../../core/states.js';
import { flowKey, parseFlowKey } from '../../definitions/flow-key.js';
import type { eventDto, flowDto, runDto, runSummaryDto } from '../http/dto.js';
import { type ApiClient, runPath } from './client.js';
import { formatMs, keyValues, table, truncate } from './table.js';
import { UsageError, parseIntOption, parseJsonOption } from './usage.js';
import { MAX_OUTCOME_LENGTH } from '../../core/outcome.js';
import { MAX_TIMELINE_PAGE_SIZE } from '../../storage/timeline-page.js';
import { parseDurationMs } from '../../config.js';

const MAX_PAGE_SIZE = 1000;

type RunJson = ReturnType<typeof runDto>;
type RunSummaryJson = ReturnType<typeof runSummaryDto>;
type EventJson = ReturnType<typeof eventDto>;
type FlowJson = ReturnType<typeof flowDto>;

export interface RemoteContext {
  client: ApiClient;
  json: boolean;
  print(text: string): void;
}

const printJson = (ctx: RemoteContext, value: unknown) => ctx.print(JSON.stringify(value, null, 2));

function note(run: { error: { code: string; message: string } | null; waitReason: string | null }): string {
  return run.error ? `${run.error.code}: ${run.error.message}` : (run.waitReason ?? '');
}

export async function listRunsCommand(
  ctx: RemoteContext,
  filter: { status?: string; flow?: string; tenant?: string; parent?: string; outcome?: string[]; limit?: string; cursor?: string },
) {
  // Option values are checked here, so that a bad one is a usage error (exit 2) like a bad option.
  const params = new URLSearchParams();
  if (filter.status !== undefined) {
    const statuses = filter.status.toUpperCase().split(',');
    const unknown = statuses.find((s) => !(RUN_STATUSES as readonly string[]).includes(s));
    if (unknown !== undefined)
      throw new UsageError(`--status must be one or more of ${RUN_STATUSES.join(', ')} (comma-separated), got ${JSON.stringify(filter.status)}`);
    params.set('status', statuses.join(','));
  }
  if (filter.flow !== undefined) {
    const key = filter.flow.includes('@') ? parseFlowKey(filter.flow) : { flowId: filter.flow, version: '' };
    if (!key?.flowId) throw new UsageError(`--flow must be <flowId> or <flowId>@<version>, got ${JSON.stringify(filter.flow)}`);
    params.set('flowId', key.flowId);
    if (key.version) params.set('flowVersion', key.version);
  }
  if (filter.tenant !== undefined) {
    if (!filter.tenant) throw new UsageError('--tenant must not be empty');
    params.set('tenantId', filter.tenant);
  }
  if (filter.parent !== undefined) {
    if (!filter.parent) throw new UsageError('--parent must not be empty');
    params.set('parentRunId', filter.parent);
  }
  // Repeated for several (`--outcome refunded --outcome declined`): each value is taken whole.
  for (const outcome of filter.outcome ?? []) {
    if (!outcome || outcome.length > MAX_OUTCOME_LENGTH) throw new UsageError(`--outcome must be 1 to ${MAX_OUTCOME_LENGTH} characters`);
    params.append('outcome', outcome);
  }
  const limit = parseIntOption('--limit', filter.limit, 1, MAX_PAGE_SIZE);
  if (limit !== undefined) params.set('limit', String(limit));
  if (filter.cursor === '') throw new UsageError('--cursor must not be empty');
  if (filter.cursor) params.set('cursor', filter.cursor);
  const query = params.toString();
  const page = await ctx.client.request<{ runs: RunSummaryJson[]; nextCursor: string | null }>('GET', `/v1/runs${query ? `?${query}` : ''}`);
  if (ctx.json) return printJson(ctx, page);
  if (page.runs.length === 0) return ctx.print('No runs.');
  ctx.print(
    table(
      ['RUN', 'FLOW', 'STATUS', 'OUTCOME', 'NODE', 'CREATED', 'NOTE'],
      page.runs.map((r) => [
        r.runId,
        flowKey(r.flowId, r.flowVersion),
        r.status,
        truncate(r.outcome ?? '', 40),
        r.currentNodeId,
        r.createdAt,
        truncate(note(r), 60),
      ]),
    ),
  );
  if (page.nextCursor) ctx.print(`\nMore: --cursor ${page.nextCursor}`);
}

function printRun(ctx: RemoteContext, run: RunJson, heading?: string) {
  if (ctx.json) return printJson(ctx, { run });
  if (heading) ctx.print(heading);
  ctx.print(
    keyValues([
      ['run', run.runId],
      ['flow', flowKey(run.flowId, run.flowVersion)],
      ['status', run.status],
      ['outcome', run.outcome ?? undefined],
      ['node', run.currentNodeId],
      ['tenant', run.tenantId ?? undefined],
      ['parent', run.parentRunId ? `${run.parentRunId} (node ${run.parentNodeId ?? '?'})` : undefined],
      ['handles failure of', run.failureOf ?? undefined],
      ['failure handler', run.failureHandlerRunId ?? undefined],
      ['created', run.createdAt],
      ['updated', run.updatedAt],
      ['attempt', run.attempt],
      ['next', run.nextAttemptAt ?? undefined],
      ['waiting', run.waitReason ?? undefined],
      ...run.branches.filter((b) => b.status === 'WAITING' && (b.event || b.child)).map((b): [string, string] => [`waits (${b.nodeId})`, waitText(b)]),
      ['error', run.error ? `${run.error.code}: ${run.error.message}` : undefined],
      ['trace', run.traceparent ?? undefined],
      ['trace link', (run as { traceUrl?: string | null }).traceUrl ?? undefined],
      ['input', JSON.stringify(run.inputJson)],
      ['state', JSON.stringify(run.stateJson)],
      ['outputs', JSON.stringify(run.outputsJson)],
    ]),
  );
  const children = 'children' in run ? run.children : [];
  if (children.length > 0) {
    ctx.print(`\nchildren (${children.length}${'childrenNextCursor' in run && run.childrenNextCursor ? '+, more with runs list --parent' : ''}):`);
    ctx.print(
      table(
        ['RUN', 'FLOW', 'STATUS', 'FROM NODE'],
        children.map((c) => [c.runId, flowKey(c.flowId, c.flowVersion), c.status, c.parentNodeId]),
      ),
    );
  }
}

/** What a waiting branch waits for: "event payment.received key o-1 (timeout 12:00:00Z)", "child run <id> (RUNNING)". */
function waitText(b: RunJson['branches'][number]): string {
  if (b.event) return `event ${b.event.name}${b.event.key === null ? ' (any key)' : ` key ${b.event.key}`}${b.dueAt ? `, timeout at ${b.dueAt}` : ''}`;
  if (b.child) return `child run ${b.child.runId}${'status' in b.child ? ` (${b.child.status})` : ''}`;
  return '';
}

export async function showRunCommand(ctx: RemoteContext, runId: string) {
  const { run } = await ctx.client.request<{ run: RunJson }>('GET', runPath(runId));
  printRun(ctx, run);
}

type TimelinePageJson = { runId: string; events: EventJson[]; nextCursor: number | null };

/**
 * One page of the timeline (the server's default of 1000 events, or --limit) after --after, with
 * a line saying how to read on; --all reads every page (following nextCursor) and prints them as one.
 */
export async function timelineCommand(ctx: RemoteContext, runId: string, opts: { limit?: string; after?: string; all?: boolean } = {}) {
  const limit = parseIntOption('--limit', opts.limit, 1, MAX_TIMELINE_PAGE_SIZE);
  let after = parseIntOption('--after', opts.after, 0, Number.MAX_SAFE_INTEGER);
  const events: EventJson[] = [];
  let page: TimelinePageJson;
  do {
    const params = new URLSearchParams();
    if (after !== undefined) params.set('after', String(after));
    if (limit !== undefined) params.set('limit', String(limit));
    const query = params.size > 0 ? `?${params}` : '';
    page = await ctx.client.request<TimelinePageJson>('GET', runPath(runId, `/timeline${query}`));
    events.push(...page.events);
    after = page.nextCursor ?? undefined;
  } while (opts.all && page.nextCursor !== null);
  if (ctx.json) return printJson(ctx, { runId: page.runId, events, nextCursor: page.nextCursor });
  ctx.print(
    table(
      ['SEQ', 'AT', 'EVENT', 'NODE', 'ATTEMPT', 'DURATION', 'DETAILS'],
      events.map((e) => [
        e.seq,
        e.at,
        e.type,
        e.nodeId,
        e.attempt,
        formatMs(e.durationMs),
        truncate(e.error ? `${e.error.code}: ${e.error.message}` : e.payloadJson === null ? '' : JSON.stringify(e.payloadJson), 70),
      ]),
    ),
  );
  if (page.nextCursor !== null) ctx.print(`\nMore events: hazel-flow runs timeline ${runId} --after ${page.nextCursor} (or --all for every page)`);
}

export async function flowsCommand(ctx: RemoteContext) {
  const data = await ctx.client.request<{ flows: FlowJson[] }>('GET', '/v1/flows');
  if (ctx.json) return printJson(ctx, data);
  if (data.flows.length === 0) return ctx.print('No flows.');
  ctx.print(
    table(
      ['FLOW', 'ENTRY', 'NODES', 'EDGES', 'EXECUTABLE'],
      data.flows.map((f) => {
        const graph = f.definitionJson as { entry: string; nodes: unknown[]; edges: unknown[] };
        return [flowKey(f.flowId, f.version), graph.entry, graph.nodes.length, graph.edges.length, f.registered ? 'yes' : 'no'];
      }),
    ),
  );
}

export async function startCommand(
  ctx: RemoteContext,
  flowRef: string,
  opts: { input?: string; tenant?: string; idempotencyKey?: string; priority?: string; delay?: string; startAt?: string },
) {
  const key = parseFlowKey(flowRef);
  if (!key) throw new UsageError(`Expected <flowId>@<version>, got ${JSON.stringify(flowRef)}`);
  const body: Record<string, unknown> = {
    flowId: key.flowId,
    version: key.version,
    input: opts.input === undefined ? null : parseJsonOption('--input', opts.input),
  };
  if (opts.tenant) body.tenantId = opts.tenant;
  if (opts.idempotencyKey) body.idempotencyKey = opts.idempotencyKey;
  if (opts.priority !== undefined) {
    if (!/^-?\d+$/.test(opts.priority.trim())) throw new UsageError(`--priority must be an integer, got ${JSON.stringify(opts.priority)}`);
    body.priority = Number(opts.priority);
  }
  if (opts.delay !== undefined && opts.startAt !== undefined) throw new UsageError('Give --delay or --start-at, not both');
  if (opts.delay !== undefined) body.delayMs = durationOption('--delay', opts.delay);
  if (opts.startAt !== undefined) {
    if (Number.isNaN(Date.parse(opts.startAt))) throw new UsageError(`--start-at must be an ISO time, got ${JSON.stringify(opts.startAt)}`);
    body.startAt = new Date(opts.startAt).toISOString();
  }
  const result = await ctx.client.request<{ runId: string; status: string; created: boolean }>('POST', '/v1/runs/start', body);
  if (ctx.json) return printJson(ctx, result);
  ctx.print(`${result.created ? 'Started' : 'Already started (idempotency key or debounce)'} run ${result.runId} (${result.status})`);
}

/** A duration option (`30s`, `15m`, a bare number of ms) as milliseconds; a usage error otherwise. */
function durationOption(name: string, text: string): number | undefined {
  try {
    return parseDurationMs(name, text);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The whole payload is the body (`null` without --payload); --node resumes one waiting branch. */
export async function resumeCommand(ctx: RemoteContext, runId: string, payloadText: string | undefined, nodeId?: string) {
  const payload = payloadText === undefined ? null : parseJsonOption('--payload', payloadText);
  if (nodeId === '') throw new UsageError('--node must not be empty');
  const query = nodeId === undefined ? '' : `?${new URLSearchParams({ nodeId })}`;
  const { run } = await ctx.client.request<{ run: RunJson }>('POST', runPath(runId, `/resume${query}`), payload);
  printRun(ctx, run, `Resumed run ${run.runId}: now ${run.status}`);
}

/**
 * Sends an event to the runs waiting for it; prints how many waiting branches it was delivered to.
 * The payload is parsed like --input (exact numbers); without --payload it is null.
 */
export async function sendEventCommand(ctx: RemoteContext, name: string, opts: { key?: string; payload?: string }) {
  if (opts.key === '') throw new UsageError('--key must not be empty');
  const body: Record<string, unknown> = { name };
  if (opts.key !== undefined) body.key = opts.key;
  if (opts.payload !== undefined) body.payload = parseJsonOption('--payload', opts.payload);
  const result = await ctx.client.request<{ eventId: string; delivered: number }>('POST', '/v1/events', body);
  if (ctx.json) return printJson(ctx, result);
  const what = `${name}${opts.key === undefined ? '' : ` (key ${opts.key})`}`;
  ctx.print(`Sent event ${what}: ${result.eventId}; delivered to ${result.delivered} waiting run branch${result.delivered === 1 ? '' : 'es'}`);
}

export async function cancelCommand(ctx: RemoteContext, runId: string, reason: string | undefined) {
  const { run } = await ctx.client.request<{ run: RunJson }>('POST', runPath(runId, '/cancel'), reason ? { reason } : {});
  if (ctx.json) return printJson(ctx, { run });
  ctx.print(`Run ${run.runId} is ${run.status}`);
}
