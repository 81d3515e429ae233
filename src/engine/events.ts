/**
 * Lifecycle hooks for observability (metrics, logs, tracing). They fire after the change they
 * describe is committed, in this process only; they are notifications, not the record — the
 * timeline is. A listener that throws is reported on 'error' listeners and never affects the run.
 */
import type { FlowEventType, FlowRunRecord, NewEvent } from '../storage/types.js';

export interface FlowHookPayload {
  run: FlowRunRecord;
  /** The timeline event behind the hook (absent for hooks raised outside a commit). */
  event?: NewEvent;
}

export interface FlowHookMap {
  'run:started': FlowHookPayload;
  'node:started': FlowHookPayload;
  'node:finished': FlowHookPayload;
  'node:failed': FlowHookPayload;
  'node:interrupted': FlowHookPayload;
  'node:retry-scheduled': FlowHookPayload;
  'run:waiting': FlowHookPayload;
  'run:resumed': FlowHookPayload;
  'run:completed': FlowHookPayload;
  'run:failed': FlowHookPayload;
  'run:cancelled': FlowHookPayload;
  /** A node's failure for good was taken by its `catch` (NODE_CAUGHT). */
  'node:caught': FlowHookPayload;
  /** The run begins undoing what it finished (RUN_COMPENSATING). */
  'run:compensating': FlowHookPayload;
  /** One node's (or item's) compensation succeeded (NODE_COMPENSATED). */
  'node:compensated': FlowHookPayload;
  /** An attempt of a compensation failed (COMPENSATION_FAILED; `payload.final` when it will not be retried). */
  'node:compensation-failed': FlowHookPayload;
  /** A hook listener threw. */
  error: { hook: string; error: unknown };
}

export type FlowHookName = keyof FlowHookMap;

const HOOK_OF_EVENT: Partial<Record<FlowEventType, FlowHookName>> = {
  NODE_STARTED: 'node:started',
  NODE_FINISHED: 'node:finished',
  NODE_FAILED: 'node:failed',
  NODE_INTERRUPTED: 'node:interrupted',
  NODE_RETRY_SCHEDULED: 'node:retry-scheduled',
  RUN_WAITING: 'run:waiting',
  RUN_RESUMED: 'run:resumed',
  RUN_COMPLETED: 'run:completed',
  RUN_ABORTED: 'run:failed',
  RUN_CANCELLED: 'run:cancelled',
  NODE_CAUGHT: 'node:caught',
  RUN_COMPENSATING: 'run:compensating',
  NODE_COMPENSATED: 'node:compensated',
  COMPENSATION_FAILED: 'node:compensation-failed',
};

/** A listener may be async: its rejection is reported on 'error' like a throw. */
type Listener<K extends FlowHookName> = (payload: FlowHookMap[K]) => unknown;

export class FlowEvents {
  private readonly listeners = new Map<FlowHookName, Set<Listener<never>>>();

  on<K extends FlowHookName>(hook: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(hook);
    if (!set) this.listeners.set(hook, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(hook, listener);
  }

  off<K extends FlowHookName>(hook: K, listener: Listener<K>): void {
    this.listeners.get(hook)?.delete(listener as Listener<never>);
  }

  protected emit<K extends FlowHookName>(hook: K, payload: FlowHookMap[K]): void {
    const set = this.listeners.get(hook);
    if (!set || set.size === 0) return;
    const report = (error: unknown) => {
      if (hook !== 'error') this.emit('error', { hook, error });
    };
    for (const listener of set) {
      try {
        const returned: unknown = (listener as Listener<K>)(payload);
        // An async listener's rejection is reported like a throw, never left unhandled (it would end the process).
        if (returned instanceof Promise) returned.catch(report);
      } catch (error) {
        report(error);
      }
    }
  }

  /** @internal the run machinery's: a run was started (a child run, by a node). */
  runStarted(run: FlowRunRecord): void {
    this.emit('run:started', { run });
  }

  /** @internal the run machinery's: maps the events of one commit to hooks. Cheap when nobody listens (the hot path). */
  committed(run: FlowRunRecord, events: NewEvent[]): void {
    if (this.listeners.size === 0) return;
    for (const event of events) {
      const hook = HOOK_OF_EVENT[event.type];
      if (hook) this.emit(hook, { run, event });
    }
  }
}
