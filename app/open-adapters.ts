/**
 * @module The real adapters a node runs on, opened from a validated Config: Postgres (embedded
 * or at a DSN, plus the region's read replica), local disk and S3 (the node's bucket and other
 * regions' buckets, for read-through), Redis or in-process locks, and the undici transport to
 * the other nodes. Each start-up check names the key to change when it fails
 * (startup-failure.ts), and the stores must belong to the database's cluster (storage-identity);
 * every opened adapter adds its close to `cleanups`. What is built from
 * these is compose.ts's job.
 */
import { readFileSync } from 'node:fs';
import type { Config } from './config/config.js';
import { createPostgresMetadataStore, type PostgresMetadataStore } from './adapters/metadata/postgres.js';
import { LocalFsBlobStore } from './adapters/blob/local-fs.js';
import { S3BlobStore } from './adapters/blob/s3.js';
import { createRedisLockManager } from './adapters/locks/redis.js';
import { MemoryLockManager } from './adapters/locks/memory.js';
import { RelocatableLockManager } from './adapters/locks/relocatable.js';
import { usesSentinel } from './adapters/locks/redis-connection.js';
import { UndiciPeerClient } from './adapters/peers/undici.js';
import { ReplicaRoutedStore } from './adapters/metadata/read-routing.js';
import { parseMultiHostDsn } from './adapters/metadata/multi-host-dsn.js';
import { PostgresClusterStatus } from './adapters/metadata/cluster-status.js';
import type { LockHomeControl } from './ports/fencing.js';
import type { BlobStore } from './ports/blob-store.js';
import type { LockManager } from './ports/lock-manager.js';
import type { StorageCatalog } from './ports/storage-catalog.js';
import type { Logger } from './observability/logger.js';
import { ReadConsistency } from './services/read-consistency.js';
import { verifyStorageIdentity, type NamedStore } from './services/storage-identity.js';
import type { NodeAdapters } from './compose.js';
import { naming } from './startup-failure.js';

const STARTUP_REPLICA_WAIT_MS = 30_000;

/** Opens everything a node of `config` runs on; on failure the caller runs `cleanups`. */
export async function openAdapters(config: Config, logger: Logger, cleanups: Array<() => Promise<void>>): Promise<NodeAdapters & { readonly metadata: PostgresMetadataStore }> {
  const { store: metadata, dsn } = await openMetadata(config, logger, cleanups);
  const blobs = await openBlobStores(config, cleanups);
  // Before anything can write or sweep: the database and every store must be of one cluster.
  const stores = namedStores(config, blobs);
  await verifyStorageIdentity(metadata, stores, { adoptExisting: config.backend.adoptExistingStorage, logger });
  const { locks, lockHome } = await openLocks(config, cleanups, metadata);
  const regionalReads = await openRegionalReads(config, logger, metadata, cleanups);
  const discovery = config.instanceDiscovery;
  const peerCa = discovery.peerCaFile === null ? undefined : readFileSync(discovery.peerCaFile);
  const readDsns = config.metadataStore.type === 'postgres' && config.metadataStore.readDsn !== null ? [config.metadataStore.readDsn] : [];
  return {
    metadata,
    blobs,
    stores,
    locks,
    lockHome,
    lockHomeIgnoredBecause: config.dlm.type === 'local' ? 'locks are in-process (dlm.type local)' : 'locks use Redis Sentinel',
    peerTransport: (directory) =>
      new UndiciPeerClient({
        endpointOf: (id) => directory.endpointOf(id),
        certificatesOf: (id) => directory.certificatesOf(id),
        onRefused: (id, reason) => logger.warn('peer refused: it did not prove the TLS identity it announced', { peer: id, reason }),
        ...(peerCa ? { ca: peerCa } : {}),
      }),
    ...(regionalReads === null ? {} : { regionalReads: { ...regionalReads, epochFallback: { source: regionalReads.replica, candidates: metadata } } }),
    regionBuckets: openRegionBuckets(config, cleanups),
    clusterStatus: new PostgresClusterStatus(dsn, { readDsns, source: `node ${discovery.instanceId}` }),
  };
}

export async function openMetadata(config: Config, logger: Logger, cleanups: Array<() => Promise<void>>): Promise<{ store: PostgresMetadataStore; dsn: string }> {
  let dsn: string;
  if (config.metadataStore.type === 'embedded') {
    // Loaded only when used: production images carry no embedded Postgres.
    const { startEmbeddedPostgres } = await import('./adapters/metadata/embedded-postgres.js');
    const embedded = await startEmbeddedPostgres({
      dataDir: config.metadataStore.dataDir,
      port: config.metadataStore.port,
      log: (line) => logger.debug(line),
      notice: (message, fields) => logger.info(message, fields),
    });
    cleanups.push(() => embedded.stop());
    dsn = embedded.dsn;
  } else {
    dsn = config.metadataStore.dsn;
  }
  const key = config.metadataStore.type === 'embedded' ? 'metadata_store.port' : 'metadata_store.dsn';
  const store = await naming('postgres', postgresAddress(dsn), key, () => createPostgresMetadataStore({ dsn, statementTimeoutMs: config.server.metadataOpTimeoutMs }));
  cleanups.push(() => store.close());
  return { store, dsn };
}

/** With `metadata_store.read_dsn`: the region's replica for reads, and read-your-writes over it. */
async function openRegionalReads(
  config: Config,
  logger: Logger,
  primary: PostgresMetadataStore,
  cleanups: Array<() => Promise<void>>,
): Promise<{ store: ReplicaRoutedStore; consistency: ReadConsistency; replica: PostgresMetadataStore; replicas: PostgresMetadataStore; maxLagMs: number } | null> {
  const settings = config.metadataStore;
  if (settings.type !== 'postgres' || settings.readDsn === null) return null;
  const readDsn = settings.readDsn;
  const replica = await naming('postgres read replica', postgresAddress(readDsn), 'metadata_store.read_dsn', () =>
    createPostgresMetadataStore({ dsn: readDsn, statementTimeoutMs: config.server.metadataOpTimeoutMs, readReplica: true }),
  );
  cleanups.push(() => replica.close());
  const consistency = new ReadConsistency(primary, replica, { maxWaitMs: settings.readYourWritesWaitMs });
  // Serve only once the replica has the schema this node just migrated on the primary.
  const migrated = await consistency.decide(await primary.currentLsn(), STARTUP_REPLICA_WAIT_MS);
  if (migrated.source !== 'replica') logger.warn('the read replica is behind the primary at start; reads with a token will use the primary until it catches up');
  return { store: new ReplicaRoutedStore(primary, replica, () => consistency.prefersPrimary()), consistency, replica, replicas: replica, maxLagMs: settings.replicaMaxLagMs };
}

export async function openBlobStores(config: Config, cleanups: Array<() => Promise<void>>): Promise<{ localfs: BlobStore | null; s3: BlobStore | null }> {
  let localfs: BlobStore | null = null;
  if (config.backend.localfsRootPath !== null) {
    const store = new LocalFsBlobStore({ rootPath: config.backend.localfsRootPath });
    await store.init();
    cleanups.push(() => store.close());
    localfs = store;
  }
  let s3: BlobStore | null = null;
  const s3Config = config.backend.s3;
  if (s3Config !== null) {
    const store = new S3BlobStore({
      bucket: s3Config.bucket,
      region: s3Config.region,
      endpoint: s3Config.endpoint,
      accessKeyId: s3Config.accessKeyId,
      secretAccessKey: s3Config.secretAccessKey,
      serverSideEncryption: s3Config.serverSideEncryption,
      kmsKeyId: s3Config.kmsKeyId,
      acl: s3Config.acl,
    });
    const where = s3Config.endpoint === null ? `${s3Config.region} (AWS)` : endpointAddress(s3Config.endpoint);
    await naming(`s3 bucket ${s3Config.bucket}`, where, s3Config.endpoint === null ? 'backend.s3_bucket_name' : 'backend.s3_endpoint', () => store.ping());
    cleanups.push(() => store.close());
    s3 = store;
  }
  return { localfs, s3 };
}

/** The node's own stores, named the way an operator would name them in a refusal or a log line. */
export function namedStores(config: Config, blobs: { localfs: BlobStore | null; s3: BlobStore | null }): NamedStore[] {
  const stores: NamedStore[] = [];
  if (blobs.localfs !== null) stores.push({ name: `local disk ${config.backend.localfsRootPath ?? ''}`, store: blobs.localfs, setting: 'backend.localfs_root_path' });
  if (blobs.s3 !== null) stores.push({ name: `bucket ${config.backend.s3?.bucket ?? ''}`, store: blobs.s3, setting: 'backend.s3_bucket_name' });
  return stores;
}

/**
 * The other regions' buckets (`backend.s3_region_buckets`), opened without a start-up check: a
 * region that is down must not stop this one; reads through to it then fail like any S3 error.
 */
function openRegionBuckets(config: Config, cleanups: Array<() => Promise<void>>): Map<string, BlobStore> {
  const stores = new Map<string, BlobStore>();
  const own = config.backend.s3;
  for (const [region, bucket] of Object.entries(config.backend.s3RegionBuckets)) {
    if (region === config.instanceDiscovery.region) continue;
    const store = new S3BlobStore({
      bucket: bucket.bucket,
      region: bucket.region,
      endpoint: bucket.endpoint,
      accessKeyId: own?.accessKeyId ?? null,
      secretAccessKey: own?.secretAccessKey ?? null,
      serverSideEncryption: own?.serverSideEncryption ?? null,
      kmsKeyId: own?.kmsKeyId ?? null,
      acl: own?.acl ?? null,
    });
    cleanups.push(() => store.close());
    stores.set(region, store);
  }
  return stores;
}

/**
 * The lock manager, and its lock home control when it can follow the epoch row's `lock_home`: a
 * single Redis address can; in-process locks and Sentinel (which finds its own master) cannot.
 */
async function openLocks(config: Config, cleanups: Array<() => Promise<void>>, catalog: StorageCatalog): Promise<{ locks: LockManager; lockHome: LockHomeControl | null }> {
  const dlm = config.dlm;
  let locks: LockManager;
  let lockHome: LockHomeControl | null = null;
  const sentinel = dlm.type === 'redis' && dlm.sentinels.length > 0;
  const redisWhere = dlm.type === 'local' ? 'in-process' : sentinel ? `sentinels ${dlm.sentinels.join(',')}` : dlm.redisAddr;
  const redisKey = sentinel ? 'dlm.redis_sentinels' : 'dlm.redis_addr';
  if (dlm.type === 'local') {
    // In-process fences restart with the process: they continue above the highest one stored.
    locks = new MemoryLockManager({ lastFence: await catalog.highestFence() });
  } else {
    const address = { addr: dlm.redisAddr, password: dlm.redisPassword, sentinels: [...dlm.sentinels], masterName: dlm.masterName, tls: dlm.tls };
    const redis = await naming('redis', redisWhere, redisKey, () => createRedisLockManager(address));
    if (usesSentinel(address)) {
      locks = redis;
    } else {
      // Password and TLS stay as configured; only the address follows the lock home.
      const relocatable = new RelocatableLockManager(redis, { configuredAddress: dlm.redisAddr, open: (addr) => createRedisLockManager({ ...address, addr }) });
      locks = relocatable;
      lockHome = relocatable;
    }
  }
  const opened = locks;
  await naming('redis', redisWhere, redisKey, () => opened.ping()).catch(async (error: unknown) => {
    await opened.close().catch(() => undefined);
    throw error;
  });
  cleanups.push(() => locks.close());
  return { locks, lockHome };
}

/** host:port of every host of a DSN, without user or password. */
function postgresAddress(dsn: string): string {
  try {
    return parseMultiHostDsn(dsn)
      .map((host) => (/^(\[.*\]|[^:]*)$/.test(host.label) ? `${host.label}:5432` : host.label))
      .join(',');
  } catch {
    return 'an unparsable DSN';
  }
}

/** host:port of an endpoint URL. */
function endpointAddress(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    return `${url.hostname}:${url.port === '' ? (url.protocol === 'https:' ? '443' : '80') : url.port}`;
  } catch {
    return endpoint;
  }
}
