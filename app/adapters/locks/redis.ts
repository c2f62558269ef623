/**
 * @module RedisLockManager: cluster-wide path locks in one Redis, addressed directly or through
 * Sentinel (see redis-connection.ts for the client's failover behaviour). The keys and scripts
 * are the lock home's protocol (app/fencing/lock-home.ts), shared with the failover drills.
 *
 * A grant is one Lua script, so it is atomic and never leaves half-taken keys behind: every key
 * must be free or already ours (same random token), then all keys are set with `PX ttl` and the
 * fencing token is drawn (GRANT_SCRIPT says why tokens keep rising across a Redis failover).
 * Waiting polls that script with jittered backoff until the deadline (LOCK_TIMEOUT). A timer renews the keys (compare-and-PEXPIRE) every ttl/3; the handle's `lost`
 * signal aborts when a key is no longer ours, or when renewals have failed for so long that the
 * key may have expired. Release is compare-and-delete, so a holder never frees someone else's
 * lock, and is retried in the background while Redis is unreachable.
 *
 * While no master is reachable commands fail at once (LOCK_UNAVAILABLE, 503). With Sentinel an
 * acquire first rides out such a gap for up to `unavailableWaitMs` (within its own deadline),
 * so a switch of master shows as a short delay rather than as failed writes.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { AppError, isAppError } from '../../errors/app-error.js';
import type { AcquireOptions, LockHandle, LockManager } from '../../ports/lock-manager.js';
import { DEFAULT_LOCK_KEY_PREFIX, grantCall, lockKey, RELEASE_SCRIPT, RENEW_SCRIPT } from '../../fencing/index.js';
import { openLockRedis, usesSentinel, type LockRedisAddress } from './redis-connection.js';

export interface RedisLockManagerOptions extends LockRedisAddress {
  readonly keyPrefix?: string;
  readonly ttlMs?: number;
  /** How long an acquire keeps retrying while Redis is unreachable (default 3 s with Sentinel, 0 direct). */
  readonly unavailableWaitMs?: number;
}

interface Grant {
  readonly fence: number;
  readonly epoch: number;
}

function unavailable(error: unknown): AppError {
  if (isAppError(error)) return error;
  return new AppError('LOCK_UNAVAILABLE', 'the lock service (Redis) is unavailable', { cause: error, retryAfterSec: 1 });
}

/** Connects and waits until Redis is ready (or LOCK_UNAVAILABLE after the connect timeout). */
export async function createRedisLockManager(options: RedisLockManagerOptions): Promise<RedisLockManager> {
  const manager = new RedisLockManager(options);
  try {
    await manager.ready(options.connectTimeoutMs ?? 5000);
  } catch (error) {
    await manager.close();
    throw error;
  }
  return manager;
}

export class RedisLockManager implements LockManager {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #unavailableWaitMs: number;
  /** Pending background retries of releases that failed. */
  readonly #retries = new Set<NodeJS.Timeout>();
  #closed = false;
  #active = 0;

  constructor(options: RedisLockManagerOptions) {
    this.#prefix = options.keyPrefix ?? DEFAULT_LOCK_KEY_PREFIX;
    this.#ttlMs = options.ttlMs ?? 30_000;
    this.#unavailableWaitMs = options.unavailableWaitMs ?? (usesSentinel(options) ? 3000 : 0);
    this.#redis = openLockRedis(options);
  }

  async acquire(keys: readonly string[], options: AcquireOptions): Promise<LockHandle> {
    const sorted = [...new Set(keys)].sort();
    const names = sorted.map((k) => lockKey(this.#prefix, k));
    const token = randomBytes(16).toString('hex');
    const deadline = Date.now() + options.waitMs;
    let outageSince: number | null = null;
    // Set once a grant failed in flight: it may have run with only its reply lost, so keys
    // carrying our token can exist even though we were never told we hold them.
    let maybeHeld = false;
    let delay = 5;
    for (;;) {
      if (options.signal?.aborted) {
        if (maybeHeld) await this.#release(names, token);
        throw new AppError('CLIENT_CLOSED_REQUEST', 'request aborted while waiting for a lock');
      }
      const sentAt = Date.now();
      try {
        const grant = await this.#grant(names, token);
        if (grant !== null) return this.#handle(sorted, names, token, grant, sentAt);
        outageSince = null;
      } catch (error) {
        maybeHeld = true;
        outageSince ??= sentAt;
        if (Date.now() >= Math.min(deadline, outageSince + this.#unavailableWaitMs)) {
          await this.#release(names, token);
          throw unavailable(error);
        }
      }
      if (Date.now() >= deadline) throw new AppError('LOCK_TIMEOUT', `timed out waiting for the lock on ${sorted.join(', ')}`, { retryAfterSec: 1 });
      await sleep(Math.min(delay + Math.random() * delay, Math.max(1, deadline - Date.now())), options.signal);
      delay = Math.min(delay * 2, 100);
    }
  }

  activeCount(): number {
    return this.#active;
  }

  ready(timeoutMs: number): Promise<void> {
    if (this.#redis.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#redis.off('ready', onReady);
        reject(new AppError('LOCK_UNAVAILABLE', `Redis did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.#redis.once('ready', onReady);
    });
  }

  async ping(): Promise<void> {
    try {
      await this.#redis.ping();
    } catch (error) {
      throw unavailable(error);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#retries) clearTimeout(timer);
    this.#retries.clear();
    this.#redis.disconnect();
  }

  /** The grant, or null when a key is held by someone else. */
  async #grant(names: readonly string[], token: string): Promise<Grant | null> {
    const call = grantCall(this.#prefix, names, token, this.#ttlMs);
    const reply = await this.#redis.eval(call.script, call.keys.length, ...call.keys, ...call.args);
    if (!Array.isArray(reply)) return null;
    return { fence: Number(reply[0]), epoch: Number(reply[1]) };
  }

  /**
   * Compare-and-delete. When Redis cannot be reached (a master switch), the release is retried in
   * the background until the keys would have expired anyway: a delete lost in the switch would
   * otherwise leave the path blocked on the new master for the whole TTL.
   */
  async #release(names: readonly string[], token: string): Promise<void> {
    const giveUpAt = Date.now() + this.#ttlMs;
    const attempt = async (retry: number): Promise<void> => {
      try {
        await this.#redis.eval(RELEASE_SCRIPT, names.length, ...names, token);
      } catch {
        if (this.#closed || Date.now() >= giveUpAt) return;
        const timer = setTimeout(() => {
          this.#retries.delete(timer);
          void attempt(retry + 1);
        }, Math.min(50 * 2 ** retry, 1000));
        timer.unref();
        this.#retries.add(timer);
      }
    };
    await attempt(0);
  }

  /** `grantedAt`: when the grant was sent, a lower bound of when the keys' TTL started. */
  #handle(keys: readonly string[], names: readonly string[], token: string, grant: Grant, grantedAt: number): LockHandle {
    this.#active++;
    const lost = new AbortController();
    const intervalMs = Math.max(50, Math.floor(this.#ttlMs / 3));
    let confirmedAt = grantedAt;
    let released = false;
    const renew = setInterval(() => {
      const sentAt = Date.now();
      this.#redis.eval(RENEW_SCRIPT, names.length, ...names, token, String(this.#ttlMs)).then(
        (reply) => {
          if (Number(reply) === 1) confirmedAt = sentAt;
          else lost.abort(new AppError('LOCK_LOST', 'the path lock expired while held'));
        },
        (error: unknown) => {
          // One missed renewal is ridden out (a master switch takes a few seconds); once the key
          // may expire before the next attempt, the holder must stop.
          if (Date.now() + intervalMs >= confirmedAt + this.#ttlMs) lost.abort(new AppError('LOCK_LOST', 'the path lock could not be renewed', { cause: error }));
        },
      );
    }, intervalMs);
    renew.unref();
    return {
      keys,
      fence: grant.fence,
      epoch: grant.epoch,
      lost: lost.signal,
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(renew);
        this.#active--;
        await this.#release(names, token);
      },
    };
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
