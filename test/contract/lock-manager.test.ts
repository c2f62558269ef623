import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { createRedisLockManager } from '../../app/adapters/locks/redis.js';
import { describeLockManagerContract } from './lock-manager.contract.js';

let prefixCounter = 0;
const redisOptions = () => ({ addr: inject('redisUrl').replace('redis://', ''), keyPrefix: `test:${process.pid}:${prefixCounter++}:` });

describeLockManagerContract('Redis', async () => createRedisLockManager(redisOptions()));

describe('Redis specifics', () => {
  it('shares exclusion and fencing between two managers (two nodes)', async () => {
    const options = redisOptions();
    const [a, b] = [await createRedisLockManager(options), await createRedisLockManager(options)];
    const held = await a.acquire(['/shared'], { waitMs: 100 });
    await expect(b.acquire(['/shared'], { waitMs: 150 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    await held.release();
    const next = await b.acquire(['/shared'], { waitMs: 100 });
    expect(next.fence).toBeGreaterThan(held.fence);
    await next.release();
    await Promise.all([a.close(), b.close()]);
  });

  it('grants carry the lock home\'s epoch: 1 while `<prefix>epoch` is missing, then the value set there', async () => {
    const options = redisOptions();
    const locks = await createRedisLockManager(options);
    const first = await locks.acquire(['/ep'], { waitMs: 100 });
    expect(first.epoch).toBe(1);
    await first.release();
    const raw = new Redis(inject('redisUrl'));
    await raw.set(`${options.keyPrefix}epoch`, '7');
    const second = await locks.acquire(['/ep'], { waitMs: 100 });
    expect(second.epoch).toBe(7);
    expect(second.fence).toBeGreaterThan(first.fence);
    await second.release();
    raw.disconnect();
    await locks.close();
  });

  it('frees the lock of a crashed holder after its TTL, and renews a live one', async () => {
    const options = { ...redisOptions(), ttlMs: 300 };
    const crashed = await createRedisLockManager(options);
    await crashed.acquire(['/crash'], { waitMs: 100 });
    await crashed.close();
    const survivor = await createRedisLockManager(options);
    const handle = await survivor.acquire(['/crash'], { waitMs: 2000 });
    await new Promise((r) => setTimeout(r, 800));
    expect(handle.lost.aborted).toBe(false);
    await expect(survivor.acquire(['/crash'], { waitMs: 100 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    await handle.release();
    await survivor.close();
  });

  it('signals `lost` when the key is taken away', async () => {
    const options = { ...redisOptions(), ttlMs: 300 };
    const locks = await createRedisLockManager(options);
    const handle = await locks.acquire(['/stolen'], { waitMs: 100 });
    const raw = new Redis(inject('redisUrl'));
    await raw.del(`${options.keyPrefix}/stolen`);
    await new Promise((r) => setTimeout(r, 250));
    expect(handle.lost.aborted).toBe(true);
    raw.disconnect();
    await handle.release();
    await locks.close();
  });
});
