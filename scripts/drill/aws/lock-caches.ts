/**
 * @module The AWS provider's lock home operations on ElastiCache: each region's replication group
 * and its primary endpoint (read by topology and cached), a Redis armed as the lock home of an
 * epoch (./lock-home-redis.ts, with the AUTH token from Secrets Manager), and a Redis "lost" as
 * a test failover that keeps its data and endpoint.
 */
import { DescribeReplicationGroupsCommand, TestFailoverCommand } from '@aws-sdk/client-elasticache';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { DEFAULT_LOCK_KEY_PREFIX } from '../../../app/fencing/index.js';
import { type Region } from '../../../regions/schema.js';
import { LOCK_CACHE_PORT, SECRET_NAMES, lockCacheId } from '../../../infra/config/names.js';
import type { AwsContext } from './context.js';
import { isError } from './aws-calls.js';
import { createIoredisLockHome, type LockHomeRedis } from './lock-home-redis.js';

interface CacheGroup {
  readonly host: string;
  readonly port: number;
  readonly nodeGroupId: string;
  readonly status: string;
}

/** The Redis half of the AWS provider. */
export class LockCaches {
  readonly #ctx: AwsContext;
  readonly #caches = new Map<string, CacheGroup>();
  readonly #lockHome: LockHomeRedis;

  constructor(ctx: AwsContext) {
    this.#ctx = ctx;
    this.#lockHome = ctx.options.lockHome ?? createIoredisLockHome({ connectTimeoutMs: ctx.aws.timeouts.connectionMs, commandTimeoutMs: ctx.aws.timeouts.requestMs });
  }

  async loadCache(region: Region): Promise<CacheGroup> {
    const id = lockCacheId(region);
    const out = await this.#ctx.aws.call(`ElastiCache DescribeReplicationGroups ${id}`, () => this.#ctx.aws.elastiCache(region.awsRegion).send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: id })));
    const group = out.ReplicationGroups?.[0];
    const nodeGroup = group?.NodeGroups?.[0];
    const endpoint = nodeGroup?.PrimaryEndpoint;
    if (group === undefined || nodeGroup?.NodeGroupId === undefined || endpoint?.Address === undefined) throw new Error(`${region.name}: replication group ${id} has no primary endpoint`);
    const cache = { host: endpoint.Address, port: endpoint.Port ?? LOCK_CACHE_PORT, nodeGroupId: nodeGroup.NodeGroupId, status: group.Status ?? '?' };
    this.#caches.set(region.name, cache);
    return cache;
  }

  /** Whether topology() has read the region's replication group. */
  knows(name: string): boolean {
    return this.#caches.has(name);
  }

  redisAddress(name: string): string {
    this.#ctx.region(name);
    const cache = this.#caches.get(name);
    if (cache === undefined) throw new Error(`${name}: the Redis address is not known: call topology() first (or the region's ElastiCache API did not answer then)`);
    return `${cache.host}:${cache.port}`;
  }

  async armLockHome(name: string, epoch: number, fenceFloor: number): Promise<string> {
    const region = this.#ctx.region(name);
    const cache = this.#caches.get(name) ?? (await this.loadCache(region));
    const secret = await this.#ctx.aws.call(`Secrets Manager GetSecretValue ${SECRET_NAMES.lockCacheAuthToken}`, () => this.#ctx.aws.secrets(region.awsRegion).send(new GetSecretValueCommand({ SecretId: SECRET_NAMES.lockCacheAuthToken })));
    if (secret.SecretString === undefined || secret.SecretString === '') throw new Error(`${name}: secret ${SECRET_NAMES.lockCacheAuthToken} is empty`);
    const prefix = this.#ctx.options.lockKeyPrefix ?? DEFAULT_LOCK_KEY_PREFIX;
    const fence = await this.#lockHome.arm({ host: cache.host, port: cache.port, password: secret.SecretString }, prefix, epoch, fenceFloor);
    return `${name}: lock home ${cache.host}:${cache.port} armed with epoch ${epoch} (${prefix}fence = ${fence})`;
  }

  async stopRedis(name: string): Promise<string> {
    const region = this.#ctx.region(name);
    const cache = await this.loadCache(region);
    const id = lockCacheId(region);
    try {
      await this.#ctx.aws.call(`ElastiCache TestFailover ${id}`, () => this.#ctx.aws.elastiCache(region.awsRegion).send(new TestFailoverCommand({ ReplicationGroupId: id, NodeGroupId: cache.nodeGroupId })));
    } catch (error) {
      if (isError(error, 'InvalidReplicationGroupStateFault', 'InvalidReplicationGroupState') && cache.status !== 'available') {
        return `${name}: ${id} is ${cache.status}: a failover is already under way`;
      }
      throw error;
    }
    // TestFailover replaces the primary node by a replica that keeps the replicated data and the
    // primary endpoint: what this exercises is the nodes reconnecting through a failover, not a
    // Redis that comes back empty (ElastiCache has no stop for a replication group).
    return `${name}: ElastiCache has no stop: ${id} node group ${cache.nodeGroupId} fails over (TestFailover); the replica it promotes keeps the data and the endpoint, so this exercises a failover, not an empty Redis`;
  }

  async startRedis(name: string): Promise<string> {
    const region = this.#ctx.region(name);
    const id = lockCacheId(region);
    await this.#ctx.aws.waitFor(
      `${id} to be available`,
      async () => {
        const cache = await this.loadCache(region);
        return { done: cache.status === 'available', state: cache.status };
      },
      this.#ctx.timings.pollIntervalMs,
      this.#ctx.timings.redisTimeoutMs,
    );
    return `${name}: ${id} is available again after the failover (${this.redisAddress(name)}, data as replicated)`;
  }
}
