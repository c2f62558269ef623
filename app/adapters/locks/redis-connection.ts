/**
 * @module openLockRedis: the ioredis client behind the lock manager, addressed either directly
 * (`host:port`) or through Redis Sentinel (a list of sentinels plus the master's name).
 *
 * Failover behaviour, the reason this lives in its own module:
 * - no offline queue and no replay: while no master is reachable a command fails at once instead
 *   of piling up, a command in flight when the connection drops is never resent to the next
 *   master, and every command that is sent is bounded by `commandTimeoutMs`;
 * - reconnects are retried quickly (≤ 250 ms apart), so the client finds a promoted master soon
 *   after the sentinels announce it; with Sentinel every reconnect asks the sentinels again, and
 *   the ready check refuses a node whose role is not `master`;
 * - a `READONLY` reply means we are still talking to a demoted master: the connection is dropped
 *   and re-established through the sentinels (reconnectOnError → 2);
 * - `failoverDetector` listens for `+switch-master` on the sentinels, so even a healthy connection
 *   to a demoted or partitioned master is abandoned when the sentinels elect a new one.
 */
import { Redis, type RedisOptions } from 'ioredis';

export interface LockRedisAddress {
  /** `host:port` of a single Redis; used when `sentinels` is empty. */
  readonly addr?: string | undefined;
  readonly password?: string | null | undefined;
  /** `host:port` of each sentinel; non-empty switches to Sentinel addressing. */
  readonly sentinels?: readonly string[] | undefined;
  /** The master's name as configured in the sentinels (`sentinel monitor <name> …`). */
  readonly masterName?: string | undefined;
  readonly connectTimeoutMs?: number | undefined;
  readonly commandTimeoutMs?: number | undefined;
  /** Connect over TLS (ElastiCache with in-transit encryption); the server certificate is verified. */
  readonly tls?: boolean | undefined;
}

/** `host:port`, `[v6]:port` or a bare host (port 6379). */
export function parseHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  if (i < 0 || addr.endsWith(']')) return { host: addr.replace(/^\[|\]$/g, ''), port: 6379 };
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(addr.slice(i + 1)) };
}

export function isReadOnlyReply(error: Error): boolean {
  return error.message.startsWith('READONLY');
}

export function usesSentinel(address: LockRedisAddress): boolean {
  return (address.sentinels ?? []).length > 0;
}

export function openLockRedis(address: LockRedisAddress): Redis {
  const commandTimeout = address.commandTimeoutMs ?? 2000;
  const common: RedisOptions = {
    password: address.password ?? undefined,
    connectTimeout: address.connectTimeoutMs ?? 2000,
    commandTimeout,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    enableReadyCheck: true,
    // A command whose connection died is failed (by its timeout), never replayed on the next
    // master: a late grant would hold keys for an acquire that has already given up.
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times) => Math.min(25 * times, 250),
    reconnectOnError: (error) => (isReadOnlyReply(error) ? 2 : false),
    lazyConnect: false,
    ...(address.tls === true ? { tls: {} } : {}),
  };
  const redis = usesSentinel(address)
    ? new Redis({
        ...common,
        sentinels: (address.sentinels ?? []).map(parseHostPort),
        name: address.masterName ?? 'mymaster',
        sentinelCommandTimeout: commandTimeout,
        failoverDetector: true,
        ...(address.tls === true ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      })
    : new Redis({ ...common, ...parseHostPort(address.addr ?? 'localhost:6379') });
  // Connection errors surface through the commands that fail; without a listener ioredis would log them.
  redis.on('error', () => undefined);
  return redis;
}
