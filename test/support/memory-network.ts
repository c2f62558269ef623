/** The in-process network every memory node of a test process listens on (memory-node.ts); `call()` of test-node.ts looks URLs up in it. */
import { MemoryPeerNetwork } from '../../app/adapters/peers/memory.js';

export const MEMORY_NETWORK = new MemoryPeerNetwork();
