/**
 * @module The Redis data-plane step of a failover, behind `LockHomeRedis` so tests substitute
 * it: arming a lock home writes the epoch (`<prefix>epoch`) and raises the fencing counter
 * (`<prefix>fence`, the key the nodes' grant script INCRs) to at least the floor, in one Lua
 * script so the counter never goes down. `createIoredisLockHome` is the real one: TLS (ElastiCache
 * requires it) with the AUTH token, connect and command timeouts, no offline queue.
 */
import { Redis } from 'ioredis';

/** The lock key prefix of the nodes (RedisLockManager's default `keyPrefix`). */
export const NODE_LOCK_KEY_PREFIX = 'callfs:lock:';

export interface RedisTarget {
  readonly host: string;
  readonly port: number;
  /** The AUTH token (Secrets Manager `SECRET_NAMES.lockCacheAuthToken`). */
  readonly password: string;
}

export interface LockHomeRedis {
  /** Sets `<prefix>epoch` to `epoch` and `<prefix>fence` to max(itself, fenceFloor); returns the counter. */
  arm(target: RedisTarget, keyPrefix: string, epoch: number, fenceFloor: number): Promise<number>;
}

/** KEYS = epoch key, fence key; ARGV = epoch, floor. Returns the fence counter after the call. */
const ARM = `
redis.call('SET', KEYS[1], ARGV[1])
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
local floor = tonumber(ARGV[2])
if fence < floor then
  redis.call('SET', KEYS[2], ARGV[2])
  fence = floor
end
return string.format('%.0f', fence)`;

export interface IoredisLockHomeOptions {
  readonly connectTimeoutMs?: number;
  readonly commandTimeoutMs?: number;
  /** TLS to the cache (ElastiCache's in-transit encryption). Only a test Redis on loopback goes without. @default true */
  readonly tls?: boolean;
}

export function createIoredisLockHome(options: IoredisLockHomeOptions = {}): LockHomeRedis {
  return {
    async arm(target, keyPrefix, epoch, fenceFloor) {
      const redis = new Redis({
        host: target.host,
        port: target.port,
        password: target.password,
        ...(options.tls === false ? {} : { tls: { servername: target.host } }),
        connectTimeout: options.connectTimeoutMs ?? 5000,
        commandTimeout: options.commandTimeoutMs ?? 5000,
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
        lazyConnect: true,
        retryStrategy: () => null,
      });
      try {
        await redis.connect();
        const reply = await redis.eval(ARM, 2, `${keyPrefix}epoch`, `${keyPrefix}fence`, String(epoch), String(fenceFloor));
        return Number(reply);
      } finally {
        redis.disconnect();
      }
    },
  };
}
