import { FlowEngine, flow, type NodeResult } from '../src/index.js';
const child = flow('child', '1').entry('a').node('a', () => ({ status: 'ok', output: 1 })).build();
const parent = flow('parent', '1').entry('fan')
  .node('fan', (ctx): NodeResult => ({ status: 'child', flowId: 'child', version: '1', input: ctx.item }), { forEach: () => Array.from({ length: 100 }, (_, i) => i), concurrency: 20 })
  .node('done', () => ({ status: 'ok' })).edge('fan', 'done').build();
const engine = new FlowEngine();
await engine.registerDefinition(child); await engine.registerDefinition(parent);
const { runId } = await engine.startRun({ flowId: 'parent', version: '1', input: {} });
const run = await engine.runToCompletion(runId, { maxWaitMs: 5000 });
console.log('runToCompletion (no worker):', run.status, run.branches[0]?.map?.done);
await engine.close();
