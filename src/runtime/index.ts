/**
 * @hazeljs/flow/runtime — run flows as a service: engine, worker, REST API and dashboard.
 *
 *   import { runFlowRuntime } from '@hazeljs/flow/runtime';
 *   const runtime = await runFlowRuntime({ flows: [myFlow], services: { db } });
 *   console.log(`open ${runtime.url}`);
 */
export { runFlowRuntime } from './runtime.js';
export type { FlowRuntime, FlowRuntimeOptions } from './runtime.js';
export { buildApiServer, DEFAULT_BODY_LIMIT } from './http/server.js';
export type { ApiServerOptions } from './http/server.js';
export type { HeavyRequestLimits } from './http/gate.js';
export { buildOpenApiDocument } from './http/openapi.js';
export { DEFAULT_PRUNE_EVERY_MS } from './prune-schedule.js';
export type { PruneScheduleOptions } from './prune-schedule.js';
export { chooseStorage, describeStorage } from '../storage/choose.js';
export { DEFAULT_DATA_DIR } from '../config.js';
export type { StorageChoiceOptions } from '../storage/choose.js';
export { collectFlowDefinitions, loadFlowsFromModule } from './flow-modules.js';
export { demoFlows } from './demo-flows.js';
