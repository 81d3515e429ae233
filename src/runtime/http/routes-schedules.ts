/**
 * /v1/schedules: list, get, set (PUT), delete, pause, resume, trigger — each route's schema,
 * handler and OpenAPI path together here. Types and unknown properties are checked by schema
 * (INVALID_REQUEST); what a schedule may be (cron, time zone, interval, flow) is the engine's rule
 * (INVALID_ARGUMENT, FLOW_NOT_FOUND), checked before anything is written, as for
 * `engine.schedules.set`.
 */
import type { FastifyInstance } from 'fastify';
import type { FlowEngine } from '../../flow-engine.js';
import { ScheduleNotFoundError } from '../../errors.js';
import { SCHEDULE_CATCHUPS, SCHEDULE_OVERLAPS, type ScheduleOptions } from '../../definitions/schedule-spec.js';
import type { FlowSchedule } from '../../schedules/types.js';
import { emptyBody } from './schemas.js';

/** Next fire times a schedule resource lists. */
const UPCOMING = 5;

const idParams = {
  type: 'object',
  required: ['scheduleId'],
  properties: { scheduleId: { type: 'string', minLength: 1, maxLength: 200, description: 'Schedule id.' } },
} as const;

const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { flowId: { type: 'string', minLength: 1, maxLength: 200, description: 'Only the schedules of this flow.' } },
} as const;

/** PUT /v1/schedules/:scheduleId — `engine.schedules.set` without the id (it is the path's). */
export const setScheduleBody = {
  type: 'object',
  required: ['flowId'],
  additionalProperties: false,
  properties: {
    flowId: { type: 'string', minLength: 1, maxLength: 200 },
    version: {
      type: 'string',
      minLength: 1,
      maxLength: 100,
      description: 'The flow version runs start; absent: the newest the store knows when a tick fires.',
    },
    cron: { type: 'string', minLength: 1, maxLength: 200, description: 'Cron expression: 5 fields, or 6 with seconds first. Exactly one of cron and every.' },
    every: {
      anyOf: [
        { type: 'integer', minimum: 1000 },
        { type: 'string', minLength: 1, maxLength: 50 },
      ],
      description: "Interval: milliseconds, or a duration such as '15m', '12h'; at least one second.",
    },
    timezone: { type: 'string', minLength: 1, maxLength: 100, description: "IANA time zone the cron expression is read in (default 'UTC')." },
    input: { description: 'Any JSON value: each run’s input (default null).' },
    overlap: { type: 'string', enum: [...SCHEDULE_OVERLAPS], description: "While the previous run is unfinished (default 'skip')." },
    catchup: { type: 'string', enum: [...SCHEDULE_CATCHUPS], description: "Ticks missed while no worker ran (default 'latest')." },
    catchupWindowMs: { type: 'integer', minimum: 1000, description: 'How late a missed tick may still fire (default one day).' },
    jitterMs: { type: 'integer', minimum: 0, description: 'Each tick fires up to this many ms late, at random (default 0).' },
    paused: { type: 'boolean', description: 'Absent: a new schedule is active, a replaced one keeps its state.' },
  },
} as const;

const isoDate = { type: 'string', format: 'date-time' } as const;
const nullable = <T extends object>(schema: T) => ({ anyOf: [schema, { type: 'null' }] });

export const scheduleSchema = {
  type: 'object',
  properties: {
    scheduleId: { type: 'string' },
    flowId: { type: 'string' },
    version: nullable({ type: 'string' }),
    cron: nullable({ type: 'string' }),
    every: nullable({ type: 'integer', description: 'Interval in ms.' }),
    timezone: { type: 'string' },
    input: {},
    overlap: { type: 'string', enum: [...SCHEDULE_OVERLAPS] },
    catchup: { type: 'string', enum: [...SCHEDULE_CATCHUPS] },
    catchupWindowMs: { type: 'integer' },
    jitterMs: { type: 'integer' },
    paused: { type: 'boolean' },
    nextFireAt: nullable(isoDate),
    lastFireAt: nullable(isoDate),
    lastSkip: nullable({
      type: 'object',
      description: 'The last tick that started no run, and why.',
      properties: { scheduledAt: isoDate, reason: { type: 'string', enum: ['overlap', 'missed', 'flowNotFound'] }, message: { type: 'string' }, at: isoDate },
    }),
    buffered: { type: 'array', items: isoDate, description: 'Ticks waiting for the previous run to end.' },
    upcoming: { type: 'array', items: isoDate, description: `The next ${UPCOMING} fire times (none while paused).` },
    createdAt: isoDate,
    updatedAt: isoDate,
  },
} as const;

type Params = { scheduleId: string };

/** The schedule resource: the schedule and its next fire times. */
async function scheduleResource(engine: FlowEngine, s: FlowSchedule) {
  const upcoming =
    s.paused || s.nextFireAt === null
      ? []
      : [
          s.nextFireAt,
          ...(await engine.schedules.preview({
            cron: s.cron ?? undefined,
            every: s.every ?? undefined,
            timezone: s.timezone,
            from: s.nextFireAt,
            count: UPCOMING - 1,
          })),
        ];
  return { schedule: { ...s, upcoming } };
}

export function registerScheduleRoutes(app: FastifyInstance, engine: FlowEngine): void {
  app.get<{ Querystring: { flowId?: string } }>('/v1/schedules', { schema: { querystring: listQuery } }, async (req) => {
    const schedules = await engine.schedules.list(req.query.flowId === undefined ? {} : { flowId: req.query.flowId });
    return { schedules: await Promise.all(schedules.map(async (s) => (await scheduleResource(engine, s)).schedule)) };
  });

  app.get<{ Params: Params }>('/v1/schedules/:scheduleId', { schema: { params: idParams } }, async (req) => {
    const s = await engine.schedules.get(req.params.scheduleId);
    if (!s) throw new ScheduleNotFoundError(req.params.scheduleId);
    return scheduleResource(engine, s);
  });

  app.put<{ Params: Params; Body: Omit<ScheduleOptions, 'scheduleId'> }>(
    '/v1/schedules/:scheduleId',
    { schema: { params: idParams, body: setScheduleBody } },
    async (req, reply) => {
      const existed = (await engine.schedules.get(req.params.scheduleId)) !== null;
      const s = await engine.schedules.set({ ...req.body, scheduleId: req.params.scheduleId });
      return reply.code(existed ? 200 : 201).send(await scheduleResource(engine, s));
    },
  );

  app.delete<{ Params: Params }>('/v1/schedules/:scheduleId', { schema: { params: idParams } }, async (req) => {
    await engine.schedules.delete(req.params.scheduleId);
    return { deleted: req.params.scheduleId };
  });

  for (const action of ['pause', 'resume'] as const) {
    app.post<{ Params: Params }>(`/v1/schedules/:scheduleId/${action}`, { schema: { params: idParams, body: emptyBody } }, async (req) =>
      scheduleResource(engine, await engine.schedules[action](req.params.scheduleId)),
    );
  }

  app.post<{ Params: Params }>('/v1/schedules/:scheduleId/trigger', { schema: { params: idParams, body: emptyBody } }, async (req, reply) =>
    reply.code(201).send(await engine.schedules.trigger(req.params.scheduleId)),
  );
}

// ---- OpenAPI ----

const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const errorResponse = (description: string) => ({ description, ...json(ref('Error')) });
const idParam = { name: 'scheduleId', in: 'path', required: true, schema: { type: 'string' } };
const scheduleResponse = (description: string) => ({ description, ...json({ type: 'object', properties: { schedule: ref('Schedule') } }) });
const notFound = { '404': errorResponse('Unknown schedule (SCHEDULE_NOT_FOUND)') };

/** The /v1/schedules paths of the OpenAPI document; `errors`: the responses every route shares, `postErrors` those of a body. */
export function schedulePaths(errors: Record<string, unknown>, postErrors: Record<string, unknown>) {
  const action = (summary: string) => ({
    post: {
      summary,
      parameters: [idParam],
      requestBody: { required: true, ...json(emptyBody) },
      responses: { '200': scheduleResponse('The schedule after the change'), ...postErrors, ...notFound },
    },
  });
  return {
    '/v1/schedules': {
      get: {
        summary: 'List schedules by id (flowId: those of one flow), each with its next fire times',
        parameters: [{ name: 'flowId', in: 'query', required: false, schema: listQuery.properties.flowId }],
        responses: {
          '200': { description: 'Schedules', ...json({ type: 'object', properties: { schedules: { type: 'array', items: ref('Schedule') } } }) },
          ...errors,
        },
      },
    },
    '/v1/schedules/{scheduleId}': {
      get: {
        summary: 'Get a schedule with its next fire times',
        parameters: [idParam],
        responses: { '200': scheduleResponse('The schedule'), ...errors, ...notFound },
      },
      put: {
        summary: 'Create or replace a schedule: a cron expression (in a time zone) or an interval that starts runs of a flow, exactly once per tick',
        description:
          'A replaced schedule keeps its place in the timetable when its cron/interval and time zone are unchanged, and its paused state unless `paused` is given. ' +
          'Nothing is written when the cron expression, time zone, interval or flow is refused.',
        parameters: [idParam],
        requestBody: { required: true, ...json(setScheduleBody) },
        responses: {
          '201': scheduleResponse('Created'),
          '200': scheduleResponse('Replaced'),
          ...postErrors,
          '404': errorResponse('Unknown flow or version (FLOW_NOT_FOUND)'),
          '422': errorResponse('The input cannot be stored as JSON (SERIALIZATION_ERROR)'),
        },
      },
      delete: {
        summary: 'Delete a schedule (the runs it started stay)',
        parameters: [idParam],
        responses: { '200': { description: 'Deleted', ...json({ type: 'object', properties: { deleted: { type: 'string' } } }) }, ...errors, ...notFound },
      },
    },
    '/v1/schedules/{scheduleId}/pause': action('Pause: no tick fires until it is resumed'),
    '/v1/schedules/{scheduleId}/resume': action('Resume from the next tick after now (ticks that fell while paused are not caught up)'),
    '/v1/schedules/{scheduleId}/trigger': {
      post: {
        summary: 'Start one run now, outside the timetable (its scheduledAt is now)',
        parameters: [idParam],
        requestBody: { required: true, ...json(emptyBody) },
        responses: {
          '201': { description: 'Started', ...json({ type: 'object', properties: { runId: { type: 'string' } } }) },
          ...postErrors,
          '404': errorResponse('Unknown schedule (SCHEDULE_NOT_FOUND), or no version of its flow is known (FLOW_NOT_FOUND)'),
        },
      },
    },
  };
}
