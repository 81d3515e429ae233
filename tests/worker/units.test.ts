/**
 * The worker's small parts on their own: the claimer's candidate list and parallel locks, and the
 * wake gate's "never lose a notification" rule.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { FlowStorage, LockRunOptions, RunLease } from '../../src/storage/types.js';
import { DueRunClaimer } from '../../src/worker/claimer.js';
import { zeroCounters } from '../../src/worker/counters.js';
import { WakeGate } from '../../src/worker/wake-gate.js';

function fakeStorage(due: string[], busy: Set<string> = new Set()) {
  const calls = { looks: 0, locks: [] as string[], released: [] as string[], options: [] as unknown[] };
  const storage = {
    findDueRuns: async ({ limit }: { limit: number }) => (calls.looks++, due.slice(0, limit)),
    lockRun: async (runId: string, options?: LockRunOptions): Promise<RunLease | null> => {
      calls.locks.push(runId);
      calls.options.push(options);
      if (busy.has(runId)) return null;
      return { runId, run: null, commit: async () => null as never, reload: async () => null, release: async () => void calls.released.push(runId) };
    },
  } as unknown as FlowStorage;
  return { storage, calls };
}

describe('DueRunClaimer', () => {
  it('keeps the extra candidates of a look and refills slots from them with one lock each', async () => {
    const { storage, calls } = fakeStorage(['a', 'b', 'c', 'd', 'e']);
    const counters = zeroCounters();
    const claimer = new DueRunClaimer(storage, 3, counters);
    const first = await claimer.claim(2, ['f@1'], new Map(), () => false);
    expect(first).toMatchObject({ looked: true, due: 5, more: true });
    expect(first.leases.map((l) => l.runId)).toEqual(['a', 'b']);
    const second = await claimer.claim(
      1,
      ['f@1'],
      new Map([
        ['a', 0],
        ['b', 0],
      ]),
      () => false,
    );
    expect(second).toMatchObject({ looked: false, more: true });
    expect(second.leases.map((l) => l.runId)).toEqual(['c']);
    expect(calls.looks).toBe(1);
    expect(counters.polls).toBe(1);
  });

  it('skips runs it holds, counts lock misses, and lets go of everything when stopping', async () => {
    const { storage, calls } = fakeStorage(['mine', 'busy', 'free'], new Set(['busy']));
    const counters = zeroCounters();
    const claimer = new DueRunClaimer(storage, 0, counters);
    const pass = await claimer.claim(3, ['f@1'], new Map([['mine', 0]]), () => false);
    expect(pass.leases.map((l) => l.runId)).toEqual(['free']);
    expect(calls.locks).toEqual(['busy', 'free']);
    expect(counters.lockMisses).toBe(1);
    const stopping = await new DueRunClaimer(storage, 0, zeroCounters()).claim(3, ['f@1'], new Map(), () => true);
    expect(stopping.leases).toEqual([]);
    expect(calls.released).toEqual(['mine', 'free']);
  });

  it('tries announced runs first, without a look, locking only runs still due', async () => {
    const { storage, calls } = fakeStorage(['x']);
    const claimer = new DueRunClaimer(storage, 0, zeroCounters());
    claimer.hint('woken');
    claimer.hint('mine');
    const pass = await claimer.claim(3, ['f@1'], new Map([['mine', 0]]), () => false);
    expect(calls.looks).toBe(0);
    expect(calls.locks).toEqual(['woken']);
    expect(calls.options).toEqual([{ onlyIfDue: true }]);
    expect(pass).toMatchObject({ looked: true, due: 0, more: false });
    expect(pass.leases.map((l) => l.runId)).toEqual(['woken']);
    // No announcement left: the next pass looks.
    await claimer.claim(3, ['f@1'], new Map(), () => false);
    expect(calls.looks).toBe(1);
  });

  it('still looks at least every second under a steady stream of announcements (timers are not starved)', async () => {
    const { storage, calls } = fakeStorage(['timer-due']);
    const claimer = new DueRunClaimer(storage, 0, zeroCounters());
    claimer.hint('woken-1');
    await claimer.claim(1, ['f@1'], new Map(), () => false);
    expect(calls.looks).toBe(0);
    (claimer as unknown as { lookedAt: number }).lookedAt -= 1_000;
    claimer.hint('woken-2');
    const pass = await claimer.claim(1, ['f@1'], new Map(), () => false);
    expect(calls.looks).toBe(1);
    expect(pass.leases.map((l) => l.runId)).toEqual(['timer-due']);
    // The announcement is still there for the next pass.
    expect((await claimer.claim(1, ['f@1'], new Map(), () => false)).leases.map((l) => l.runId)).toEqual(['woken-2']);
  });

  it('looks again once its candidates are too old to trust', async () => {
    const { storage, calls } = fakeStorage(['a', 'b', 'c']);
    const claimer = new DueRunClaimer(storage, 5, zeroCounters(), 0);
    await claimer.claim(1, ['f@1'], new Map(), () => false);
    await new Promise((r) => setTimeout(r, 2));
    await claimer.claim(1, ['f@1'], new Map(), () => false);
    expect(calls.looks).toBe(2);
  });
});

describe('WakeGate', () => {
  it('remembers a notification that arrives while nobody sleeps', async () => {
    const gate = new WakeGate();
    gate.notify();
    expect(await gate.wait(60_000)).toBe('notified');
    const sleeping = gate.wait(60_000);
    gate.notify();
    expect(await sleeping).toBe('notified');
  });

  it('ends at the real-time deadline, or earlier at a due time on the injected clock', async () => {
    const gate = new WakeGate();
    expect(await gate.wait(5)).toBe('deadline');
    const clock = new ManualClock(0, false);
    const sleeping = gate.wait(60_000, { ms: 1_000, clock });
    clock.advance(1_000);
    expect(await sleeping).toBe('deadline');
  });

  it('a stale deadline never ends a later sleep; close ends every sleep', async () => {
    const gate = new WakeGate();
    const clock = new ManualClock(0, false);
    const first = gate.wait(60_000, { ms: 10, clock });
    gate.notify();
    expect(await first).toBe('notified');
    const second = gate.wait(60_000);
    clock.advance(10); // the first sleep's due time passes: it must not end the second
    gate.close();
    expect(await second).toBe('closed');
    expect(await gate.wait(60_000)).toBe('closed');
  });
});
