/**
 * @module MemoryLockManager: in-process path locks for a single node (the embedded default).
 * Waiters queue per key in arrival order; grants carry a strictly increasing fence; a lock
 * held by this process never expires (a crash releases everything with the process). Fences
 * start above `lastFence`, the highest one the metadata store holds, so they keep growing across
 * restarts (rows keep the fence of their last writer, and an older fence is refused).
 */
import { AppError } from '../../errors/app-error.js';
import type { AcquireOptions, LockHandle, LockManager } from '../../ports/lock-manager.js';

interface Waiter {
  readonly wake: () => void;
}

export class MemoryLockManager implements LockManager {
  readonly #held = new Set<string>();
  readonly #queues = new Map<string, Waiter[]>();
  #fence: number;
  #active = 0;

  constructor(options: { readonly lastFence?: number } = {}) {
    this.#fence = options.lastFence ?? 0;
  }

  async acquire(keys: readonly string[], options: AcquireOptions): Promise<LockHandle> {
    const sorted = [...new Set(keys)].sort();
    const deadline = Date.now() + options.waitMs;
    const taken: string[] = [];
    try {
      for (const key of sorted) {
        await this.#take(key, deadline, options.signal);
        taken.push(key);
      }
    } catch (error) {
      for (const key of taken) this.#release(key);
      throw error;
    }
    this.#active++;
    const lost = new AbortController();
    let released = false;
    return {
      keys: sorted,
      fence: ++this.#fence,
      // One process, one lock home: no epoch to check (a fenced database still refuses writes).
      epoch: null,
      lost: lost.signal,
      release: async () => {
        if (released) return;
        released = true;
        this.#active--;
        for (const key of sorted) this.#release(key);
      },
    };
  }

  activeCount(): number {
    return this.#active;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}

  #take(key: string, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AppError('CLIENT_CLOSED_REQUEST', 'request aborted while waiting for a lock'));
    if (!this.#held.has(key)) {
      this.#held.add(key);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const queue = this.#queues.get(key) ?? [];
      this.#queues.set(key, queue);
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const index = queue.indexOf(waiter);
        if (index >= 0) queue.splice(index, 1);
      };
      const waiter: Waiter = {
        wake: () => {
          cleanup();
          resolve();
        },
      };
      const onAbort = (): void => {
        cleanup();
        reject(new AppError('CLIENT_CLOSED_REQUEST', 'request aborted while waiting for a lock'));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new AppError('LOCK_TIMEOUT', `timed out waiting for the lock on ${key}`, { retryAfterSec: 1 }));
      }, Math.max(0, deadline - Date.now()));
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
    });
  }

  /** Hands the key straight to the next waiter (it stays held), or frees it. */
  #release(key: string): void {
    const next = this.#queues.get(key)?.shift();
    if (next) {
      next.wake();
      return;
    }
    this.#queues.delete(key);
    this.#held.delete(key);
  }
}
