/**
 * Wake-ups for sleeping workers. In-process listeners hear this process's own commits at once;
 * when the driver can LISTEN, a NOTIFY from any process (sent by the commit's own statement, so
 * only once it is committed) wakes them too. Polling remains the correctness path: a lost
 * notification only delays work until the next poll.
 */
import type { SqlExecutor } from './executor.js';

/** A notification for a run this process announced itself within this window is the echo of it: skipped. */
const ECHO_WINDOW_MS = 5_000;

export class WakeHub {
  private readonly listeners = new Set<(runId: string) => void>();
  private readonly recentLocal = new Map<string, number>();
  private stopListening: Promise<(() => Promise<void>) | null> | null = null;
  private closed = false;

  constructor(
    private readonly executor: SqlExecutor,
    private readonly channel: string,
    private readonly onListenError: (err: unknown) => void,
  ) {}

  /** Subscribe; the LISTEN connection is opened with the first subscriber and closed with the last. */
  subscribe(listener: (runId: string) => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.startListening();
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      this.listeners.delete(listener);
      if (this.listeners.size === 0) void this.stopListeningNow();
    };
  }

  /**
   * The one way the SQL store announces a wake-up it causes: sends a statement that may NOTIFY for
   * the runs it makes due, then tells this process's listeners of those it did NOTIFY for
   * (`announced`, from its result). `expected` is the run it is expected to NOTIFY for: that echo
   * on the LISTEN connection is skipped (remembered before the statement is sent, as the echo may
   * arrive before its reply), and when the statement did not NOTIFY for it after all — nothing
   * inserted, a fence that failed, an error — the expectation is dropped at once, so that it
   * cannot swallow another process's NOTIFY of that run (a lost wake-up).
   */
  async announcing<R>(expected: string | null, send: () => Promise<R>, announced: (result: R) => Iterable<string>): Promise<R> {
    if (expected !== null) this.expectLocal(expected);
    let result: R;
    try {
      result = await send();
    } catch (err) {
      if (expected !== null) this.unexpectLocal(expected);
      throw err;
    }
    const said = new Set(announced(result));
    if (expected !== null && !said.has(expected)) this.unexpectLocal(expected);
    for (const runId of said) this.emitLocal(runId);
    return result;
  }

  /**
   * This process is about to send a statement that NOTIFYs for `runId`: remember it first, so the
   * echo is skipped even when it arrives on the LISTEN connection before the statement's own reply.
   */
  private expectLocal(runId: string): void {
    if (this.listeners.size === 0 || !this.stopListening) return;
    if (this.recentLocal.size > 10_000) this.sweep();
    this.recentLocal.set(runId, Date.now() + ECHO_WINDOW_MS);
  }

  /**
   * The statement announced by `expectLocal` sent no NOTIFY after all (nothing inserted, a fence
   * that failed): forget the expectation, or it would swallow the next NOTIFY for `runId` from
   * another process, within the echo window, as if it were our own echo — a lost wake-up. If one
   * was swallowed already (it came while the statement was in flight), it was another process's:
   * pass it on now.
   */
  private unexpectLocal(runId: string): void {
    if (this.listeners.size === 0 || !this.stopListening) return;
    if (!this.recentLocal.delete(runId)) this.emit(runId);
  }

  /** This process made `runId` due: tell local listeners now. */
  private emitLocal(runId: string): void {
    if (this.listeners.size === 0) return;
    this.emit(runId);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.stopListeningNow();
  }

  private emit(runId: string): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(runId);
      } catch {
        // A listener's failure must not stop the others or the notification connection.
      }
    }
  }

  private onNotify(runId: string): void {
    const echoUntil = this.recentLocal.get(runId);
    if (echoUntil !== undefined) {
      this.recentLocal.delete(runId);
      if (echoUntil >= Date.now()) return;
    }
    this.emit(runId);
  }

  /** Resolves once notifications from other processes are being received (LISTEN is in place), or listening failed. */
  async listening(): Promise<void> {
    await this.stopListening;
  }

  private startListening(): void {
    if (this.closed || !this.executor.listen || this.stopListening) return;
    this.stopListening = this.executor
      .listen(this.channel, (payload) => this.onNotify(payload))
      .catch((err) => {
        this.onListenError(err);
        return null;
      });
  }

  private async stopListeningNow(): Promise<void> {
    const pending = this.stopListening;
    this.stopListening = null;
    this.recentLocal.clear();
    const stop = pending ? await pending : null;
    if (stop) await stop().catch(this.onListenError);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [runId, until] of this.recentLocal) if (until < now) this.recentLocal.delete(runId);
  }
}
