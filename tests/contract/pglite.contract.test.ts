import { createPGliteStorage } from '../../src/storage/pglite.js';
import { createTemplatedPGliteStorage } from '../helpers/pglite-template.js';
import { describeStorageContract } from './storage-contract.js';

describeStorageContract('pglite (in memory, migrated by init)', async () => {
  const storage = createPGliteStorage({ schema: 'flow_contract' });
  return { storage, cleanup: () => storage.close() };
});

describeStorageContract('pglite (from a migrated template)', async () => {
  const storage = await createTemplatedPGliteStorage();
  return { storage, cleanup: () => storage.close() };
});
