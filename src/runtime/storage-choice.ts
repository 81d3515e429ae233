/**
 * Which store the runtime uses, in order: an explicit `storage`; Postgres when `databaseUrl` or
 * DATABASE_URL is set; else the embedded PGlite store under `dataDir` (default ./.flow-data), so
 * `npm start` keeps runs across restarts with no database server to install.
 */
import { resolve } from 'node:path';
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

export const DEFAULT_DATA_DIR = '.flow-data';

export function chooseStorage(options: StorageChoiceOptions = {}): FlowStorage {
  if (options.storage) return options.storage;
  const url = options.databaseUrl || process.env.DATABASE_URL;
  if (url) return createPostgresStorage({ connectionString: url });
  return createPGliteStorage({ dataDir: resolve(options.dataDir ?? (process.env.FLOW_DATA_DIR || DEFAULT_DATA_DIR)) });
}

/** Where the store points, for messages: the Postgres target (no password) or the PGlite folder. */
export function describeStorage(storage: FlowStorage): string {
  const target = (storage as { executor?: { target?: unknown } }).executor?.target;
  return typeof target === 'string' ? `${storage.kind} (${target})` : storage.kind;
}
