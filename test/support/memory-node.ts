/**
 * Nodes built in-process on the memory adapters, for the unit tier: no Postgres, Redis, S3 or
 * listening socket. A node is the same object graph a real node runs (app/compose.ts's
 * composeNode, on memory adapters instead of open-adapters.ts: storage identity checked, the
 * epoch watched, peer nonces shared in the cluster's database), its Hono app reachable at `http://<instance>.memory`; `call()` and `api()` of
 * test-node.ts send requests for such a URL through `app.request()`, so a test written against
 * a real node runs unchanged against a memory one. Nodes of one `MemoryCluster` share a metadata
 * database, a lock manager and an S3 stand-in, and forward to each other over the in-process
 * peer network, as nodes sharing one Postgres and Redis do.
 */
import { rmSync } from 'node:fs';
import type { Hono } from 'hono';
import { MemoryBlobStore } from '../../app/adapters/blob/memory.js';
import { MemoryLockManager } from '../../app/adapters/locks/memory.js';
import { MemoryMetadataDatabase, MemoryMetadataStore } from '../../app/adapters/metadata/memory.js';
import { MemoryPeerClient } from '../../app/adapters/peers/memory.js';
import { composeNode } from '../../app/compose.js';
import type { Config } from '../../app/config/config.js';
import type { HonoEnv } from '../../app/http/env.js';
import { createLogger, SILENT_LOGGER } from '../../app/observability/logger.js';
import { verifyStorageIdentity, type NamedStore } from '../../app/services/storage-identity.js';
import { MEMORY_NETWORK } from './memory-network.js';
import { testConfig, type TestNode, type TestNodeOptions } from './test-node.js';

/** The services nodes of one cluster share (one database, one lock home, one bucket). */
export class MemoryCluster {
  readonly database = new MemoryMetadataDatabase();
  readonly locks = new MemoryLockManager();
  /** The S3 stand-in every node with `backend: 's3'` uses. */
  readonly bucket = new MemoryBlobStore({ backendType: 's3' });
}

export interface MemoryNodeOptions extends Omit<TestNodeOptions, 'dsn' | 'redisUrl' | 'redisSentinels' | 's3' | 'readDsn' | 'port'> {
  /** The cluster to join (default: a cluster of its own). */
  readonly cluster?: MemoryCluster;
  /** Where the bytes go: an in-memory local disk (default) or the cluster's S3 stand-in. */
  readonly backend?: 'localfs' | 's3';
}

export interface MemoryNode extends TestNode {
  readonly app: Hono<HonoEnv>;
  readonly cluster: MemoryCluster;
  readonly metadata: MemoryMetadataStore;
  /** The node's own bytes (local disk stand-in), or the cluster's bucket. */
  readonly blobs: MemoryBlobStore;
  /** Takes the node off the network (as a crash would), without closing it. */
  disconnect(): void;
}

/** The base URL of a memory node. */
export function memoryUrl(instanceId: string): string {
  return `http://${instanceId}.memory`;
}

export async function startMemoryNode(options: MemoryNodeOptions = {}): Promise<MemoryNode> {
  const cluster = options.cluster ?? new MemoryCluster();
  const instanceId = options.instanceId ?? 'node1';
  const url = memoryUrl(instanceId);
  const s3 = options.backend === 's3';
  // No directory is ever created for the bytes: the root path only tells the services that this
  // node has a local-disk backend.
  const config: Config = testConfig({
    ...options,
    dsn: 'memory',
    ...(s3 ? { s3: { endpoint: 'memory', region: 'memory', accessKeyId: 'memory', secretAccessKey: 'memory', bucket: 'memory' } } : { localRoot: '/memory' }),
  });
  const metadata = new MemoryMetadataStore(cluster.database);
  const blobs = s3 ? cluster.bucket : new MemoryBlobStore();
  const logger = process.env['TEST_NODE_LOGS'] === '1' ? createLogger({ level: 'debug', format: 'console' }) : SILENT_LOGGER;
  // As open-adapters.ts: the store must be this cluster's (marked on first use) before anything writes.
  const store: NamedStore = s3 ? { name: 'bucket memory', store: blobs, setting: 'backend.s3_bucket_name' } : { name: 'local disk /memory', store: blobs, setting: 'backend.localfs_root_path' };
  await verifyStorageIdentity(metadata, [store], { adoptExisting: config.backend.adoptExistingStorage, logger });
  const node = await composeNode(
    config,
    {
      metadata,
      blobs: { localfs: s3 ? null : blobs, s3: s3 ? blobs : null },
      stores: [store],
      locks: cluster.locks,
      // In-process locks cannot move, so the watch follows the epoch row alone.
      lockHome: null,
      lockHomeIgnoredBecause: 'locks are in-process (memory node)',
      peerTransport: (directory) => new MemoryPeerClient({ network: MEMORY_NETWORK, endpointOf: (id) => directory.endpointOf(id) }),
    },
    logger,
  );
  const { app, membership, peers, services } = node;
  // An empty env: no Node request or response underneath, so bodies go through web streams.
  MEMORY_NETWORK.connect(url, (request) => app.request(request, undefined, {}));
  await membership.start({ internalUrl: url, version: 'memory', startedAt: new Date(), tlsCertificates: null });
  peers.start();
  services.replication.start();
  return {
    url,
    port: 0,
    rootPath: null,
    config,
    app,
    cluster,
    metadata,
    blobs,
    tlsCertificate: () => null,
    disconnect: () => MEMORY_NETWORK.disconnect(url),
    close: async () => {
      MEMORY_NETWORK.disconnect(url);
      await services.replication.stop();
      await membership.stop();
      await peers.close();
      node.cache.stop();
      await node.fencing.stop();
      await metadata.close();
      rmSync(config.dataDir, { recursive: true, force: true });
    },
  };
}
