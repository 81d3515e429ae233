/**
 * /v1/runs: start, tick, resume, cancel, get, timeline, list; /v1/events: send an event. Every id and filter reaches the
 * store as a bound parameter (the stores never build SQL from values), and every body is
 * validated by schema before the engine sees it, so a bad request writes nothing.
 */
import { awaitedChildren } from '../../core/states.js';
import type { FastifyInstance } from 'fastify';
import type { FlowEngine } from '../../flow-engine.js';
import type { FlowRunStatus } from '../../definitions/types.js';
import type { FlowRunRecord, RunFilter } from '../../storage/types.js';
import { unstorableTextReason } from '../../core/json.js';
import { InvalidArgumentError, InvalidRunStateError, RunNotFoundError } from '../../errors.js';
import { decodeCursor, normalizeRunFilter } from '../../storage/run-filter.js';
import { childRunDto, runDto, runSummaryDto, eventDto } from './dto.js';
import type { RequestGate } from './gate.js';
import { parseTraceparent } from '../../core/trace-context.js';
import { traceLink } from './trace-link.js';
import {
  RUN_CHILDREN_PAGE,
  cancelRunBody,
  emptyBody,
  listRunsQuery,
  resumeRunQuery,
  runIdParams,
  sendEventBody,
  startRunBody,
  timelineQuery,
} from './schemas.js';

interface StartBody {
  flowId: string;
  version: string;
  input?: unknown;
  tenantId?: string;
  idempotencyKey?: string;
  initialState?: Record<string, unknown>;
  traceparent?: string;
  priority?: number;
  delayMs?: number;
  startAt?: string;
}

interface ListQuery {
  status?: string;
  flowId?: string;
  flowVersion?: string;
  tenantId?: string;
  parentRunId?: string;
  scheduleId?: string;
  /** One, or several when the parameter is repeated. */
  outcome?: string | string[];
  limit?: string;
  cursor?: string;
}

interface SendEventBody {
  name: string;
  key?: string;
  payload?: unknown;
}

/** Children a run's branches and items wait for that are looked up one by one when not on that page. */
const MAX_CHILD_LOOKUPS = 50;

/**
 * The run resource: the run with its child runs (first page, newest first) and, for the branches
 * and map items that wait for a child, that child's status.
 */
export async function runResource(engine: FlowEngine, run: FlowRunRecord, traceUrl?: string) {
  const page = await engine.listRuns({ parentRunId: run.runId, limit: RUN_CHILDREN_PAGE, summary: true });
  const runs = page.runs.map(childRunDto);
  const listed = new Set(runs.map((c) => c.runId));
  const waitedFor = new Set<string>();
  for (const childRunId of awaitedChildren(run.branches ?? [])) if (!listed.has(childRunId)) waitedFor.add(childRunId);
  const others = (await Promise.all([...waitedFor].slice(0, MAX_CHILD_LOOKUPS).map((id) => engine.getRun(id))))
    .filter((c): c is FlowRunRecord => c !== null)
    .map(childRunDto);
  return { run: { ...runDto(run, { runs, nextCursor: page.nextCursor, others }), traceUrl: traceLink(traceUrl, run.traceparent) } };
}
type RunParams = { runId: string };

/** Earliest and latest creation time a cursor may carry: what both JavaScript dates and Postgres timestamps hold. */
const CURSOR_MIN_MS = -210_000_000_000_000; // about 4700 BC (Postgres starts at 4713 BC)
const CURSOR_MAX_MS = 8_640_000_000_000_000; // JavaScript's last date, 275760 AD

/**
 * A cursor comes back from the client, so a crafted one must not reach the store: its time must
 * be one both a JavaScript date and Postgres hold (`1e300` is neither), its run id text the store
 * can hold (no U+0000). INVALID_ARGUMENT otherwise, as for any cursor the engine did not produce.
 */
function checkCursor(cursor: string): void {
  const { createdAt, runId } = decodeCursor(cursor);
  const time = createdAt.getTime();
  if (!Number.isFinite(time) || time < CURSOR_MIN_MS || time > CURSOR_MAX_MS || unstorableTextReason(runId) !== null) {
    throw new InvalidArgumentError('listRuns: cursor is not one this engine produced');
  }
}

/** Runs an embedded store reads for a list at once (about 4 ms of PGlite's time on the event loop for 200 summaries). */
const EMBEDDED_LIST_CHUNK = 200;

/**
 * A page of runs from an embedded store, as the JSON text of `{ runs, nextCursor }`: read
 * `EMBEDDED_LIST_CHUNK` rows at a time, each chunk turned into its JSON at once, with a turn of the
 * event loop between chunks. PGlite runs each query on this process's event loop, and a page of
 * 1000 read and serialized in one go holds everything else (/health, small requests, the worker)
 * for all of it. The chunks page on with the list's own cursor, so the page is the one a single
 * read gives.
 */
async function listInChunks(engine: FlowEngine, filter: RunFilter & { summary: true }): Promise<string> {
  const { limit } = normalizeRunFilter(filter); // the whole page's filter checked (a limit of 5000 is refused, not read in chunks)
  const texts: string[] = [];
  let read = 0;
  let cursor = filter.cursor;
  for (;;) {
    const chunk = await engine.listRuns({ ...filter, limit: Math.min(EMBEDDED_LIST_CHUNK, limit - read), cursor });
    read += chunk.runs.length;
    if (chunk.runs.length > 0) texts.push(JSON.stringify(chunk.runs.map(runSummaryDto)).slice(1, -1));
    if (chunk.nextCursor === null || read >= limit) return `{"runs":[${texts.join(',')}],"nextCursor":${JSON.stringify(chunk.nextCursor)}}`;
    cursor = chunk.nextCursor;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * `heavy`: the bound on heavy requests (a page of runs, a timeline), when there is one: see gate.ts.
 */
export function registerRunRoutes(app: FastifyInstance, engine: FlowEngine, heavy: RequestGate | null = null, traceUrl?: string): void {
  const bounded = <T>(fn: () => Promise<T>): Promise<T> => (heavy ? heavy.run(fn) : fn());

  app.post<{ Body: StartBody }>('/v1/runs/start', { schema: { body: startRunBody } }, async (req, reply) => {
    const { flowId, version, input, tenantId, idempotencyKey, initialState, priority, delayMs, startAt } = req.body;
    // A caller's trace: given in the body, or propagated in the request's header (ignored when malformed).
    const header = req.headers.traceparent;
    const traceparent = req.body.traceparent ?? (typeof header === 'string' && parseTraceparent(header.trim()) ? header.trim() : undefined);
    const result = await engine.startRun({
      flowId,
      version,
      input: input ?? null,
      tenantId,
      idempotencyKey,
      initialState,
      traceparent,
      priority,
      delayMs,
      startAt,
    });
    // 201 for a new run; 200 when the idempotency key (or a debounce) returned an existing one.
    return reply.code(result.created ? 201 : 200).send(result);
  });

  app.post<{ Params: RunParams }>('/v1/runs/:runId/tick', { schema: { params: runIdParams, body: emptyBody } }, async (req) => {
    // engine.tick() sleeps through a retry backoff (the seed's loop relies on it); over HTTP that
    // could hold a request for minutes, so a run not yet due comes back unchanged: its
    // nextAttemptAt says when to tick again.
    const run = await engine.getRun(req.params.runId);
    if (!run) throw new RunNotFoundError(req.params.runId);
    if (run.status === 'RUNNING' && run.dueInMs > 0) return runResource(engine, run, traceUrl);
    return runResource(engine, await engine.tick(req.params.runId), traceUrl);
  });

  // The whole body is the payload (any JSON value; `null` for none). `?nodeId=` resumes one
  // waiting branch of a run that waits at several nodes.
  app.post<{ Params: RunParams; Querystring: { nodeId?: string }; Body: unknown }>(
    '/v1/runs/:runId/resume',
    { schema: { params: runIdParams, querystring: resumeRunQuery } },
    async (req) => {
      const { nodeId } = req.query;
      const run = nodeId === undefined ? await engine.resumeRun(req.params.runId, req.body) : await engine.resumeRun(req.params.runId, req.body, { nodeId });
      return runResource(engine, run, traceUrl);
    },
  );

  app.post<{ Params: RunParams; Body: { reason?: string } }>(
    '/v1/runs/:runId/cancel',
    { schema: { params: runIdParams, body: cancelRunBody } },
    async (req) => {
      // A run cancelled already is finished like a completed or failed one: a second cancel is a
      // 409, not a 200 that silently drops its reason.
      const before = await engine.getRun(req.params.runId);
      if (!before) throw new RunNotFoundError(req.params.runId);
      if (before.status === 'CANCELLED') throw new InvalidRunStateError(req.params.runId, before.status, 'cancel', 'RUNNING or WAITING');
      return runResource(engine, await engine.cancelRun(req.params.runId, req.body.reason), traceUrl);
    },
  );

  app.get<{ Params: RunParams }>('/v1/runs/:runId', { schema: { params: runIdParams } }, async (req) => {
    const run = await engine.getRun(req.params.runId);
    if (!run) throw new RunNotFoundError(req.params.runId);
    return runResource(engine, run, traceUrl);
  });

  // Always one page (the first 1000 events without parameters): a 40,000-item map's timeline is
  // 80,000 events, 14 MB in one answer. The page's shape is the whole timeline's of before, with
  // `nextCursor` (null: that was all) to pass as `after` for the next page.
  app.get<{ Params: RunParams; Querystring: { after?: string; limit?: string } }>(
    '/v1/runs/:runId/timeline',
    { schema: { params: runIdParams, querystring: timelineQuery } },
    async (req) => {
      const { after, limit } = req.query;
      const options = { after: after === undefined ? undefined : Number(after), limit: limit === undefined ? undefined : Number(limit) };
      return bounded(async () => {
        const page = await engine.getTimeline(req.params.runId, options);
        return { runId: req.params.runId, events: page.events.map(eventDto), nextCursor: page.nextCursor };
      });
    },
  );

  app.get<{ Querystring: ListQuery }>('/v1/runs', { schema: { querystring: listRunsQuery } }, async (req, reply) => {
    const q = req.query;
    if (q.cursor !== undefined) checkCursor(q.cursor);
    const filter = {
      status: q.status ? (q.status.split(',') as FlowRunStatus[]) : undefined,
      flowId: q.flowId,
      flowVersion: q.flowVersion,
      tenantId: q.tenantId,
      parentRunId: q.parentRunId,
      scheduleId: q.scheduleId,
      outcome: q.outcome,
      limit: q.limit === undefined ? undefined : Number(q.limit),
      cursor: q.cursor,
      // The page shows summaries: the store need not read (nor ship) inputs, states and outputs.
      summary: true as const,
    };
    return bounded(async () => {
      if (engine.storage.embedded === true) return reply.type('application/json; charset=utf-8').send(await listInChunks(engine, filter));
      const page = await engine.listRuns(filter);
      return { runs: page.runs.map(runSummaryDto), nextCursor: page.nextCursor };
    });
  });

  // An event for every run branch waiting for its name (and key). The engine checks the name,
  // key and payload (INVALID_ARGUMENT, SERIALIZATION_ERROR) before it writes anything. The
  // waiting runs move on when their holder (a worker, a tick) applies it: hence 202.
  app.post<{ Body: SendEventBody }>('/v1/events', { schema: { body: sendEventBody } }, async (req, reply) => {
    const { name, key, payload } = req.body;
    const sent = await engine.sendEvent(key === undefined ? { name, payload } : { name, key, payload });
    return reply.code(202).send(sent);
  });
}
