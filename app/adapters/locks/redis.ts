/**
 * @module RedisLockManager: cluster-wide path locks in one Redis (direct or through Sentinel).
 * Each grant: `SET key token NX PX ttl` on every key in sorted order (all or nothing, retried
 * with jittered backoff until the wait deadline), then a fencing token from `INCR` — strictly
 * increasing across the cluster. A timer renews the keys (compare-and-PEXPIRE) every ttl/3;
 * if renewal fails the handle's `lost` signal aborts. Release is compare-and-delete, so a
 * holder never frees someone else's lock. Commands fail fast while Redis is down
 * (LOCK_UNAVAILABLE) and the client reconnects by itself.
 */
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { AppError, isAppError } from '../../errors/app-error.js';
import type { AcquireOptions, LockHandle, LockManager } from '../../ports/lock-manager.js';

export interface RedisLockManagerOptions {
  readonly addr?: string;
  readonly password?: string | null;
  readonly sentinels?: readonly string[];
  readonly masterName?: string;
  readonly keyPrefix?: string;
  readonly ttlMs?: number;
  readonly connectTimeoutMs?: number;
  readonly commandTimeoutMs?: number;
}

const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
const RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

function hostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return i < 0 ? { host: addr, port: 6379 } : { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(addr.slice(i + 1)) };
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
  #active = 0;

  constructor(options: RedisLockManagerOptions) {
    this.#prefix = options.keyPrefix ?? 'callfs:lock:';
    this.#ttlMs = options.ttlMs ?? 30_000;
    const common: RedisOptions = {
      password: options.password ?? undefined,
      connectTimeout: options.connectTimeoutMs ?? 2000,
      commandTimeout: options.commandTimeoutMs ?? 2000,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      retryStrategy: (times) => Math.min(50 * times, 1000),
      lazyConnect: false,
    };
    const sentinels = options.sentinels ?? [];
    this.#redis =
      sentinels.length > 0
        ? new Redis({ ...common, sentinels: sentinels.map(hostPort), name: options.masterName ?? 'mymaster' })
        : new Redis({ ...common, ...hostPort(options.addr ?? 'localhost:6379') });
    this.#redis.on('error', () => undefined);
  }

  async acquire(keys: readonly string[], options: AcquireOptions): Promise<LockHandle> {
    const sorted = [...new Set(keys)].sort();
    const names = sorted.map((k) => this.#prefix + k);
    const token = randomBytes(16).toString('hex');
    const deadline = Date.now() + options.waitMs;
    let delay = 5;
    for (;;) {
      if (options.signal?.aborted) throw new AppError('CLIENT_CLOSED_REQUEST', 'request aborted while waiting for a lock');
      if (await this.#tryAll(names, token)) break;
      if (Date.now() >= deadline) throw new AppError('LOCK_TIMEOUT', `timed out waiting for the lock on ${sorted.join(', ')}`, { retryAfterSec: 1 });
      await sleep(Math.min(delay + Math.random() * delay, Math.max(1, deadline - Date.now())), options.signal);
      delay = Math.min(delay * 2, 100);
    }
    let fence: number;
    try {
      fence = await this.#redis.incr(`${this.#prefix}fence`);
    } catch (error) {
      await this.#releaseAll(names, token);
      throw unavailable(error);
    }
    return this.#handle(sorted, names, token, fence);
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
    this.#redis.disconnect();
  }

  async #tryAll(names: readonly string[], token: string): Promise<boolean> {
    const taken: string[] = [];
    try {
      for (const name of names) {
        const ok = await this.#redis.set(name, token, 'PX', this.#ttlMs, 'NX');
        if (ok !== 'OK') {
          await this.#releaseAll(taken, token);
          return false;
        }
        taken.push(name);
      }
      return true;
    } catch (error) {
      await this.#releaseAll(taken, token);
      throw unavailable(error);
    }
  }

  async #releaseAll(names: readonly string[], token: string): Promise<void> {
    await Promise.allSettled(names.map((name) => this.#redis.eval(RELEASE, 1, name, token)));
  }

  #handle(keys: readonly string[], names: readonly string[], token: string, fence: number): LockHandle {
    this.#active++;
    const lost = new AbortController();
    let released = false;
    const renew = setInterval(() => {
      Promise.all(names.map((name) => this.#redis.eval(RENEW, 1, name, token, String(this.#ttlMs)))).then(
        (results) => {
          if (results.some((r) => Number(r) !== 1)) lost.abort(new AppError('LOCK_LOST', 'the path lock expired while held'));
        },
        (error: unknown) => lost.abort(new AppError('LOCK_LOST', 'the path lock could not be renewed', { cause: error })),
      );
    }, Math.max(50, Math.floor(this.#ttlMs / 3)));
    renew.unref();
    return {
      keys,
      fence,
      lost: lost.signal,
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(renew);
        this.#active--;
        await this.#releaseAll(names, token);
      },
    };
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
