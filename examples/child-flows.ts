/**
 * Child runs: `ship-order` starts one `pack-parcel` child run per parcel (a `forEach` whose handler
 * returns `{ status: 'child' }`), then a `label` child for the whole order, and finishes with their
 * outputs. `runToCompletion` drives the children in the same call when no worker runs.
 * Run: npx tsx --conditions=hazel-source examples/child-flows.ts
 */
import { FlowEngine, flow } from '@hazeljs/flow';
import type { NodeResult } from '@hazeljs/flow';

interface Order {
  orderId: string;
  parcels: Array<{ sku: string; weightKg: number }>;
}

export const packParcel = flow('pack-parcel', '1.0.0')
  .entry('pack')
  .node('pack', (ctx) => {
    const parcel = ctx.input as { sku: string; weightKg: number };
    return { status: 'ok', output: { sku: parcel.sku, box: parcel.weightKg > 5 ? 'large' : 'small' } };
  })
  .build();

export const printLabel = flow('print-label', '1.0.0')
  .entry('print')
  .node('print', (ctx) => ({ status: 'ok', output: { label: `LBL-${(ctx.input as { orderId: string }).orderId}` } }))
  .build();

export const shipOrder = flow('ship-order', '1.0.0')
  .entry('pack-all')
  .node('pack-all', (ctx): NodeResult => ({ status: 'child', flowId: 'pack-parcel', version: '1.0.0', input: ctx.item }), {
    forEach: (ctx) => (ctx.input as Order).parcels,
    concurrency: 2,
  })
  .node('label', (ctx): NodeResult => ({ status: 'child', flowId: 'print-label', version: '1.0.0', input: { orderId: (ctx.input as Order).orderId } }))
  .node('done', (ctx) => {
    const boxes = (ctx.outputs['pack-all'] as Array<{ pack: { box: string } }>).map((p) => p.pack.box);
    const { print } = ctx.outputs.label as { print: { label: string } };
    return { status: 'ok', output: { boxes, label: print.label } };
  })
  .edge('pack-all', 'label')
  .edge('label', 'done')
  .build();

export async function runChildFlowsExample(engine: FlowEngine, order: Order) {
  for (const def of [packParcel, printLabel, shipOrder]) await engine.registerDefinition(def);
  const { runId } = await engine.startRun({ flowId: 'ship-order', version: '1.0.0', input: order });
  const run = await engine.runToCompletion(runId);
  const children = (await engine.listRuns({ parentRunId: runId })).runs;
  return { run, children };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const engine = new FlowEngine();
  const { run, children } = await runChildFlowsExample(engine, {
    orderId: 'o-9',
    parcels: [
      { sku: 'a', weightKg: 1 },
      { sku: 'b', weightKg: 9 },
    ],
  });
  console.log(run.status, run.outputsJson.done, `${children.length} child runs`);
  await engine.close();
}
