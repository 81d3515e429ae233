/**
 * Which store an engine or the runtime uses when it is not handed one: the one rule, for
 * `new FlowEngine()`, `runFlowRuntime`, `npm start` and the CLI alike (README, "Which store by
 * default"). In order:
 * 1. an explicit `storage`;
 * 2. Postgres at `databaseUrl`, else DATABASE_URL;
 * 3. PGlite in `dataDir`, else FLOW_DATA_DIR, else `defaultDataDir`;
 * 4. memory, which is not durable and says so in `storage.durable`.
 * The runtime passes `defaultDataDir` (./.flow-data): a service keeps its runs across restarts
 * with no server to install. The library passes none: given nothing, it writes no files it was
 * not asked to, and each test gets a fresh store.
 */
import { resolve } from 'node:path';
import { environment } from '../config.js';
import type { Clock } from '../core/clock.js';
import { MemoryStorage } from './memory.js';
import { createPGliteStorage } from './pglite.js';
import { createPostgresStorage } from './postgres.js';
import type { FlowStorage } from './types.js';

export interface StorageChoiceOptions {
  storage?: FlowStorage;
  /** Postgres connection string (default: DATABASE_URL; empty counts as unset). */
  databaseUrl?: string;
  /** PGlite data folder, relative to the working directory (default: FLOW_DATA_DIR; empty counts as unset). */
  dataDir?: string;
  /** The PGlite folder when neither `dataDir` nor FLOW_DATA_DIR is given; without one, memory. */
  defaultDataDir?: string;
  /** The memory store's clock (a `ManualClock` in tests), also applied to a given memory store. */
  clock?: Clock;
}

export function chooseStorage(options: StorageChoiceOptions = {}): FlowStorage {
  if (options.storage) {
    // A clock given to the engine also governs a memory store's due times.
    if (options.clock && options.storage instanceof MemoryStorage) options.storage.useClock(options.clock);
    return options.storage;
  }
  const url = options.databaseUrl || environment.databaseUrl;
  if (url) return createPostgresStorage({ connectionString: url });
  const dataDir = options.dataDir || environment.dataDir || options.defaultDataDir;
  if (dataDir) return createPGliteStorage({ dataDir: resolve(dataDir) });
  return new MemoryStorage({ clock: options.clock });
}

/** Where the store points, for messages: the Postgres target (no password) or the PGlite folder. */
export function describeStorage(storage: FlowStorage): string {
  const target = (storage as { executor?: { target?: unknown } }).executor?.target;
  return typeof target === 'string' ? `${storage.kind} (${target})` : storage.kind;
}
