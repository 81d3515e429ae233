import { createMemoryStorage } from '../../src/storage/memory.js';
import { describeStorageContract } from './storage-contract.js';

describeStorageContract('memory', async () => ({ storage: createMemoryStorage(), cleanup: async () => {} }));
