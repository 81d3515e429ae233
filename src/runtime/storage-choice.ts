/**
 * Which store the runtime uses, in order: an explicit `storage`; Postgres when `databaseUrl` or
 * DATABASE_URL is set; else the embedded PGlite store under `dataDir` (default: see config.ts), so
 * `npm start` keeps runs across restarts with no database server to install.
 */
import { resolve } from 'node:path';
import { environment } from '../config.js';
import { createPGliteStorage } from '../storage/pglite.js';
import { createPostgresStorage } from '../storage/postgres.js';
import type { FlowStorage } from '../storage/types.js';

export interface StorageChoiceOptions {
  storage?: FlowStorage;
  /** Postgres connection string (default: DATABASE_URL). */
  databaseUrl?: string;
  /** PGlite data folder (default: FLOW_DATA_DIR, else `./.flow-data`, relative to the working directory). */
  dataDir?: string;
}

export function chooseStorage(options: StorageChoiceOptions = {}): FlowStorage {
  if (options.storage) return options.storage;
  const url = options.databaseUrl || environment.databaseUrl;
  if (url) return createPostgresStorage({ connectionString: url });
  return createPGliteStorage({ dataDir: resolve(options.dataDir ?? environment.dataDir) });
}

/** Where the store points, for messages: the Postgres target (no password) or the PGlite folder. */
export function describeStorage(storage: FlowStorage): string {
  const target = (storage as { executor?: { target?: unknown } }).executor?.target;
  return typeof target === 'string' ? `${storage.kind} (${target})` : storage.kind;
}
