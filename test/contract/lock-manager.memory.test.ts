import { describe, expect, it } from 'vitest';
import { MemoryLockManager } from '../../app/adapters/locks/memory.js';
import { describeLockManagerContract } from './lock-manager.contract.js';

describeLockManagerContract('in-process memory', async () => new MemoryLockManager());

describe('memory specifics', () => {
  it('the memory manager leaves the epoch unchecked (null)', async () => {
    const locks = new MemoryLockManager();
    const handle = await locks.acquire(['/m'], { waitMs: 100 });
    expect(handle.epoch).toBeNull();
    await handle.release();
  });
});
