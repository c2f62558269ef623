/**
 * @module LockManager: cluster-wide mutual exclusion on paths. Adapters: Redis (shared by a
 * cluster) and in-process memory (single node). Contract: `test/contract/lock-manager.contract.ts`.
 *
 * Guarantees every adapter gives:
 * - `acquire` waits (FIFO-ish, polling is fine) up to `waitMs`, then throws LOCK_TIMEOUT;
 *   an aborted `signal` ends the wait with CLIENT_CLOSED_REQUEST.
 * - keys are taken in sorted order, so two multi-key acquires cannot deadlock.
 * - every grant carries a fencing token strictly greater than every token handed out before it
 *   (cluster-wide for Redis); metadata writes store it and refuse older ones.
 * - every grant carries the fencing epoch of the lock home it came from (Redis: the `<prefix>epoch`
 *   key, 1 when missing), or null when the locks are in-process; the metadata store refuses a
 *   write whose epoch is not the database's own (see ports/fencing.ts).
 * - a held lock is renewed in the background; if renewal fails (lock expired / store gone) the
 *   handle's `lost` signal aborts, so the holder can stop before corrupting anything.
 * - a crashed holder's lock expires after `ttlMs`.
 * - store unreachable → LOCK_UNAVAILABLE.
 */
export interface LockHandle {
  readonly keys: readonly string[];
  readonly fence: number;
  /** Fencing epoch of the lock home that granted this lock; null = not checked (in-process locks). */
  readonly epoch: number | null;
  /** Aborts if the lock could not be kept (renewal failed). */
  readonly lost: AbortSignal;
  /** Releases every key; safe to call more than once. Never throws. */
  release(): Promise<void>;
}

export interface AcquireOptions {
  readonly waitMs: number;
  readonly signal?: AbortSignal | undefined;
}

export interface LockManager {
  acquire(keys: readonly string[], options: AcquireOptions): Promise<LockHandle>;
  /** Number of locks this process currently holds (for the `callfs_active_locks` gauge). */
  activeCount(): number;
  ping(): Promise<void>;
  close(): Promise<void>;
}
