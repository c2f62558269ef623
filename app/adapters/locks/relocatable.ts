/**
 * @module RelocatableLockManager: a LockManager on one Redis address that can move to another
 * (a failover drill names a new lock home on the epoch row) without a restart. New acquires go to
 * the new address as soon as it answers; locks held (or being waited for) on the old one are
 * released or lost as usual, and the old client is closed once none is left, or after the lock
 * TTL at the latest (its locks would have expired by then anyway).
 */
import type { AcquireOptions, LockHandle, LockManager } from '../../ports/lock-manager.js';
import type { LockHomeControl } from '../../ports/fencing.js';

export interface RelocatableLockManagerOptions {
  /** The configured address (`dlm.redis_addr`), used when the epoch row names no lock home. */
  readonly configuredAddress: string;
  /** Opens a lock manager on `address` and waits until it answers (throws LOCK_UNAVAILABLE otherwise). */
  readonly open: (address: string) => Promise<LockManager>;
  /** Longest time a retired manager is kept for its holders before it is closed. */
  readonly retireAfterMs?: number;
}

interface Home {
  readonly address: string;
  readonly manager: LockManager;
  /** Acquires waiting plus handles held through this wrapper. */
  users: number;
  retired: boolean;
}

export class RelocatableLockManager implements LockManager, LockHomeControl {
  readonly #options: RelocatableLockManagerOptions;
  readonly #retired = new Set<Home>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #home: Home;
  #moving: Promise<void> = Promise.resolve();

  constructor(initial: LockManager, options: RelocatableLockManagerOptions) {
    this.#options = options;
    this.#home = { address: options.configuredAddress, manager: initial, users: 0, retired: false };
  }

  current(): string {
    return this.#home.address;
  }

  moveTo(address: string | null): Promise<void> {
    const target = address ?? this.#options.configuredAddress;
    const move = this.#moving.then(async () => {
      if (target === this.#home.address) return;
      const manager = await this.#options.open(target);
      const previous = this.#home;
      this.#home = { address: target, manager, users: 0, retired: false };
      this.#retire(previous);
    });
    // A failed move leaves the current home in place; the next move is not blocked by it.
    this.#moving = move.catch(() => undefined);
    return move;
  }

  async acquire(keys: readonly string[], options: AcquireOptions): Promise<LockHandle> {
    const home = this.#home;
    home.users++;
    let handle: LockHandle;
    try {
      handle = await home.manager.acquire(keys, options);
    } catch (error) {
      this.#leave(home);
      throw error;
    }
    let released = false;
    return {
      keys: handle.keys,
      fence: handle.fence,
      epoch: handle.epoch,
      lost: handle.lost,
      release: async () => {
        await handle.release();
        if (released) return;
        released = true;
        this.#leave(home);
      },
    };
  }

  activeCount(): number {
    let count = this.#home.manager.activeCount();
    for (const home of this.#retired) count += home.manager.activeCount();
    return count;
  }

  ping(): Promise<void> {
    return this.#home.manager.ping();
  }

  async close(): Promise<void> {
    await this.#moving;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const homes = [this.#home, ...this.#retired];
    this.#retired.clear();
    await Promise.all(homes.map((home) => home.manager.close()));
  }

  #retire(home: Home): void {
    home.retired = true;
    if (home.users === 0) {
      void home.manager.close();
      return;
    }
    this.#retired.add(home);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#closeRetired(home);
    }, this.#options.retireAfterMs ?? 30_000);
    timer.unref();
    this.#timers.add(timer);
  }

  #leave(home: Home): void {
    home.users--;
    if (home.retired && home.users <= 0) this.#closeRetired(home);
  }

  #closeRetired(home: Home): void {
    if (!this.#retired.delete(home)) return;
    void home.manager.close();
  }
}
