/**
 * Loading flows from modules: the example flows for `npm start`, and the `--flows <module>` of
 * the CLI's `serve` and `worker`. A module contributes every exported flow definition (objects
 * built with `flow(...).build()` or `buildFlowDefinition(Class)`), including arrays of them.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import type { FlowDefinition } from '../definitions/types.js';
import { flowKey } from '../definitions/flow-key.js';
import { FlowError } from '../errors.js';
import { demoFlows } from './demo-flows.js';

export function isFlowDefinition(value: unknown): value is FlowDefinition {
  const v = value as Partial<FlowDefinition> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.flowId === 'string' &&
    typeof v.version === 'string' &&
    typeof v.entry === 'string' &&
    typeof v.nodes === 'object' &&
    v.nodes !== null &&
    Array.isArray(v.edges)
  );
}

/** Every flow definition exported by a module namespace (deduplicated by flowId@version). */
export function collectFlowDefinitions(namespace: Record<string, unknown>): FlowDefinition[] {
  const found = new Map<string, FlowDefinition>();
  const visit = (value: unknown) => {
    if (isFlowDefinition(value)) found.set(flowKey(value.flowId, value.version), value);
    else if (Array.isArray(value)) value.forEach(visit);
  };
  Object.values(namespace).forEach(visit);
  return [...found.values()];
}

export async function loadFlowsFromModule(path: string): Promise<FlowDefinition[]> {
  const absolute = resolve(path);
  if (!existsSync(absolute)) throw new FlowError('INVALID_ARGUMENT', `Flows module not found: ${absolute}`);
  const flows = collectFlowDefinitions((await import(pathToFileURL(absolute).href)) as Record<string, unknown>);
  if (flows.length === 0) {
    throw new FlowError('INVALID_ARGUMENT', `${absolute} exports no flow definitions (export the result of flow(...).build() or buildFlowDefinition(Class))`);
  }
  return flows;
}

/** The repository's example flows, in the order the README presents them. */
export const EXAMPLE_MODULES = [
  'linear',
  'branching',
  'wait-resume',
  'retries-timeouts',
  'parallel',
  'map',
  'child-flows',
  'events',
  'order-saga',
  'schedules',
];

/**
 * The flows `npm start` runs: the examples/ of this repository when they exist, else the demo
 * flows bundled with the runtime (an installed package has no examples/ folder). An example
 * module that exports only factories (no ready definition) is skipped and named in `skipped`.
 */
export async function loadExampleFlows(): Promise<{ flows: FlowDefinition[]; source: string; skipped: string[] }> {
  const dir = fileURLToPath(new URL('../../examples/', import.meta.url));
  const files = EXAMPLE_MODULES.map((name) => resolve(dir, `${name}.ts`)).filter((file) => existsSync(file));
  if (files.length === 0) return { flows: demoFlows, source: 'built-in demo flows', skipped: [] };
  const flows: FlowDefinition[] = [];
  const skipped: string[] = [];
  for (const file of files) {
    const found = collectFlowDefinitions((await import(pathToFileURL(file).href)) as Record<string, unknown>);
    if (found.length === 0) skipped.push(file);
    flows.push(...found);
  }
  return { flows, source: `examples/ (${files.length - skipped.length} modules)`, skipped };
}
