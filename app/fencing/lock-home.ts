/**
 * @module The lock home: the Redis that grants path locks, their fencing tokens and the epoch
 * those grants are made under. The one definition of its key names and Lua scripts, used by the
 * node's lock manager (grant, renew, release) and by both drill providers (arming a new lock home
 * in a failover).
 *
 * Keys, under a prefix (`DEFAULT_LOCK_KEY_PREFIX` unless configured): `<prefix><lock key>` per
 * held lock (value: the holder's random token), `<prefix>fence` the fencing counter, and
 * `<prefix>epoch` the epoch this Redis is the lock home of (missing = epoch 1).
 */

/** The prefix of the nodes' lock keys (RedisLockManager's default `keyPrefix`). */
export const DEFAULT_LOCK_KEY_PREFIX = 'callfs:lock:';

export interface LockHomeKeys {
  /** The fencing counter every grant raises. */
  readonly fence: string;
  /** The epoch of the lock home; set only by a failover. */
  readonly epoch: string;
}

export function lockHomeKeys(prefix: string = DEFAULT_LOCK_KEY_PREFIX): LockHomeKeys {
  return { fence: `${prefix}fence`, epoch: `${prefix}epoch` };
}

/** The Redis key of one held lock. */
export function lockKey(prefix: string, key: string): string {
  return prefix + key;
}

/**
 * KEYS = lock keys…, fence counter, epoch; ARGV = token, ttl ms. Returns 0 when a key is held by
 * someone else, otherwise { the new fencing token, the lock home's fencing epoch }. All keys must
 * be free or already ours (same token), then all are set with `PX ttl`: one script, so a grant is
 * atomic and never leaves half-taken keys behind.
 *
 * Fencing across a failover: the counter lives on the master and replication is asynchronous, so
 * a promoted replica can be missing the last INCRs and would hand the same numbers out again.
 * The token is therefore max(counter + 1, the master's clock in microseconds): every token issued
 * before a failover is at most the clock reading of its moment (the counter only runs ahead of
 * the clock above a million grants a second), so the first token from the new master is higher
 * than all of them as long as its clock is not behind the old one by more than the failover took.
 * If a token ever did repeat or go back, the metadata store still protects the data: it accepts a
 * write only when the token is at least the one stored on the row, so a stale token fails with
 * LOCK_LOST and never overwrites newer content. Microseconds stay below 2^53 until the year 2255.
 */
export const GRANT_SCRIPT = `
local n = #KEYS - 2
for i = 1, n do
  local holder = redis.call('GET', KEYS[i])
  if holder and holder ~= ARGV[1] then return 0 end
end
for i = 1, n do redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2]) end
local now = redis.call('TIME')
local floor = tonumber(now[1]) * 1000000 + tonumber(now[2])
local counter = KEYS[n + 1]
local fence = redis.call('INCR', counter)
if fence < floor then
  redis.call('SET', counter, string.format('%.0f', floor))
  fence = floor
end
local epoch = tonumber(redis.call('GET', KEYS[n + 2])) or 1
return {fence, epoch}`;

/** KEYS = lock keys; ARGV = token, ttl ms. 1 when every key was still ours and got a new TTL. */
export const RENEW_SCRIPT = `
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then return 0 end
end
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return 1`;

/** KEYS = lock keys; ARGV = token. Deletes the keys that are still ours. */
export const RELEASE_SCRIPT = `
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then n = n + redis.call('DEL', KEYS[i]) end
end
return n`;

/**
 * Makes a Redis the lock home of an epoch. KEYS = epoch key, fence key; ARGV = epoch, floor.
 * Sets the epoch and raises the fencing counter to at least the floor (never lowers it), in one
 * script; returns the counter afterwards as a decimal string.
 */
export const ARM_SCRIPT = `
redis.call('SET', KEYS[1], ARGV[1])
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
local floor = tonumber(ARGV[2])
if fence < floor then
  redis.call('SET', KEYS[2], ARGV[2])
  fence = floor
end
return string.format('%.0f', fence)`;

/** An EVAL call: the script, its keys and its arguments. */
export interface ScriptCall {
  readonly script: string;
  readonly keys: readonly string[];
  readonly args: readonly string[];
}

/** The call arming a lock home: epoch `epoch`, fencing tokens from above `fenceFloor`. */
export function armLockHomeCall(prefix: string, epoch: number, fenceFloor: number): ScriptCall {
  const keys = lockHomeKeys(prefix);
  return { script: ARM_SCRIPT, keys: [keys.epoch, keys.fence], args: [String(Math.trunc(epoch)), String(Math.trunc(fenceFloor))] };
}

/** The call granting `lockKeys` (already prefixed) to `token` for `ttlMs`. */
export function grantCall(prefix: string, lockKeys: readonly string[], token: string, ttlMs: number): ScriptCall {
  const keys = lockHomeKeys(prefix);
  return { script: GRANT_SCRIPT, keys: [...lockKeys, keys.fence, keys.epoch], args: [token, String(ttlMs)] };
}

/** `EVAL` arguments of a call, as redis-cli takes them after the command name. */
export function evalArguments(call: ScriptCall): string[] {
  return [call.script, String(call.keys.length), ...call.keys, ...call.args];
}
