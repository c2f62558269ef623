/** The LockManager port's contract: mutual exclusion, waiting with a deadline, fencing, release. */
import { describe, expect, it } from 'vitest';
import type { LockManager } from '../../app/ports/lock-manager.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function describeLockManagerContract(name: string, makeManager: () => Promise<LockManager>): void {
  describe(`LockManager contract: ${name}`, () => {
    it('excludes a second holder until release, then grants it with a higher fence', async () => {
      const locks = await makeManager();
      const first = await locks.acquire(['/a'], { waitMs: 1000 });
      let secondGranted = false;
      const second = locks.acquire(['/a'], { waitMs: 2000 }).then((h) => {
        secondGranted = true;
        return h;
      });
      await sleep(100);
      expect(secondGranted).toBe(false);
      expect(locks.activeCount()).toBe(1);
      await first.release();
      const handle = await second;
      expect(handle.fence).toBeGreaterThan(first.fence);
      await handle.release();
      await handle.release();
      expect(locks.activeCount()).toBe(0);
      await locks.close();
    });

    it('tells each grant its lock home\'s fencing epoch (a positive integer), or null when unchecked', async () => {
      const locks = await makeManager();
      const handle = await locks.acquire(['/epoch'], { waitMs: 100 });
      if (handle.epoch !== null) {
        expect(Number.isInteger(handle.epoch)).toBe(true);
        expect(handle.epoch).toBeGreaterThanOrEqual(1);
      }
      await handle.release();
      await locks.close();
    });

    it('times out with LOCK_TIMEOUT after waitMs', async () => {
      const locks = await makeManager();
      const held = await locks.acquire(['/busy'], { waitMs: 100 });
      const started = Date.now();
      await expect(locks.acquire(['/busy'], { waitMs: 200 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      await held.release();
      await locks.close();
    });

    it('ends a wait when the request is aborted', async () => {
      const locks = await makeManager();
      const held = await locks.acquire(['/abort'], { waitMs: 100 });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      await expect(locks.acquire(['/abort'], { waitMs: 5000, signal: controller.signal })).rejects.toMatchObject({ code: 'CLIENT_CLOSED_REQUEST' });
      await held.release();
      await locks.close();
    });

    it('takes several keys without deadlocking, whatever order they are asked in', async () => {
      const locks = await makeManager();
      const rounds = Array.from({ length: 10 }, async (_, i) => {
        const handle = await locks.acquire(i % 2 === 0 ? ['/x', '/y'] : ['/y', '/x'], { waitMs: 5000 });
        await sleep(5);
        await handle.release();
      });
      await Promise.all(rounds);
      expect(locks.activeCount()).toBe(0);
      await locks.close();
    });

    it('hands out strictly increasing fences', async () => {
      const locks = await makeManager();
      const fences: number[] = [];
      for (let i = 0; i < 5; i++) {
        const handle = await locks.acquire([`/f${i}`], { waitMs: 100 });
        fences.push(handle.fence);
        await handle.release();
      }
      expect([...fences].sort((a, b) => a - b)).toEqual(fences);
      expect(new Set(fences).size).toBe(5);
      await locks.close();
    });
  });
}
