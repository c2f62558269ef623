/**
 * @module The Redis data-plane step of a failover, behind `LockHomeRedis` so tests substitute
 * it: arming a lock home sets its epoch and raises its fencing counter to at least the floor, in
 * one script (the keys and the script are the lock home's protocol, app/fencing/lock-home.ts).
 * `createIoredisLockHome` is the real one: TLS (ElastiCache requires it) with the AUTH token,
 * connect and command timeouts, no offline queue.
 */
import { Redis } from 'ioredis';
import { armLockHomeCall } from '../../../app/fencing/index.js';

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
        const call = armLockHomeCall(keyPrefix, epoch, fenceFloor);
        const reply = await redis.eval(call.script, call.keys.length, ...call.keys, ...call.args);
        return Number(reply);
      } finally {
        redis.disconnect();
      }
    },
  };
}
