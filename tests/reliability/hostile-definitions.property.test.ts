/**
 * Property: a generated definition (hand-written object: trap node ids such as '__proto__' and
 * 'constructor', unicode and long ids, options and edges valid or broken) is either refused at
 * registration with a typed FlowError, storing nothing, or registers and runs exactly the path
 * the edge rules predict — on memory, PGlite and Postgres alike.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowDefinitionError, FlowError, SerializationError, type FlowEngine } from '@hazeljs/flow';
import { recordOf } from './helpers/hostile-arbitraries.js';
import { buildDefinition, definitionPlan, expectedPath, isValidPlan, type DefinitionPlan } from './helpers/definition-plan.js';
import { expectRunIntact, openStoreMatrix, storeIndependentView, type StoreMatrix } from './helpers/store-matrix.js';

const runs = (n: number) => Math.max(1, Math.round(n * Number(process.env.FLOW_PROP_RUNS_SCALE ?? 1)));
const seed = process.env.FLOW_PROP_SEED === undefined ? undefined : Number(process.env.FLOW_PROP_SEED);

let matrix: StoreMatrix;
let cases = 0;

beforeAll(async () => {
  matrix = await openStoreMatrix('flow_prop_defs');
});
afterAll(async () => {
  await matrix?.close();
});

type Outcome = { registered: false; error: unknown } | { registered: true; view: ReturnType<typeof storeIndependentView> };

async function executeDefinition(engine: FlowEngine, plan: DefinitionPlan, caseId: string, store: string): Promise<Outcome> {
  const def = buildDefinition(plan, caseId);
  try {
    await engine.registerDefinition(def);
  } catch (error) {
    expect(error, `${store}: refusal is typed`).toBeInstanceOf(FlowError);
    expect(
      [FlowDefinitionError, SerializationError].some((c) => error instanceof c),
      `${store}: ${String(error)}`,
    ).toBe(true);
    expect(
      (await engine.listFlows()).some((f) => f.flowId === def.flowId),
      `${store}: a refused definition is not stored`,
    ).toBe(false);
    return { registered: false, error };
  }
  const { runId } = await engine.startRun({ flowId: def.flowId, version: def.version, input: { caseId } });
  await engine.runToCompletion(runId);
  const { run, timeline } = await expectRunIntact(engine, runId);
  const expected = expectedPath(plan);
  const where = `${store}: path ${JSON.stringify(expected.path)}`;
  expect(run.status, `${where} (error ${JSON.stringify(run.error)})`).toBe(expected.status);
  expect(run.stateJson, where).toEqual({ path: expected.path, seen: recordOf(expected.path.map((id) => [id, true])) });
  // Each node ran once, and saw its own attempt count as 1 whatever its id ('constructor' included).
  expect(run.outputsJson, where).toEqual(recordOf(expected.path.map((id) => [id, { id, attempts: 1 }])));
  expect(run.error?.code, where).toBe(expected.errorCode);
  if (expected.errorCode) expect(run.currentNodeId, where).toBe(expected.path[expected.path.length - 1]);
  return { registered: true, view: storeIndependentView(run, timeline) };
}

describe('hostile definitions through the public API', () => {
  it('each is refused with a typed error, or registers and runs the predicted path; the stores agree', { timeout: 300_000 }, async () => {
    if (matrix.postgresSkipped) console.warn(`[reliability] ${matrix.postgresSkipped}`);
    await fc.assert(
      fc.asyncProperty(definitionPlan, async (plan) => {
        const caseId = `d${++cases}`;
        const valid = isValidPlan(plan);
        const outcomes: Array<{ name: string; outcome: Outcome }> = [];
        for (const { name, engine } of matrix.engines) {
          const outcome = await executeDefinition(engine, plan, caseId, name);
          expect(
            outcome.registered,
            `${name}: ${valid ? 'a valid definition must register' : 'an invalid definition must be refused'}${outcome.registered ? '' : `: ${String(outcome.error)}`}`,
          ).toBe(valid);
          outcomes.push({ name, outcome });
        }
        const [first, ...others] = outcomes;
        for (const { name, outcome } of others) {
          const view = (o: Outcome) => (o.registered ? o.view : String(o.error));
          expect(view(outcome), `${name} vs ${first!.name}`).toEqual(view(first!.outcome));
        }
      }),
      { numRuns: runs(100), seed },
    );
  });
});
