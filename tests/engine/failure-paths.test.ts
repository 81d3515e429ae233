/**
 * Failure paths as part of the graph, on every store: a `catch` routes a node's failure for good
 * (a permanent error, a timeout, a failed child run, a failed map item) to another node, which
 * sees `ctx.error`; a run that fails undoes what it finished with its nodes' `compensate`
 * handlers, newest first, and ends FAILED with `compensated`; `cancelRun(id, { compensate: true })`
 * does the same and ends CANCELLED.
 */
import { describe, expect, it } from 'vitest';
import { flow, type FlowContext, type FlowDefinition, type NodeResult } from '@hazeljs/flow';
import { storeCases } from '../helpers/stores.js';
import { engineOnStore } from '../helpers/engine-on-store.js';

const ok = (output?: unknown): NodeResult => ({ status: 'ok', output });
const fail = (code: string, retryable = false): NodeResult => ({ status: 'error', error: { code, message: `${code} happened`, retryable } });

describe.each(storeCases)('failure paths on $name', (store) => {
  const t = engineOnStore(store);
  const { uniq, start } = t;

  async function run(def: FlowDefinition, input: unknown = {}) {
    const runId = await start(def, input);
    return t.engine.runToCompletion(runId);
  }

  async function types(runId: string): Promise<string[]> {
    return (await t.engine.getTimeline(runId)).map((e) => e.type);
  }

  describe('catch', () => {
    it('routes a permanent failure to the catch target, which sees ctx.error; the run completes', async () => {
      let seen: FlowContext['error'];
      const def = flow(uniq('catch'), '1')
        .entry('charge')
        .node('charge', () => fail('CARD_DECLINED'), { catch: 'declined' })
        .node('declined', (ctx) => {
          seen = ctx.error;
          return ok('told the customer');
        })
        .node('ship', () => ok())
        .edge('charge', 'ship')
        .build();
      const r = await run(def);
      expect(r.status).toBe('COMPLETED');
      expect(r.outputsJson).toMatchObject({ declined: 'told the customer' });
      expect(r.outputsJson).not.toHaveProperty('ship');
      expect(seen).toEqual({ nodeId: 'charge', code: 'CARD_DECLINED', message: 'CARD_DECLINED happened', attempt: 1 });
      const timeline = await t.engine.getTimeline(r.runId);
      const caught = timeline.find((e) => e.type === 'NODE_CAUGHT')!;
      expect(caught).toMatchObject({ nodeId: 'charge', attempt: 1, error: { code: 'CARD_DECLINED' }, payloadJson: { to: 'declined' } });
    });

    it('catches only after the retries are spent, and only the codes it lists', async () => {
      let attempts = 0;
      const def = flow(uniq('catch-codes'), '1')
        .entry('call')
        .node(
          'call',
          () => {
            attempts += 1;
            return fail('FLAKY', true);
          },
          { retry: { maxAttempts: 3, backoff: 'fixed', baseDelayMs: 1 }, catch: { to: 'fallback', codes: ['FLAKY'] } },
        )
        .node('fallback', (ctx) => ok(ctx.error?.attempt))
        .build();
      const r = await run(def);
      expect(r.status).toBe('COMPLETED');
      expect(attempts).toBe(3);
      expect(r.outputsJson.fallback).toBe(3);

      const other = flow(uniq('catch-other'), '1')
        .entry('call')
        .node('call', () => fail('FATAL'), { catch: { to: 'fallback', codes: ['FLAKY'] } })
        .node('fallback', () => ok())
        .build();
      const failed = await run(other);
      expect(failed.status).toBe('FAILED');
      expect(failed.error?.code).toBe('FATAL');
    });

    it('catches a timeout', async () => {
      const def = flow(uniq('catch-timeout'), '1')
        .entry('slow')
        .node('slow', (ctx) => new Promise<NodeResult>((resolve) => ctx.signal.addEventListener('abort', () => resolve(ok()))), {
          timeoutMs: 20,
          catch: 'late',
        })
        .node('late', (ctx) => ok(ctx.error?.code))
        .build();
      const r = await run(def);
      expect(r.status).toBe('COMPLETED');
      expect(r.outputsJson.late).toBe('TIMEOUT');
    });

    it("catches a child run's failure", async () => {
      const child = flow(uniq('child'), '1')
        .entry('x')
        .node('x', () => fail('OUT_OF_STOCK'))
        .build();
      await t.engine.registerDefinition(child);
      const def = flow(uniq('catch-child'), '1')
        .entry('ship')
        .node('ship', (): NodeResult => ({ status: 'child', flowId: child.flowId, version: '1' }), { catch: 'backorder' })
        .node('backorder', (ctx) => ok(ctx.error?.code))
        .build();
      const r = await run(def);
      expect(r.status).toBe('COMPLETED');
      expect(r.outputsJson.backorder).toBe('CHILD_FAILED');
    });

    it("catches a map item's failure: the other items stop and the branch goes on at the target", async () => {
      const def = flow(uniq('catch-map'), '1')
        .entry('each')
        .node('each', (ctx) => (ctx.item === 3 ? fail('BAD_ITEM') : ok(ctx.item)), { forEach: () => [1, 2, 3, 4], concurrency: 1, catch: 'partial' })
        .node('partial', (ctx) => ok({ code: ctx.error?.code }))
        .build();
      const r = await run(def);
      expect(r.status).toBe('COMPLETED');
      expect(r.outputsJson.partial).toEqual({ code: 'BAD_ITEM' });
      expect(r.outputsJson).not.toHaveProperty('each');
    });

    it('a catch into a join waits like any edge into it', async () => {
      const def = flow(uniq('catch-join'), '1')
        .entry('fork')
        .node('fork', () => ok(), { split: 'all' })
        .node('a', () => fail('A_FAILED'), { catch: 'join' })
        .node('b', () => ok('b'))
        .node('join', (ctx) => ok(Object.keys(ctx.outputs).sort()), { join: 'all' })
        .edge('fork', 'a')
        .edge('fork', 'b')
        .edge('a', 'join')
        .edge('b', 'join')
        .build();
      const r = await run(def);
      expect(r.status).toBe('COMPLETED');
      expect(r.outputsJson.join).toEqual(['b']);
      // Both branches were gathered: the caught one arrived like the other.
      const joined = (await t.engine.getTimeline(r.runId)).find((e) => e.type === 'JOIN_COMPLETED');
      expect((joined?.payloadJson as { joined: string[] }).joined).toHaveLength(2);
    });

    it('refuses a catch to an unknown node or to the node itself', () => {
      expect(() =>
        flow('bad-catch', '1')
          .entry('a')
          .node('a', () => ok(), { catch: 'nowhere' })
          .build(),
      ).toThrow(/catch target "nowhere" is not a node of this flow/);
      expect(() =>
        flow('bad-catch', '1')
          .entry('a')
          .node('a', () => ok(), { catch: 'a' })
          .build(),
      ).toThrow(/catch target is the node itself/);
      expect(() =>
        flow('bad-catch', '1')
          .entry('a')
          .node('a', () => ok(), { catch: { to: 'a', codes: [] } as never })
          .build(),
      ).toThrow(/catch.codes must be a non-empty array/);
    });
  });

  describe('compensation', () => {
    it('a failed run undoes its finished nodes newest first and ends FAILED, compensated', async () => {
      const undone: string[] = [];
      const undo = (name: string) => (ctx: FlowContext) => {
        undone.push(`${name}:${ctx.error?.code}`);
        return ok();
      };
      const def = flow(uniq('saga'), '1')
        .entry('reserve')
        .node('reserve', () => ok('r1'), { compensate: undo('reserve') })
        .node('charge', () => ok('c1'), { compensate: undo('charge') })
        .node('note', () => ok()) // nothing to undo
        .node('ship', () => fail('NO_COURIER'))
        .edge('reserve', 'charge')
        .edge('charge', 'note')
        .edge('note', 'ship')
        .build();
      const r = await run(def);
      expect(r).toMatchObject({ status: 'FAILED', compensated: true, error: { code: 'NO_COURIER' } });
      expect(undone).toEqual(['charge:NO_COURIER', 'reserve:NO_COURIER']);
      const timeline = await types(r.runId);
      expect(timeline.filter((x) => x.startsWith('COMPENSATION') || x === 'NODE_COMPENSATED' || x === 'RUN_COMPENSATING')).toEqual([
        'RUN_COMPENSATING',
        'COMPENSATION_STARTED',
        'NODE_COMPENSATED',
        'COMPENSATION_STARTED',
        'NODE_COMPENSATED',
      ]);
      expect(timeline.at(-1)).toBe('RUN_ABORTED');
    });

    it('a compensation is retried under the node policy; one that fails for good leaves compensated false and the rest still run', async () => {
      let refundTries = 0;
      const undone: string[] = [];
      const def = flow(uniq('saga-fail'), '1')
        .entry('reserve')
        .node('reserve', () => ok(), { compensate: () => (undone.push('reserve'), ok()) })
        .node('charge', () => ok(), {
          retry: { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 1 },
          compensate: () => {
            refundTries += 1;
            return fail('REFUND_DOWN', true);
          },
        })
        .node('ship', () => fail('NO_COURIER'))
        .edge('reserve', 'charge')
        .edge('charge', 'ship')
        .build();
      const r = await run(def);
      expect(r).toMatchObject({ status: 'FAILED', compensated: false });
      expect(refundTries).toBe(2);
      expect(undone).toEqual(['reserve']);
      const failed = (await t.engine.getTimeline(r.runId)).filter((e) => e.type === 'COMPENSATION_FAILED');
      expect(failed.map((e) => e.payloadJson)).toEqual([{ final: false, retryInMs: 1 }, { final: true }]);
    });

    it("undoes a map's finished items one by one, each seeing its item", async () => {
      const undone: unknown[] = [];
      const def = flow(uniq('saga-map'), '1')
        .entry('each')
        .node('each', (ctx) => (ctx.item === 'c' ? fail('BAD') : ok(`did ${String(ctx.item)}`)), {
          forEach: () => ['a', 'b', 'c'],
          concurrency: 1,
          compensate: (ctx) => {
            undone.push([ctx.itemIndex, ctx.item]);
            return ok();
          },
        })
        .build();
      const r = await run(def);
      expect(r).toMatchObject({ status: 'FAILED', compensated: true });
      expect(undone).toEqual([
        [1, 'b'],
        [0, 'a'],
      ]);
    });

    it("a child run's compensations run when its node is undone", async () => {
      const undone: string[] = [];
      const child = flow(uniq('pack'), '1')
        .entry('pick')
        .node('pick', () => ok(), { compensate: (ctx) => (undone.push(`pick(${ctx.runId === undefined ? '?' : 'child'})`), ok()) })
        .node('box', () => ok(), { compensate: () => (undone.push('box'), ok()) })
        .edge('pick', 'box')
        .build();
      await t.engine.registerDefinition(child);
      const def = flow(uniq('saga-child'), '1')
        .entry('charge')
        .node('charge', () => ok(), { compensate: () => (undone.push('refund'), ok()) })
        .node('pack', (): NodeResult => ({ status: 'child', flowId: child.flowId, version: '1' }))
        .node('ship', () => fail('NO_COURIER'))
        .edge('charge', 'pack')
        .edge('pack', 'ship')
        .build();
      const r = await run(def);
      expect(r).toMatchObject({ status: 'FAILED', compensated: true });
      expect(undone).toEqual(['box', 'pick(child)', 'refund']);
    });

    it("a child run's compensations run under another holder than the one that reached them (tick by tick)", async () => {
      const undone: string[] = [];
      const child = flow(uniq('pack-tick'), '1')
        .entry('pick')
        .node('pick', () => ok(), { compensate: () => (undone.push('unpick'), ok()) })
        .node('box', () => ok(), {
          retry: { maxAttempts: 2, backoff: 'fixed', baseDelayMs: 50 },
          // Fails once: the retry is begun by the next tick, a holder that did not expand the child's steps.
          compensate: () => (undone.push('unbox') === 1 ? fail('BUSY', true) : ok()),
        })
        .edge('pick', 'box')
        .build();
      await t.engine.registerDefinition(child);
      const def = flow(uniq('saga-child-tick'), '1')
        .entry('pack')
        .node('pack', (): NodeResult => ({ status: 'child', flowId: child.flowId, version: '1' }))
        .node('ship', () => fail('NO_COURIER'))
        .edge('pack', 'ship')
        .build();
      const runId = await start(def);
      // runToCompletion drives the child, then each tick is a new holder of the parent.
      let r = await t.engine.runToCompletion(runId, { maxWaitMs: 0 });
      for (let i = 0; i < 20 && (r.status === 'RUNNING' || r.status === 'WAITING'); i++) r = await t.engine.tick(runId);
      expect(r).toMatchObject({ status: 'FAILED', compensated: true });
      expect(undone).toEqual(['unbox', 'unbox', 'unpick']);
    });

    it('cancelRun with compensate undoes what finished and ends CANCELLED', async () => {
      const undone: string[] = [];
      const def = flow(uniq('saga-cancel'), '1')
        .entry('charge')
        .node('charge', () => ok(), { compensate: () => (undone.push('refund'), ok()) })
        .node('approve', (): NodeResult => ({ status: 'wait', reason: 'manager approval' }))
        .edge('charge', 'approve')
        .build();
      const runId = await start(def);
      const waiting = await t.engine.runToCompletion(runId);
      expect(waiting.status).toBe('WAITING');
      const r = await t.engine.cancelRun(runId, { compensate: true, reason: 'customer changed their mind' });
      expect(r).toMatchObject({ status: 'CANCELLED', compensated: true, error: { code: 'CANCELLED', message: 'customer changed their mind' } });
      expect(undone).toEqual(['refund']);
      expect((await types(runId)).at(-1)).toBe('RUN_CANCELLED');
    });

    it('a flow without compensations fails as before (compensated null)', async () => {
      const def = flow(uniq('plain'), '1')
        .entry('a')
        .node('a', () => fail('X'))
        .build();
      const r = await run(def);
      expect(r).toMatchObject({ status: 'FAILED', compensated: null, compensation: null });
    });
  });
});
