/**
 * The store matrix for behaviour tests: every engine-level test runs against each store, so the
 * same semantics are proven on memory, embedded PGlite and real Postgres.
 */
import type { FlowStorage } from '../../src/storage/types.js';
import { createMemoryStorage } from '../../src/storage/memory.js';

export interface StoreCase {
  name: string;
  /** A fresh, isolated store and a cleanup that removes what it created. */
  make(): Promise<{ storage: FlowStorage; cleanup(): Promise<void> }>;
}

export const storeCases: StoreCase[] = [
  { name: 'memory', make: async () => ({ storage: createMemoryStorage(), cleanup: async () => {} }) },
];
