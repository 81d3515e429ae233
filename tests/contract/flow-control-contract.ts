/**
 * Contract of flow control (docs/flow-control.md): concurrency limits per key (executing and
 * active scope), rate limits, priority and delayed starts in the claim, debounced starts — the
 * same on every store. Store-level cases drive `lockRun`/`findDueRuns` as a worker does; the
 * engine cases run real flows on the store with a worker.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { FlowEngine } from '../../src/flow-engine.js';
import { flow } from '../../src/definitions/builder.js';
import { FlowControlKeyError, FlowDefinitionError, InvalidArgumentError } from '../../src/errors.js';
import type { FlowControlRecord } from '../../src/definitions/types.js';
import { j, newRun, step } from './contract-helpers.js';
import type { StoreHandle } from './storage-contract.js';

/** Resolves once `cond()` holds (checked every 20 ms), or fails after `timeoutMs`. */
async function eventually(cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The worker's log, silenced (the shared store holds other tests' runs it would warn about). */
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

const control = (c: Partial<FlowControlRecord>): FlowControlRecord => ({ concurrency: [], rateLimit: null, debounce: null, ...c });

export function flowControlContract(handle: () => StoreHandle): void {
  const store = () => handle().storage;

  it('flow control: an executing-scope limit holds per key, and a key at its limit never holds back another key', async () => {
    const s = store();
    const flowId = 'fc-exec-' + randomUUID();
    const keys = [`${flowId}@1`];
    const make = async (key: string) =>
      (await s.createRun(newRun({ flowId, flowControl: control({ concurrency: [{ limit: 2, key, scope: 'executing' }] }) }))).run;
    const a1 = await make('a');
    const a2 = await make('a');
    const a3 = await make('a');
    const b1 = await make('b');
    expect((await s.getRun(a1.runId))!.flowControl).toEqual(control({ concurrency: [{ limit: 2, key: 'a', scope: 'executing' }] }));
    const l1 = (await s.lockRun(a1.runId, { onlyIfDue: true }))!;
    const l2 = (await s.lockRun(a2.runId, { onlyIfDue: true }))!;
    expect(l1).not.toBeNull();
    expect(l2).not.toBeNull();
    // Key a is at its limit: its third run is refused and left out of the look; key b is not held back.
    expect(await s.lockRun(a3.runId, { onlyIfDue: true })).toBeNull();
    expect(await s.findDueRuns({ limit: 10, flowKeys: keys })).toEqual([b1.runId]);
    const lb = (await s.lockRun(b1.runId, { onlyIfDue: true }))!;
    expect(lb).not.toBeNull();
    await lb.release();
    // A slot frees when its holder lets go: the run held back goes.
    await l1.release();
    expect(await s.findDueRuns({ limit: 10, flowKeys: keys })).toContain(a3.runId);
    const l3 = (await s.lockRun(a3.runId, { onlyIfDue: true }))!;
    expect(l3).not.toBeNull();
    await Promise.all([l2.release(), l3.release()]);
  });

  it('flow control: an active-scope slot is held from the first claim until the run finishes, waits included', async () => {
    const s = store();
    const flowId = 'fc-active-' + randomUUID();
    const keys = [`${flowId}@1`];
    const make = async () => (await s.createRun(newRun({ flowId, flowControl: control({ concurrency: [{ limit: 1, key: 'c1', scope: 'active' }] }) }))).run;
    const first = await make();
    const second = await make();
    const lease = (await s.lockRun(first.runId, { onlyIfDue: true }))!;
    expect(lease).not.toBeNull();
    // The first run waits (lets go of its lock): it still holds its slot.
    const waiting = await lease.commit(step(first, { status: 'WAITING', waitReason: 'approval', nextAttemptAt: { delayMs: 60_000 } }, { release: true }));
    expect(await s.lockRun(second.runId, { onlyIfDue: true })).toBeNull();
    expect(await s.findDueRuns({ limit: 10, flowKeys: keys })).toEqual([]);
    // It finishes: the slot is free.
    const again = (await s.lockRun(first.runId))!;
    await again.commit(step(waiting, { status: 'COMPLETED', currentNodeId: null, branches: j([]), nextAttemptAt: null }, { release: true }));
    expect(await s.findDueRuns({ limit: 10, flowKeys: keys })).toEqual([second.runId]);
    const next = (await s.lockRun(second.runId, { onlyIfDue: true }))!;
    expect(next).not.toBeNull();
    await next.release();
  });

  it('flow control: a rate limit lets `limit` runs begin per period and holds the next until its window opens', async () => {
    const s = store();
    const flowId = 'fc-rate-' + randomUUID();
    const keys = [`${flowId}@1`];
    const make = async () => (await s.createRun(newRun({ flowId, flowControl: control({ rateLimit: { limit: 2, periodMs: 60_000, key: 'k' } }) }))).run;
    const runs = [await make(), await make(), await make()];
    for (const run of runs.slice(0, 2)) {
      const lease = (await s.lockRun(run.runId, { onlyIfDue: true }))!;
      expect(lease).not.toBeNull();
      expect(lease.run!.flowControl!.rateLimit!.admittedAt).toEqual(expect.any(String));
      await lease.release();
    }
    // A run let through once is not charged again.
    const relock = (await s.lockRun(runs[0]!.runId, { onlyIfDue: true }))!;
    expect(relock).not.toBeNull();
    await relock.release();
    expect(await s.lockRun(runs[2]!.runId, { onlyIfDue: true })).toBeNull();
    const held = (await s.getRun(runs[2]!.runId))!;
    // GCRA: 2 per minute is one every 30 s, a burst of 2: the third may begin 30 s later.
    expect(held.dueInMs).toBeGreaterThan(25_000);
    expect(held.dueInMs).toBeLessThanOrEqual(30_000);
    // The dashboard tells a rate limit's window from a later start by it (ISO, as every store writes times).
    expect(held.flowControl!.rateLimit!.heldUntil).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Math.abs(Date.parse(held.flowControl!.rateLimit!.heldUntil!) - held.nextAttemptAt!.getTime())).toBeLessThanOrEqual(1);
    expect(await s.findDueRuns({ limit: 10, flowKeys: keys })).not.toContain(runs[2]!.runId);
  });

  it('flow control: claim order is priority, then how long a run has been due; a delayed start is not due before its time', async () => {
    const s = store();
    const flowId = 'fc-order-' + randomUUID();
    const keys = [`${flowId}@1`];
    const low = (await s.createRun(newRun({ flowId }))).run;
    const high = (await s.createRun(newRun({ flowId, priority: 5 }))).run;
    const later = (await s.createRun(newRun({ flowId, priority: 9, startAt: { delayMs: 60_000 } }))).run;
    await new Promise((r) => setTimeout(r, 5)); // due-since times are kept to the millisecond
    const lowAgain = (await s.createRun(newRun({ flowId }))).run;
    expect(high.priority).toBe(5);
    expect((await s.getRun(later.runId))!.dueInMs).toBeGreaterThan(55_000);
    expect(await s.findDueRuns({ limit: 10, flowKeys: keys })).toEqual([high.runId, low.runId, lowAgain.runId]);
    expect(await s.lockRun(later.runId, { onlyIfDue: true })).toBeNull();
  });

  it('flow control through the engine: limits reached but never exceeded, debounce, typed errors and nothing created', async () => {
    const s = store();
    const engine = new FlowEngine({ storage: s });
    const id = 'fc-engine-' + randomUUID();
    let running = 0;
    const peak = new Map<string, number>();
    const now = new Map<string, number>();
    const limited = flow<{ customer: string }>(id, '1', { concurrency: [{ limit: 2, key: (input) => input.customer }, { limit: 3 }] })
      .entry('work')
      .node('work', async (ctx) => {
        const key = ctx.input.customer;
        now.set(key, (now.get(key) ?? 0) + 1);
        running += 1;
        peak.set(key, Math.max(peak.get(key) ?? 0, now.get(key)!));
        peak.set('*', Math.max(peak.get('*') ?? 0, running));
        await new Promise((r) => setTimeout(r, 60));
        now.set(key, now.get(key)! - 1);
        running -= 1;
        return { status: 'ok', output: key };
      })
      .build();
    const debounced = flow<{ n: number; key: string }>(id + '-d', '1', { debounce: { delayMs: 150, key: (input) => input.key } })
      .entry('go')
      .node('go', async (ctx) => ({ status: 'ok', output: ctx.input.n }))
      .build();
    await engine.registerDefinition(limited);
    await engine.registerDefinition(debounced);
    // Bad options and keys: typed errors, nothing created.
    expect(() =>
      flow('bad', '1', { concurrency: { limit: 0 } })
        .entry('a')
        .node('a', async () => ({ status: 'ok' }))
        .build(),
    ).toThrow(FlowDefinitionError);
    expect(() =>
      flow('bad', '1', { rateLimit: { limit: 1, periodMs: 0 } })
        .entry('a')
        .node('a', async () => ({ status: 'ok' }))
        .build(),
    ).toThrow(FlowDefinitionError);
    await expect(engine.startRun({ flow: limited, input: { customer: 42 as unknown as string } })).rejects.toBeInstanceOf(FlowControlKeyError);
    await expect(engine.startRun({ flow: limited, input: { customer: 'x' }, priority: 1.5 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(engine.startRun({ flow: limited, input: { customer: 'x' }, delayMs: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect((await s.listRuns({ flowId: id })).runs).toEqual([]);

    const first = await engine.startRun({ flow: debounced, input: { n: 1, key: 'k' } });
    const second = await engine.startRun({ flow: debounced, input: { n: 2, key: 'k' } });
    expect(second).toEqual({ runId: first.runId, status: 'RUNNING', created: false });
    expect((await engine.getRun(first.runId))!.flowControl?.debounce).toEqual({ key: 'k', delayMs: 150, maxWaitMs: null });

    const started: Array<{ runId: string }> = [];
    for (const customer of ['a', 'a', 'a', 'a', 'b', 'b']) started.push(await engine.startRun({ flow: limited, input: { customer } }));
    // A later start: its first begin says for how long it was held back, and by what.
    const delayed = await engine.startRun({ flow: limited, input: { customer: 'z' }, delayMs: 1000 });
    started.push(delayed);
    // 3: Prisma's contract client has a pool of 4, and each run held there pins a connection.
    const worker = engine.startWorker({ concurrency: 3, pollIntervalMs: 20, logger: quiet });
    try {
      await eventually(async () => {
        const runs = await Promise.all([...started, first].map((r) => engine.getRun(r.runId)));
        return runs.every((r) => r?.status === 'COMPLETED');
      }, 15_000);
    } finally {
      await worker.stop();
    }
    expect(peak.get('a')).toBe(2);
    expect(peak.get('b')).toBeLessThanOrEqual(2);
    expect(peak.get('*')).toBeLessThanOrEqual(3);
    expect(peak.get('*')).toBe(3);
    expect((await engine.getRun(first.runId))!.outputsJson).toEqual({ go: 2 });
    const firstBegin = (await engine.getTimeline(delayed.runId)).find((e) => e.type === 'NODE_STARTED')!;
    const note = (firstBegin.payloadJson as { heldBack: { ms: number; because: string[] } }).heldBack;
    expect(note.ms).toBeGreaterThanOrEqual(1000);
    expect(note.because).toEqual([
      'concurrency limit 2 (executing) for key "z"',
      'concurrency limit 3 (executing) for key ""',
      expect.stringMatching(/^not due before /),
    ]);
    expect((await s.listRuns({ flowId: id + '-d' })).runs).toHaveLength(1);
  });
}
