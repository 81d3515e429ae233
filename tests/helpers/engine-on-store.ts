/**
 * One engine on a fresh store for a `describe` block of engine behaviour tests: made before the
 * block's tests, closed (with its store) after them. `start` registers a definition and starts a
 * run of it; `uniq` makes flow ids that never collide within the store.
 */
import { afterAll, beforeAll } from 'vitest';
import { FlowEngine, type FlowDefinition, type FlowEngineOptions, type FlowStorage } from '@hazeljs/flow';
import type { StoreCase } from './stores.js';

export interface EngineOnStore {
  readonly engine: FlowEngine;
  readonly storage: FlowStorage;
  uniq(name: string): string;
  start(def: FlowDefinition, input?: unknown, extra?: { tenantId?: string; idempotencyKey?: string; initialState?: Record<string, unknown> }): Promise<string>;
}

export function engineOnStore(store: StoreCase, options: Omit<FlowEngineOptions, 'storage'> = {}): EngineOnStore {
  let engine: FlowEngine | undefined;
  let storage: FlowStorage | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  let seq = 0;
  beforeAll(async () => {
    ({ storage, cleanup } = await store.make());
    engine = new FlowEngine({ ...options, storage });
  });
  afterAll(async () => {
    await engine?.close();
    await cleanup?.();
  });
  const handle: EngineOnStore = {
    get engine() {
      return engine!;
    },
    get storage() {
      return storage!;
    },
    uniq: (name) => `${name}-${++seq}-${Math.random().toString(36).slice(2, 8)}`,
    async start(def, input = {}, extra = {}) {
      await handle.engine.registerDefinition(def);
      const { runId } = await handle.engine.startRun({ flowId: def.flowId, version: def.version, input, ...extra });
      return runId;
    },
  };
  return handle;
}
