// Repro: forEach child fan-out loses child ends (parent WAITING forever).
import { FlowEngine, flow, type NodeResult } from '../src/index.js';
const N = Number(process.env.N ?? 100), FAN = Number(process.env.FAN ?? 20);
const child = flow('child', '1').entry('a').node('a', () => ({ status: 'ok', output: 1 })).build();
const parent = flow('parent', '1').entry('fan')
  .node('fan', (ctx): NodeResult => ({ status: 'child', flowId: 'child', version: '1', input: ctx.item }), { forEach: () => Array.from({ length: N }, (_, i) => i), concurrency: FAN })
  .node('done', () => ({ status: 'ok' })).edge('fan', 'done').build();
const engine = new FlowEngine(process.env.PG ? { storage: (await import('../src/storage/postgres.js')).createPostgresStorage({ connectionString: process.env.PG, schema: `repro_${Date.now()}` }) } : {});
await engine.registerDefinition(child); await engine.registerDefinition(parent);
const worker = engine.startWorker({ concurrency: 8, pollIntervalMs: 100, logger: { debug() {}, info() {}, warn() {}, error() {} } });
await worker.started;
const { runId } = await engine.startRun({ flowId: 'parent', version: '1', input: {} });
const deadline = Date.now() + 10_000;
let run = await engine.getRun(runId);
while (run!.status !== 'COMPLETED' && Date.now() < deadline) { await new Promise((r) => setTimeout(r, 100)); run = await engine.getRun(runId); }
const kids = (await engine.listRuns({ parentRunId: runId, limit: 1000 })).runs;
const b = run!.branches[0];
console.log(`parent ${run!.status}; ${kids.length} children, ${kids.filter((k) => k.status === 'COMPLETED').length} COMPLETED; map done ${b?.map?.done ?? '-'} of ${b?.map?.total ?? '-'}, ${b?.map?.items.filter((i) => i.status === 'WAITING').length ?? 0} items WAITING on a child that has ended`);
await engine.close();
