/**
 * Which store a `new FlowEngine()` uses: an explicit `storage` always wins; else Postgres when a
 * connection string is given or `DATABASE_URL` is set (the seed's promise); else memory, which
 * is not durable and says so in `storage.durable`.
 */
import { environment } from '../config.js';
import type { Clock } from '../core/clock.js';
import { MemoryStorage } from './memory.js';
import { createPostgresStorage } from './postgres.js';
import type { FlowStorage } from './types.js';

export function resolveStorage(storage: FlowStorage | undefined, databaseUrl: string | undefined, clock: Clock | undefined): FlowStorage {
  if (storage) {
    // A clock given to the engine also governs a memory store's due times.
    if (clock && storage instanceof MemoryStorage) storage.useClock(clock);
    return storage;
  }
  const url = databaseUrl ?? environment.databaseUrl;
  if (url) return createPostgresStorage({ connectionString: url });
  return new MemoryStorage({ clock });
}
