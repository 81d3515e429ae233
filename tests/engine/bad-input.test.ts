/**
 * Bad input gets a clear, typed error and loses nothing: the run is either unchanged or FAILED
 * with the error recorded — never stuck, never half-written. Runs on every store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DefinitionConflictError,
  FlowDefinitionError,
  FlowEngine,
  FlowNotFoundError,
  InvalidArgumentError,
  LockBusyError,
  RunNotFoundError,
  SerializationError,
  flow,
  type FlowDefinition,
  type FlowStorage,
} from '@hazeljs/flow';
import { storeCases } from '../helpers/stores.js';

describe.each(storeCases)('bad input on $name', (store) => {
  let storage: FlowStorage;
  let cleanup: () => Promise<void>;
  let engine: FlowEngine;
  let n = 0;
  const uniq = (name: string) => `${name}-${++n}-${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    ({ storage, cleanup } = await store.make());
    engine = new FlowEngine({ storage, maxJsonBytes: 10_000 });
  });
  afterAll(async () => {
    await engine.close();
    await cleanup();
  });

  const oneNode = (id: string, handler: FlowDefinition['nodes'][string]['handler']) => flow(id, '1').entry('n').node('n', handler).build();

  async function runOf(def: FlowDefinition, input: unknown = {}) {
    await engine.registerDefinition(def);
    const { runId } = await engine.startRun({ flowId: def.flowId, version: def.version, input });
    return engine.runToCompletion(runId);
  }

  it('rejects malformed arguments with InvalidArgumentError', async () => {
    await expect(engine.startRun(undefined as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(engine.startRun({ flowId: '', version: '1', input: {} })).rejects.toThrow(/flowId must be a non-empty string/);
    await expect(engine.startRun({ flowId: 'x', version: 1 as never, input: {} })).rejects.toThrow(/version must be a non-empty string, got number/);
    await expect(engine.startRun({ flowId: 'x', version: '1', input: {}, initialState: [] as never })).rejects.toThrow(/initialState must be a plain object/);
    await expect(engine.tick(42 as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(engine.resumeRun(null as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(engine.cancelRun('x', 5 as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(engine.listRuns({ limit: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('names unknown flows and runs', async () => {
    await expect(engine.startRun({ flowId: 'nope', version: '9', input: {} })).rejects.toThrow(FlowNotFoundError);
    await expect(engine.startRun({ flowId: 'nope', version: '9', input: {} })).rejects.toThrow('nope@9');
    for (const call of [
      () => engine.tick('no-such-run'),
      () => engine.resumeRun('no-such-run', {}),
      () => engine.cancelRun('no-such-run'),
      () => engine.getTimeline('no-such-run'),
      () => engine.runToCompletion('no-such-run'),
    ]) {
      await expect(call()).rejects.toBeInstanceOf(RunNotFoundError);
    }
    expect(await engine.getRun('no-such-run')).toBeNull();
  });

  it('validates definitions at registration and refuses a changed graph under the same version', async () => {
    const broken = { flowId: uniq('broken'), version: '1', entry: 'missing', nodes: { a: { id: 'a', handler: 'nope' } }, edges: [{ from: 'a', to: 'zzz' }] };
    const err = await engine.registerDefinition(broken as never).catch((e) => e);
    expect(err).toBeInstanceOf(FlowDefinitionError);
    expect((err as FlowDefinitionError).problems.length).toBeGreaterThanOrEqual(3);
    const id = uniq('versioned');
    const v1 = flow(id, '1')
      .entry('a')
      .node('a', async () => ({ status: 'ok' }))
      .build();
    await engine.registerDefinition(v1);
    await engine.registerDefinition(
      flow(id, '1')
        .entry('a')
        .node('a', async () => ({ status: 'ok' }))
        .build(),
    ); // identical: no-op
    const changed = flow(id, '1')
      .entry('a')
      .node('a', async () => ({ status: 'ok' }))
      .node('b', async () => ({ status: 'ok' }))
      .edge('a', 'b')
      .build();
    await expect(engine.registerDefinition(changed)).rejects.toBeInstanceOf(DefinitionConflictError);
    // Another process (a fresh engine on the same store) is refused too.
    const other = new FlowEngine({ storage });
    await expect(other.registerDefinition(changed)).rejects.toBeInstanceOf(DefinitionConflictError);
  });

  it('refuses inputs and payloads JSON cannot hold, writing nothing', async () => {
    const def = oneNode(uniq('inputs'), async () => ({ status: 'wait' }));
    await engine.registerDefinition(def);
    const before = (await engine.listRuns({ flowId: def.flowId })).runs.length;
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const input of [
      { id: 10n },
      cyclic,
      { f: () => 1 },
      { x: NaN },
      { d: new Date() },
      { m: new Map() },
      { s: 'a\u0000b' },
      { big: 'x'.repeat(20_000) },
    ]) {
      await expect(engine.startRun({ flowId: def.flowId, version: '1', input })).rejects.toBeInstanceOf(SerializationError);
    }
    expect((await engine.listRuns({ flowId: def.flowId })).runs.length).toBe(before);
    const { runId } = await engine.startRun({ flowId: def.flowId, version: '1', input: {} });
    const waiting = await engine.runToCompletion(runId);
    await expect(engine.resumeRun(runId, { n: 1n })).rejects.toThrow(/BigInt.*at resume payload\.n/);
    const still = await engine.getRun(runId);
    expect(still!.status).toBe('WAITING');
    expect(still!.version).toBe(waiting.version);
  });

  it.each([
    ['BigInt output', { status: 'ok', output: { n: 1n } }, /BigInt.*output\.n/],
    ['function in patch', { status: 'ok', patch: { f: () => 1 } }, /function/],
    ['NaN output', { status: 'ok', output: NaN }, /NaN/],
    ['undefined in array', { status: 'ok', output: [1, undefined] }, /undefined/],
    ['Date in patch', { status: 'ok', patch: { at: new Date(0) } }, /Date.*toISOString/],
    ['oversized output', { status: 'ok', output: 'y'.repeat(20_000) }, /over the limit/],
  ])('fails the run at the node for a %s, naming the node', async (_label, result, message) => {
    const run = await runOf(oneNode(uniq('values'), async () => result as never));
    expect(run.status).toBe('FAILED');
    expect(run.error!.code).toBe('SERIALIZATION_ERROR');
    expect(run.error!.message).toMatch(/Node "n"/);
    expect(run.error!.message).toMatch(message);
    expect(run.outputsJson).toEqual({});
    expect(run.stateJson).toEqual({});
    const timeline = await engine.getTimeline(run.runId);
    expect(timeline.at(-1)!.type).toBe('RUN_ABORTED');
  });

  it('fails the run on a circular output', async () => {
    const out: Record<string, unknown> = {};
    out.me = out;
    const run = await runOf(oneNode(uniq('cycle'), async () => ({ status: 'ok', output: out })));
    expect(run.error).toMatchObject({ code: 'SERIALIZATION_ERROR' });
    expect(run.error!.message).toMatch(/circular/);
  });

  it.each([
    ['undefined', undefined],
    ['a string', 'ok'],
    ['an unknown status', { status: 'done' }],
    ['an error without code', { status: 'error', error: { message: 'x' } }],
    ['a non-object patch', { status: 'ok', patch: [1] }],
  ])('fails the run when a handler returns %s', async (_label, result) => {
    const run = await runOf(oneNode(uniq('shape'), async () => result as never));
    expect(run.status).toBe('FAILED');
    expect(run.error).toMatchObject({ code: 'INVALID_NODE_RESULT', retryable: false });
    expect(run.error!.message).toContain('Node "n"');
  });

  it('records a thrown non-Error value', async () => {
    const run = await runOf(
      oneNode(uniq('throws'), async () => {
        throw { weird: 'object' };
      }),
    );
    expect(run.status).toBe('FAILED');
    expect(run.error).toMatchObject({ code: 'NON_ERROR_THROWN' });
    expect(run.error!.message).toContain('{"weird":"object"}');
  });

  it('leaves a run untouched when its flow is not registered in this process', async () => {
    const def = oneNode(uniq('elsewhere'), async () => ({ status: 'ok' }));
    await engine.registerDefinition(def);
    const { runId } = await engine.startRun({ flowId: def.flowId, version: '1', input: {} });
    const stranger = new FlowEngine({ storage });
    await expect(stranger.tick(runId)).rejects.toBeInstanceOf(FlowNotFoundError);
    const run = await engine.getRun(runId);
    expect(run!.status).toBe('RUNNING');
    expect(run!.attemptInFlight).toBe(false);
    expect((await engine.runToCompletion(runId)).status).toBe('COMPLETED');
  });

  it('reports LockBusyError when another holder is advancing the run', async () => {
    const def = oneNode(uniq('busy'), async () => ({ status: 'ok' }));
    await engine.registerDefinition(def);
    const { runId } = await engine.startRun({ flowId: def.flowId, version: '1', input: {} });
    const lease = await storage.lockRun(runId);
    try {
      await expect(engine.tick(runId)).rejects.toBeInstanceOf(LockBusyError);
    } finally {
      await lease!.release();
    }
    expect((await engine.tick(runId)).status).toBe('COMPLETED');
  });
});
