import { MemoryMetadataDatabase, MemoryMetadataStore } from '../../app/adapters/metadata/memory.js';
import { describeMetadataStoreContract } from './metadata-store.contract.js';

let last: MemoryMetadataDatabase | null = null;
describeMetadataStoreContract('in-process memory', async (sameDatabaseAsLast = false) => {
  if (!sameDatabaseAsLast || last === null) last = new MemoryMetadataDatabase();
  return new MemoryMetadataStore(last);
});
