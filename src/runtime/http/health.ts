/**
 * What /health says of the store. A liveness check must answer promptly even when the store is
 * busy: behind a long queue of reads (an embedded PGlite serves one statement at a time) a probe
 * waits its turn, and a /health that waited with it would say nothing for seconds. So:
 * - one probe at a time (the cheapest read there is: a run id no run has), shared by every
 *   /health that arrives while it is out, so that health checks never queue up on the store;
 * - a /health waits for it at most `busyAfterMs`; then it answers at once that the store is
 *   `busy` (alive, but behind on its work);
 * - a probe still unanswered `timeoutMs` after it was sent, or one that failed, means `down`;
 * - on an embedded store (PGlite: in this process, one statement at a time), a probe that answered
 *   less than `freshMs` ago still stands: a /health meanwhile answers `up` without queueing behind
 *   the store's work at all. Such a store has no connection or server to lose — it fails with the
 *   process — so a second-old answer says as much as a new one.
 */
import { FlowError } from '../../errors.js';
import type { FlowStorage } from '../../storage/types.js';

/** A run id no run has: reading it is the cheapest question the store can answer. */
const PROBE_RUN_ID = '00000000-0000-0000-0000-000000000000';

export type StoreHealth = { status: 'up' } | { status: 'busy' } | { status: 'down'; code: string; cause: unknown };

type Outcome = { code: string; cause: unknown } | null;

export class StoreProbe {
  private pending: { sentAt: number; outcome: Promise<Outcome> } | null = null;
  /** How the last probe that ended (or timed out) ended: null when the store answered. */
  private lastFailure: Outcome = null;
  /** When the last probe was answered (ms since the epoch; 0: never). */
  private answeredAt = 0;

  constructor(
    private readonly storage: FlowStorage,
    private readonly timeoutMs: number,
    private readonly busyAfterMs: number,
    /** How long an answer stands (0: every check sends or shares a probe). */
    private readonly freshMs = 0,
  ) {}

  async check(): Promise<StoreHealth> {
    if (this.lastFailure === null && this.answeredAt > 0 && Date.now() - this.answeredAt < this.freshMs) return { status: 'up' };
    if (this.pending && Date.now() >= this.pending.sentAt + this.timeoutMs) this.timedOut(this.pending);
    const probe = (this.pending ??= this.send());
    const deadline = probe.sentAt + this.timeoutMs;
    const outcome = await withinMs(probe.outcome, Math.max(1, Math.min(this.busyAfterMs, deadline - Date.now())));
    if (outcome !== TIMED_OUT) return outcome === null ? { status: 'up' } : { status: 'down', ...outcome };
    if (Date.now() >= deadline) this.timedOut(probe);
    // Not answered yet: busy, unless the store was down when last heard of (then it still is).
    return this.lastFailure ? { status: 'down', ...this.lastFailure } : { status: 'busy' };
  }

  /** A probe past its deadline: the store counts as down, and the next check sends a new probe. */
  private timedOut(probe: { sentAt: number }): void {
    if (this.pending === probe) this.pending = null;
    this.lastFailure = { code: 'STORAGE_TIMEOUT', cause: new FlowError('STORAGE_TIMEOUT', `The store did not answer within ${this.timeoutMs} ms`, {}) };
  }

  private send(): { sentAt: number; outcome: Promise<Outcome> } {
    const outcome = this.storage.getRun(PROBE_RUN_ID).then(
      (): Outcome => null,
      (err: unknown): Outcome => ({ code: err instanceof FlowError ? err.code : 'STORAGE_ERROR', cause: err }),
    );
    const probe = { sentAt: Date.now(), outcome };
    // Answered or failed: that is the store's state now, and the next check sends a new probe.
    void outcome.then((result) => {
      if (this.pending === probe) this.pending = null;
      this.lastFailure = result;
      if (result === null) this.answeredAt = Date.now();
    });
    return probe;
  }
}

const TIMED_OUT = Symbol('timed out');

async function withinMs<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
