import { MemoryBlobStore } from '../../app/adapters/blob/memory.js';
import { describeBlobStoreContract } from './blob-store.contract.js';

describeBlobStoreContract('in-process memory', async () => new MemoryBlobStore());
