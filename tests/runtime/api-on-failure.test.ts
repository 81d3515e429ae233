/**
 * onFailure over the REST API and the CLI: the failed run's JSON names its handler run, the
 * handler run's JSON names the failed run (in the run resource and the runs list), the timeline
 * shows FAILURE_HANDLER_STARTED, `runs show` prints both links, and the OpenAPI document
 * describes both fields and both events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRuntime } from '../../src/runtime/index.js';
import { flow } from '../../src/definitions/builder.js';
import type { NodeResult } from '../../src/definitions/types.js';
import { demoFlows } from '../../src/runtime/demo-flows.js';
import { runCli } from './cli-helpers.js';
import { http, startRuntime, waitForStatus } from './helpers.js';

let rt: FlowRuntime;
const call = (method: string, path: string, init?: Parameters<typeof http>[3]) => http(rt.url, method, path, init);

const alert = flow('api-alert', '1')
  .entry('page')
  .node('page', (ctx) => ({ status: 'ok', output: ctx.input }))
  .build();
const order = flow('api-order', '1', { onFailure: { flowId: 'api-alert', version: '1' } })
  .entry('ship')
  .node('ship', (): NodeResult => ({ status: 'error', error: { code: 'NO_CARRIER', message: 'no carrier', retryable: false } }))
  .build();

beforeAll(async () => {
  rt = await startRuntime({ flows: [...demoFlows, alert, order], worker: true });
});
afterAll(async () => {
  await rt?.close();
});

describe('onFailure in the run JSON', () => {
  it('links the failed run and its handler both ways, and the timeline says it started', async () => {
    const res = await call('POST', '/v1/runs/start', { json: { flowId: 'api-order', version: '1', input: {} } });
    expect(res.status, res.text).toBe(201);
    const runId = res.body.runId as string;
    await waitForStatus(rt, runId, 'FAILED');
    const failed = (await call('GET', `/v1/runs/${runId}`)).body.run;
    expect(failed).toMatchObject({ status: 'FAILED', failureOf: null, failureHandlerRunId: expect.any(String) });
    const handlerId = failed.failureHandlerRunId as string;
    await waitForStatus(rt, handlerId, 'COMPLETED');
    const handler = (await call('GET', `/v1/runs/${handlerId}`)).body.run;
    expect(handler).toMatchObject({ flowId: 'api-alert', failureOf: runId, failureHandlerRunId: null, parentRunId: null });
    expect(handler.inputJson).toEqual({ runId, flowId: 'api-order', version: '1', error: { code: 'NO_CARRIER', message: 'no carrier', retryable: false } });
    const listed = (await call('GET', '/v1/runs?flowId=api-alert')).body.runs;
    expect(listed).toEqual([expect.objectContaining({ runId: handlerId, failureOf: runId })]);
    const events = (await call('GET', `/v1/runs/${runId}/timeline`)).body.events as Array<{ type: string; payloadJson: unknown }>;
    expect(events.at(-1)).toMatchObject({ type: 'FAILURE_HANDLER_STARTED', payloadJson: { handlerRunId: handlerId, flowId: 'api-alert', version: '1' } });

    const cli = (runIdToShow: string) => runCli(['runs', 'show', runIdToShow], { FLOW_URL: rt.url });
    expect((await cli(runId)).stdout).toMatch(new RegExp(`^failure handler\\s+${handlerId}$`, 'm'));
    expect((await cli(handlerId)).stdout).toMatch(new RegExp(`^handles failure of\\s+${runId}$`, 'm'));
  });

  it('is described by the OpenAPI document', async () => {
    const schemas = (await call('GET', '/openapi.json')).body.components.schemas;
    for (const field of ['failureOf', 'failureHandlerRunId']) {
      expect(schemas.Run.properties).toHaveProperty(field);
      expect(schemas.RunSummary.properties).toHaveProperty(field);
    }
    for (const type of ['FAILURE_HANDLER_STARTED', 'FAILURE_HANDLER_SKIPPED']) expect(schemas.Event.properties.type.description).toContain(type);
  });
});
