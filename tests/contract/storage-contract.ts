/**
 * The storage contract suite: what every FlowStorage must do, run unchanged against memory,
 * PGlite, Postgres (pg) and Postgres through Prisma. A store passes only if it behaves exactly
 * like the others here.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StaleRunError, InvalidArgumentError } from '../../src/errors.js';
import type { FlowStorage } from '../../src/storage/types.js';
import { branchesContract } from './branches-contract.js';
import { cascadeContract } from './cascade-contract.js';
import { failureHandlerContract } from './failure-handler-contract.js';
import { compensationContract } from './compensation-contract.js';
import { inboxContract } from './inbox-contract.js';
import { lockOptionsContract } from './lock-options-contract.js';
import { flowControlContract } from './flow-control-contract.js';
import { outcomeContract } from './outcome-contract.js';
import { operationsContract } from './operations-contract.js';
import { transactionsContract } from './transactions-contract.js';
import { pruneContract } from './prune-contract.js';
import { schedulesContract } from './schedules-contract.js';
import { timelinePagingContract } from './timeline-paging-contract.js';
import { versionsContract } from './versions-contract.js';
import { asRead, branch, expectReadNow, j, newRun, step, waitFor } from './contract-helpers.js';

export interface StoreHandle {
  storage: FlowStorage;
  /** A second, independent handle on the same data (another pool / client), where the store has one. */
  second?: () => Promise<FlowStorage>;
  cleanup: () => Promise<void>;
}

export function describeStorageContract(name: string, makeStore: () => Promise<StoreHandle>): void {
  describe(`storage contract: ${name}`, () => {
    let handle: StoreHandle;
    let s: FlowStorage;
    beforeAll(async () => {
      handle = await makeStore();
      s = handle.storage;
      await s.init();
    });
    afterAll(async () => {
      await handle?.cleanup();
    });
    lockOptionsContract(() => handle);
    branchesContract(() => handle);
    inboxContract(() => handle);
    pruneContract(() => handle);
    cascadeContract(() => handle);
    schedulesContract(() => handle);
    failureHandlerContract(() => handle);
    compensationContract(() => handle);
    outcomeContract(() => handle);
    timelinePagingContract(() => handle);
    versionsContract(() => handle);
    operationsContract(() => handle);
    flowControlContract(() => handle);
    transactionsContract(() => handle);

    it('creates a run and reads it back with JSON values parsed', async () => {
      const input = { a: [1, 'two', { three: true }], u: 'ünïcødé ✓', n: null, big: 1e21, neg: -0.5 };
      const { run, created } = await s.createRun(newRun({ input: j(input), state: j({ s: { deep: [1] } }), tenantId: 't1' }));
      expect(created).toBe(true);
      expect(run.status).toBe('RUNNING');
      expect(run.inputJson).toEqual(input);
      expect(run.stateJson).toEqual({ s: { deep: [1] } });
      expect(run.outputsJson).toEqual({});
      expect(run.attemptsJson).toEqual({});
      expect(run.tenantId).toBe('t1');
      expect(run.currentNodeId).toBe('a');
      expect(run.version).toBeGreaterThanOrEqual(1);
      expect(run.lastSeq).toBe(1);
      expect(run.attempt).toBe(0);
      expect(run.attemptInFlight).toBe(false);
      expect(run.nextAttemptAt).toBeNull();
      expect(run.dueInMs).toBe(0);
      expect(run.createdAt).toBeInstanceOf(Date);
      expect(run.branches).toEqual([branch('a')]);
      expectReadNow(run);
      const again = await s.getRun(run.runId);
      expect(again).toEqual(asRead(run));
      expectReadNow(again);
      const events = await s.getEvents(run.runId);
      expect(events.map((e) => [e.seq, e.type, e.nodeId, e.branchId, e.itemIndex])).toEqual([[1, 'RUN_STARTED', 'a', null, null]]);
    });

    it('returns null for unknown runs and empty timelines', async () => {
      expect(await s.getRun(randomUUID())).toBeNull();
      expect(await s.getEvents(randomUUID())).toEqual([]);
      expect(await s.getIdempotencyRecord('nope-' + randomUUID())).toBeNull();
    });

    it('returns the existing run for a repeated idempotency key', async () => {
      const key = 'start-' + randomUUID();
      const first = await s.createRun(newRun({ idempotencyKey: key }));
      const second = await s.createRun(newRun({ idempotencyKey: key, input: j({ other: true }) }));
      expect(second.created).toBe(false);
      expect(second.run.runId).toBe(first.run.runId);
      expect(second.run.inputJson).toEqual({ n: 1 });
      expect(await s.getEvents(first.run.runId)).toHaveLength(1);
    });

    it('commits a transition atomically: row, events in order, idempotency record', async () => {
      const { run } = await s.createRun(newRun());
      const lease = (await s.lockRun(run.runId))!;
      expect(lease.run).toEqual(asRead(run));
      expectReadNow(lease.run);
      const key = 'idem-' + randomUUID();
      const next = await lease.commit(
        step(
          run,
          { currentNodeId: 'b', state: j({ x: 1 }), branches: j([branch('b')]), attempts: j({ a: 1 }), attempt: 0 },
          {
            values: [{ nodeId: 'a', kind: 'output', value: j('out') }],
            events: [
              { type: 'NODE_FINISHED', nodeId: 'a', attempt: 1, durationMs: 12, payload: j({ next: 'b' }) },
              { type: 'NODE_STARTED', nodeId: 'b', attempt: 1 },
            ],
            idempotency: { key, runId: run.runId, nodeId: 'a', result: j({ output: 'out', patch: { x: 1 } }) },
            release: true,
          },
        ),
      );
      expect(next.version).toBe(run.version + 1);
      expect(next.lastSeq).toBe(3);
      expect(next.currentNodeId).toBe('b');
      expect(next.stateJson).toEqual({ x: 1 });
      expect(next.outputsJson).toEqual({ a: 'out' });
      expect(next.branches).toEqual([branch('b')]);
      expect(next.attemptsJson).toEqual({ a: 1 });
      expectReadNow(next);
      expect(await s.getRun(run.runId)).toEqual(asRead(next));
      const events = await s.getEvents(run.runId);
      expect(events.map((e) => [e.seq, e.type, e.nodeId, e.attempt, e.durationMs])).toEqual([
        [1, 'RUN_STARTED', 'a', null, null],
        [2, 'NODE_FINISHED', 'a', 1, 12],
        [3, 'NODE_STARTED', 'b', 1, null],
      ]);
      expect(events[1]!.payloadJson).toEqual({ next: 'b' });
      expect(events[1]!.at).toBeInstanceOf(Date);
      const idem = await s.getIdempotencyRecord(key);
      expect(idem).toMatchObject({ key, runId: run.runId, nodeId: 'a', result: { output: 'out', patch: { x: 1 } } });
      // The lease was released by the commit: the run can be locked again.
      const again = await s.lockRun(run.runId);
      expect(again).not.toBeNull();
      await again!.release();
    });

    it('keeps the first idempotency record under a key', async () => {
      const key = 'first-wins-' + randomUUID();
      for (const output of ['first', 'second']) {
        const { run } = await s.createRun(newRun());
        const lease = (await s.lockRun(run.runId))!;
        await lease.commit(step(run, {}, { idempotency: { key, runId: run.runId, nodeId: 'a', result: j({ output }) }, release: true }));
      }
      expect((await s.getIdempotencyRecord(key))!.result).toEqual({ output: 'first' });
    });

    it('rejects a stale commit and writes nothing', async () => {
      const { run } = await s.createRun(newRun());
      const lease = (await s.lockRun(run.runId))!;
      await lease.commit(step(run, { currentNodeId: 'b' }, { events: [{ type: 'NODE_FINISHED', nodeId: 'a' }] }));
      const stale = step(run, { currentNodeId: 'zzz', state: j({ bad: true }) }, { events: [{ type: 'NODE_FINISHED', nodeId: 'zzz' }] });
      await expect(lease.commit(stale)).rejects.toBeInstanceOf(StaleRunError);
      const after = await s.getRun(run.runId);
      expect(after!.currentNodeId).toBe('b');
      expect(after!.stateJson).toEqual({});
      expect((await s.getEvents(run.runId)).map((e) => e.seq)).toEqual([1, 2]);
      await lease.release();
    });

    it('gives the run lock to one holder at a time', async () => {
      const { run } = await s.createRun(newRun());
      const first = await s.lockRun(run.runId);
      expect(first).not.toBeNull();
      expect(await s.lockRun(run.runId)).toBeNull();
      if (handle.second) {
        const other = await handle.second();
        expect(await other.lockRun(run.runId)).toBeNull();
        await first!.release();
        const taken = await other.lockRun(run.runId);
        expect(taken).not.toBeNull();
        expect(await s.lockRun(run.runId)).toBeNull();
        await taken!.release();
      } else {
        await first!.release();
      }
      await first!.release(); // releasing twice is harmless
      const again = await s.lockRun(run.runId);
      expect(again).not.toBeNull();
      await again!.release();
    });

    it('schedules due times with the store clock', async () => {
      const { run } = await s.createRun(newRun());
      const lease = (await s.lockRun(run.runId))!;
      const later = await lease.commit(step(run, { nextAttemptAt: { delayMs: 60_000 } }));
      expect(later.dueInMs).toBeGreaterThan(55_000);
      expect(later.dueInMs).toBeLessThanOrEqual(60_000);
      expect(later.nextAttemptAt).toBeInstanceOf(Date);
      expect(await s.findDueRuns({ limit: 1000 })).not.toContain(run.runId);
      const soon = await s.msUntilNextDue(['contract-flow@1']);
      expect(soon).not.toBeNull();
      const due = await lease.commit(step(later, { nextAttemptAt: { at: new Date(Date.now() - 1000) } }, { release: true }));
      expect(due.dueInMs).toBe(0);
      expect(await s.findDueRuns({ limit: 1000 })).toContain(run.runId);
      expect(await s.findDueRuns({ limit: 1000, flowKeys: ['other@1'] })).not.toContain(run.runId);
    });

    it('finds due WAITING timers but not manual waits', async () => {
      const timer = (await s.createRun(newRun())).run;
      const manual = (await s.createRun(newRun())).run;
      const l1 = (await s.lockRun(timer.runId))!;
      await l1.commit(step(timer, { status: 'WAITING', waitReason: 'timer', nextAttemptAt: { at: new Date(Date.now() - 10) } }, { release: true }));
      const l2 = (await s.lockRun(manual.runId))!;
      const waiting = await l2.commit(step(manual, { status: 'WAITING', waitReason: 'approval', nextAttemptAt: null }, { release: true }));
      expect(waiting.waitReason).toBe('approval');
      const due = await s.findDueRuns({ limit: 1000 });
      expect(due).toContain(timer.runId);
      expect(due).not.toContain(manual.runId);
    });

    it('cancels without the lock and fences out the holder', async () => {
      const { run } = await s.createRun(newRun());
      const lease = (await s.lockRun(run.runId))!;
      const cancelled = await s.cancelRun(run.runId, [{ type: 'RUN_CANCELLED', payload: j({ reason: 'test' }) }], { code: 'CANCELLED', message: 'test' });
      expect(cancelled!.status).toBe('CANCELLED');
      expect(cancelled!.error).toEqual({ code: 'CANCELLED', message: 'test' });
      expect(cancelled!).toMatchObject({ branches: [], currentNodeId: run.currentNodeId }); // no live branch; the node says where it stopped
      expectReadNow(cancelled);
      await expect(lease.commit(step(run, { currentNodeId: 'b' }))).rejects.toBeInstanceOf(StaleRunError);
      await lease.release();
      // Cancelling a finished run changes nothing.
      const again = await s.cancelRun(run.runId, [{ type: 'RUN_CANCELLED' }], { code: 'CANCELLED', message: 'again' });
      expect(again!.version).toBe(cancelled!.version);
      expect((await s.getEvents(run.runId)).map((e) => e.type)).toEqual(['RUN_STARTED', 'RUN_CANCELLED']);
      expect(await s.cancelRun(randomUUID(), [], { code: 'CANCELLED', message: 'x' })).toBeNull();
      expect(await s.findDueRuns({ limit: 1000 })).not.toContain(run.runId);
    });

    it('lists runs newest first with filters and a cursor', async () => {
      const tenant = 'tenant-' + randomUUID();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push((await s.createRun(newRun({ tenantId: tenant, flowId: i % 2 ? 'odd' : 'even' }))).run.runId);
        await new Promise((r) => setTimeout(r, 3));
      }
      const all = await s.listRuns({ tenantId: tenant });
      expect(all.runs.map((r) => r.runId)).toEqual([...ids].reverse());
      expect(all.nextCursor).toBeNull();
      for (const r of all.runs) {
        expect(r).toEqual(asRead((await s.getRun(r.runId))!));
        expectReadNow(r);
      }
      const page1 = await s.listRuns({ tenantId: tenant, limit: 2 });
      const page2 = await s.listRuns({ tenantId: tenant, limit: 2, cursor: page1.nextCursor! });
      const page3 = await s.listRuns({ tenantId: tenant, limit: 2, cursor: page2.nextCursor! });
      expect([...page1.runs, ...page2.runs, ...page3.runs].map((r) => r.runId)).toEqual([...ids].reverse());
      expect(page3.nextCursor).toBeNull();
      const odd = await s.listRuns({ tenantId: tenant, flowId: 'odd' });
      expect(odd.runs.map((r) => r.runId).sort()).toEqual([ids[1], ids[3]].sort());
      const none = await s.listRuns({ tenantId: tenant, status: ['COMPLETED', 'FAILED'] });
      expect(none.runs).toEqual([]);
      await expect(s.listRuns({ status: 'BOGUS' as never })).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(s.listRuns({ limit: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(s.listRuns({ cursor: 'garbage' })).rejects.toBeInstanceOf(InvalidArgumentError);
    });

    it('treats ids and filters as data, never SQL', async () => {
      const evil = "x'; DROP TABLE flow_runs; --";
      const { run } = await s.createRun(newRun({ tenantId: evil, flowId: evil }));
      expect((await s.listRuns({ tenantId: evil })).runs.map((r) => r.runId)).toEqual([run.runId]);
      expect(await s.getRun(evil)).toBeNull();
      expect(await s.getRun(run.runId)).not.toBeNull();
    });

    it('stores definitions once per flowId@version', async () => {
      const flowId = 'def-' + randomUUID();
      const a = await s.saveDefinition({ flowId, version: '1', fingerprint: 'f1', graph: j({ nodes: ['a'] }) });
      expect(a).toMatchObject({ flowId, version: '1', fingerprint: 'f1', graph: { nodes: ['a'] } });
      const b = await s.saveDefinition({ flowId, version: '1', fingerprint: 'f2', graph: j({ nodes: ['b'] }) });
      expect(b.fingerprint).toBe('f1');
      await s.saveDefinition({ flowId, version: '2', fingerprint: 'f2', graph: j({}) });
      const mine = (await s.listDefinitions()).filter((d) => d.flowId === flowId);
      expect(mine.map((d) => d.version).sort()).toEqual(['1', '2']);
    });

    it('wakes listeners when a run is created or a transition asks to', async () => {
      const woken: string[] = [];
      const off = s.onWake((id) => woken.push(id));
      try {
        const { run } = await s.createRun(newRun());
        await waitFor(() => woken.includes(run.runId));
        woken.length = 0;
        const lease = (await s.lockRun(run.runId))!;
        await lease.commit(step(run, {}, { wake: true, release: true }));
        await waitFor(() => woken.includes(run.runId));
      } finally {
        off();
      }
    });

    it('serializes concurrent commits through the fence: exactly one wins', async () => {
      const { run } = await s.createRun(newRun());
      const lease = (await s.lockRun(run.runId))!;
      const results = await Promise.allSettled(
        [1, 2, 3].map((i) => lease.commit(step(run, { currentNodeId: `n${i}` }, { events: [{ type: 'NODE_FINISHED', nodeId: `n${i}` }] }))),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof StaleRunError)).toHaveLength(2);
      expect((await s.getEvents(run.runId)).map((e) => e.seq)).toEqual([1, 2]);
      await lease.release();
    });
  });
}
