/**
 * Property: whatever values a caller or a handler hands the engine — inputs, initial state,
 * outputs, patches, resume payloads, error results, thrown values, idempotency keys, full of
 * BigInt, Date, Map, Set, undefined, NaN, ±Infinity, -0, U+0000, lone surrogates, '__proto__'
 * keys, deep nesting and huge strings — each is either stored and read back exactly as a JSON
 * round trip gives, or refused with a typed FlowError naming the node; no run is left stuck or
 * half-written; and memory, PGlite and Postgres agree on every case.
 *
 * Reproduce a failure with FLOW_PROP_SEED=<seed> (printed by fast-check); FLOW_PROP_RUNS scales the runs.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowError, type FlowEngine, type FlowRun } from '@hazeljs/flow';
import { expectRunIntact, openStoreMatrix, storeIndependentView, type StoreMatrix } from './helpers/store-matrix.js';
import { buildCaseFlow, casePlan, type CasePlan } from './helpers/value-plan.js';
import { expectedOutcome, type ExpectedOutcome } from './helpers/value-model.js';

const runs = (n: number) => Math.max(1, Math.round(n * Number(process.env.FLOW_PROP_RUNS_SCALE ?? 1)));
const seed = process.env.FLOW_PROP_SEED === undefined ? undefined : Number(process.env.FLOW_PROP_SEED);
/** Codes whose message must name the node (the engine made the error, not the handler). */
const ENGINE_CODES = new Set(['SERIALIZATION_ERROR', 'INVALID_NODE_RESULT', 'INVALID_IDEMPOTENCY_KEY']);

type Observed =
  { start: 'refused'; error: unknown } | { start: 'created'; run: FlowRun; view: ReturnType<typeof storeIndependentView>; refusedResumes: number };

let matrix: StoreMatrix;
let cases = 0;

beforeAll(async () => {
  matrix = await openStoreMatrix('flow_prop_values');
});
afterAll(async () => {
  await matrix?.close();
});

/** Starts the case's run, drives it to rest, sends WAIT nodes their payloads in order; checks it is intact. */
async function executeCase(engine: FlowEngine, plan: CasePlan, caseId: string): Promise<Observed> {
  const def = buildCaseFlow(`values-${caseId}`, plan, caseId);
  await engine.registerDefinition(def);
  let runId: string;
  try {
    ({ runId } = await engine.startRun({ flowId: def.flowId, version: '1', input: plan.input, initialState: plan.initialState as never }));
  } catch (error) {
    // Refused: nothing may have been written.
    expect((await engine.listRuns({ flowId: def.flowId })).runs).toEqual([]);
    return { start: 'refused', error };
  }
  const sent = new Map<string, number>();
  let refusedResumes = 0;
  for (;;) {
    const run = await engine.runToCompletion(runId);
    const node = run.status === 'WAITING' ? plan.nodes[Number(run.currentNodeId!.slice(1))] : undefined;
    if (node?.kind !== 'wait') break;
    const next = sent.get(run.currentNodeId!) ?? 0;
    if (next >= node.payloads.length) break;
    sent.set(run.currentNodeId!, next + 1);
    try {
      await engine.resumeRun(runId, node.payloads[next]);
    } catch (error) {
      expect(error, 'a refused resume is a typed SerializationError').toHaveProperty('code', 'SERIALIZATION_ERROR');
      const after = (await engine.getRun(runId))!;
      expect([after.status, after.version, after.lastSeq], 'a refused resume writes nothing').toEqual([run.status, run.version, run.lastSeq]);
      refusedResumes += 1;
    }
  }
  const { run, timeline } = await expectRunIntact(engine, runId);
  return { start: 'created', run, view: storeIndependentView(run, timeline), refusedResumes };
}

function expectMatchesModel(observed: Observed, expected: ExpectedOutcome, store: string): void {
  if (expected.start === 'refused') {
    expect(observed.start, `${store}: the start must be refused`).toBe('refused');
    const error = (observed as { error: unknown }).error;
    expect(error, store).toBeInstanceOf(FlowError);
    expect((error as Error).constructor.name, store).toBe(expected.errorName);
    return;
  }
  if (observed.start === 'refused') throw new Error(`${store}: start refused unexpectedly: ${String(observed.error)}`);
  const { run } = observed;
  expect(run.status, `${store}: status (error: ${JSON.stringify(run.error)})`).toBe(expected.status);
  expect(run.stateJson, `${store}: state`).toEqual(expected.state);
  expect(run.outputsJson, `${store}: outputs`).toEqual(expected.outputs);
  expect(observed.refusedResumes, `${store}: refused resumes`).toBe(expected.refusedResumes);
  if (expected.error) {
    expect(run.error?.code, `${store}: error code (${run.error?.message})`).toBe(expected.error.code);
    expect(run.currentNodeId, `${store}: failed at`).toBe(expected.error.nodeId);
    if (ENGINE_CODES.has(expected.error.code)) expect(run.error!.message, store).toContain(`Node "${expected.error.nodeId}"`);
    if (expected.error.message !== undefined) expect(run.error!.message, store).toBe(expected.error.message);
  } else {
    expect(run.error, store).toBeNull();
  }
}

describe('hostile values through the public API', () => {
  it('memory: every case is stored exactly or refused with a typed error naming the node', { timeout: 180_000 }, async () => {
    const memory = matrix.engines.find((e) => e.name === 'memory')!.engine;
    await fc.assert(
      fc.asyncProperty(casePlan, async (plan) => {
        const caseId = `m${++cases}`;
        expectMatchesModel(await executeCase(memory, plan, caseId), expectedOutcome(plan, caseId), 'memory');
      }),
      { numRuns: runs(300), seed },
    );
  });

  it('memory, PGlite and Postgres agree with the model and with each other on every case', { timeout: 300_000 }, async () => {
    if (matrix.postgresSkipped) console.warn(`[reliability] ${matrix.postgresSkipped}`);
    await fc.assert(
      fc.asyncProperty(casePlan, async (plan) => {
        const caseId = `x${++cases}`;
        const expected = expectedOutcome(plan, caseId);
        const observed: Array<{ name: string; result: Observed }> = [];
        for (const { name, engine } of matrix.engines) {
          const result = await executeCase(engine, plan, caseId);
          expectMatchesModel(result, expected, name);
          observed.push({ name, result });
        }
        const [first, ...others] = observed;
        for (const other of others) {
          if (first!.result.start === 'created') {
            expect((other.result as { view: unknown }).view, `${other.name} vs ${first!.name}`).toEqual(first!.result.view);
          } else {
            expect(String((other.result as { error: unknown }).error), `${other.name} vs ${first!.name}`).toBe(String(first!.result.error));
          }
        }
      }),
      { numRuns: runs(60), seed },
    );
  });
});
