/**
 * @module startNode: the composition root. Builds adapters from a validated Config, wires the
 * services and the Hono app, starts the listeners and background work, and returns a handle
 * whose `close()` shuts everything down in order. main.ts calls it for the process; tests call
 * it to run real nodes in-process.
 */
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
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
import { SELF_SIGNED_VALIDITY_MS, SelfSignedIdentity } from './adapters/tls/self-signed-identity.js';
import type { BlobStore } from './ports/blob-store.js';
import type { LockManager } from './ports/lock-manager.js';
import type { StorageCatalog } from './ports/storage-catalog.js';
import { NodeMetrics } from './observability/metrics.js';
import { registerRuntimeMetrics } from './observability/runtime-metrics.js';
import { createLogger, withFields, type Logger } from './observability/logger.js';
import { PROMETHEUS_CONTENT_TYPE } from './http/routes/metrics.js';
import { buildServices } from './compose.js';
import { OrphanSweeper, type SweepReport } from './services/orphan-sweeper.js';
import { verifyStorageIdentity, type NamedStore } from './services/storage-identity.js';
import { attachWebSocket } from './http/websocket.js';
import { Membership } from './services/membership.js';
import { GuardedPeerClient } from './services/peer-health.js';
import { ReadConsistency } from './services/read-consistency.js';
import { ReplicaRoutedStore } from './adapters/metadata/read-routing.js';
import { parseMultiHostDsn } from './adapters/metadata/multi-host-dsn.js';
import { PostgresClusterStatus } from './adapters/metadata/cluster-status.js';
import { naming } from './startup-failure.js';
import { packageVersion } from './cli/command-line.js';

export interface RunningNode {
  readonly url: string;
  readonly port: number;
  readonly metricsUrl: string | null;
  readonly logger: Logger;
  /** The certificate (PEM) the listener presents now when it serves self-signed https; else null. */
  tlsCertificate(): string | null;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), closes adapters. */
  close(): Promise<void>;
}

const STARTUP_REPLICA_WAIT_MS = 30_000;
/** How often a self-signed identity checks whether its certificate is due for renewal. */
const TLS_RENEWAL_CHECK_MS = 10 * 60_000;

export async function startNode(config: Config, options: { logger?: Logger } = {}): Promise<RunningNode> {
  // Every line names the node and its region, whoever supplied the logger.
  const logger = withFields(options.logger ?? createLogger({ level: config.log.level, format: config.log.format }), {
    instance: config.instanceDiscovery.instanceId,
    region: config.instanceDiscovery.region,
  });
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => logger.warn('shutdown step failed', { error: String(error) }));
  };
  try {
    const { store: metadata, dsn: metadataDsn } = await openMetadata(config, logger, cleanups);
    const blobs = await openBlobStores(config, cleanups);
    // Before anything can write or sweep: the database and every store must be of one cluster.
    const stores = namedStores(config, blobs);
    await verifyStorageIdentity(metadata, stores, { adoptExisting: config.backend.adoptExistingStorage, logger });
    const { locks, lockHome } = await openLocks(config, cleanups, metadata);
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
    const stopRuntimeMetrics = registerRuntimeMetrics(metrics.registry, { version: packageVersion(), instance: discovery.instanceId, region: discovery.region });
    cleanups.push(async () => stopRuntimeMetrics());
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
    const peerCa = discovery.peerCaFile === null ? undefined : readFileSync(discovery.peerCaFile);
    const peerClient = new UndiciPeerClient({
      endpointOf: (id) => membership.endpointOf(id),
      certificatesOf: (id) => membership.certificatesOf(id),
      onRefused: (id, reason) => logger.warn('peer refused: it did not prove the TLS identity it announced', { peer: id, reason }),
      ...(peerCa ? { ca: peerCa } : {}),
    });
    const peers = new GuardedPeerClient(peerClient, {
      failureThreshold: discovery.peerFailureThreshold,
      openMs: discovery.peerOpenMs,
      probeIntervalMs: discovery.probeIntervalMs,
      probeTimeoutMs: Math.min(2000, Math.max(200, discovery.probeIntervalMs)),
      peerIds: () => membership.peerIds(),
    });
    cleanups.push(() => peers.close());
    const regionBuckets = openRegionBuckets(config, cleanups);
    const readDsns = config.metadataStore.type === 'postgres' && config.metadataStore.readDsn !== null ? [config.metadataStore.readDsn] : [];
    const clusterStatus = new PostgresClusterStatus(metadataDsn, { readDsns, source: `node ${discovery.instanceId}` });
    const services = buildServices({ config, metadata, blobs, locks, metrics, logger, peers, membership, regionBuckets, fencing, clusterStatus, peerNonces: metadata, ...(regionalReads ? { regionalReads } : {}) });
    cleanups.push(async () => services.cache.stop());
    const app = createApp(services.app, {
      instanceId: config.instanceDiscovery.instanceId,
      region: config.instanceDiscovery.region,
      tls: config.server.protocol === 'https',
      maxFileBytes: config.server.maxFileBytes,
      rateLimits: config.rateLimits,
      accessLog: config.log.accessLog,
    });

    if (config.sweeper.enabled) startSweeper(config, metadata, stores, metrics, logger, cleanups);
    else logger.info('the orphan sweeper is off (sweeper.enabled: false)');

    // Self-signed https: the certificate names the host peers use (that of the internal URL).
    const identity = config.server.tlsSelfSigned
      ? new SelfSignedIdentity({ host: discovery.internalUrl === null ? advertisedHost(config.server.listenHost) : new URL(discovery.internalUrl).hostname, validityMs: SELF_SIGNED_VALIDITY_MS })
      : null;
    const server = await naming('the listener', `${config.server.listenHost}:${config.server.listenPort}`, 'server.listen_addr', () =>
      listen(config, app.fetch, config.server.listenHost, config.server.listenPort, identity?.serving() ?? null),
    );
    attachWebSocket(server, services.app, config);
    const port = (server.address() as AddressInfo).port;
    // Shutdown runs these in reverse: stop accepting and drain, then leave the registry.
    cleanups.push(() => membership.stop());
    cleanups.push(() => closeServer(server, config.server.shutdownGraceMs));
    const scheme = config.server.protocol === 'https' ? 'https' : 'http';
    const url = `${scheme}://${hostForUrl(config.server.listenHost)}:${port}`;
    await membership.start({
      internalUrl: discovery.internalUrl ?? `${scheme}://${advertisedHost(config.server.listenHost)}:${port}`,
      version: packageVersion(),
      startedAt: new Date(),
      tlsCertificates: identity?.announced() ?? null,
    });
    if (identity !== null) {
      logger.info('serving https with a self-signed certificate announced to peers', { host: identity.host, sha256: identity.serving().fingerprint256 });
      renewCertificates(identity, server as HttpsServer, membership, logger, cleanups);
    }
    peers.start();
    services.app.replication.start();
    cleanups.push(() => services.app.replication.stop());

    let metricsUrl: string | null = null;
    if (config.metrics !== null) {
      const metricsApp = new Hono();
      metricsApp.get('/metrics', (c) => c.body(metrics.render(), 200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE }));
      const metricsServer = await listen({ ...config, server: { ...config.server, protocol: 'http' } }, metricsApp.fetch, config.metrics.listenHost, config.metrics.listenPort, null);
      metricsUrl = `http://${hostForUrl(config.metrics.listenHost)}:${(metricsServer.address() as AddressInfo).port}/metrics`;
      cleanups.push(() => closeServer(metricsServer, 1000));
    }
    logger.info('node started', { url, version: packageVersion(), node: process.version });
    let closing: Promise<void> | null = null;
    return { url, port, metricsUrl, logger, tlsCertificate: () => identity?.serving().cert ?? null, close: () => (closing ??= closeAll()) };
  } catch (error) {
    await closeAll();
    throw error;
  }
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
function namedStores(config: Config, blobs: { localfs: BlobStore | null; s3: BlobStore | null }): NamedStore[] {
  const stores: NamedStore[] = [];
  if (blobs.localfs !== null) stores.push({ name: `local disk ${config.backend.localfsRootPath ?? ''}`, store: blobs.localfs, setting: 'backend.localfs_root_path' });
  if (blobs.s3 !== null) stores.push({ name: `bucket ${config.backend.s3?.bucket ?? ''}`, store: blobs.s3, setting: 'backend.s3_bucket_name' });
  return stores;
}

/** The sweeper of a node's stores, with the configured grace and retention. */
function sweeperFor(config: Config, metadata: PostgresMetadataStore, stores: readonly NamedStore[], metrics: NodeMetrics | null, logger: Logger): OrphanSweeper {
  return new OrphanSweeper(
    metadata,
    metadata,
    stores,
    { graceMs: config.sweeper.graceMs, batchSize: 1000, usedLinkRetentionMs: 24 * 3600_000, quarantineRetentionMs: config.sweeper.quarantineRetentionMs },
    metrics,
    logger,
  );
}

/** Runs the orphan sweeper every `sweeper.interval`, one sweep at a time. */
function startSweeper(config: Config, metadata: PostgresMetadataStore, stores: readonly NamedStore[], metrics: NodeMetrics, logger: Logger, cleanups: Array<() => Promise<void>>): void {
  const sweeper = sweeperFor(config, metadata, stores, metrics, logger);
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    running ??= sweeper
      .sweep()
      .then(
        () => undefined,
        (error: unknown) => logger.warn('sweep failed', { error: String(error) }),
      )
      .finally(() => {
        running = null;
      });
  }, config.sweeper.intervalMs);
  timer.unref();
  cleanups.push(async () => {
    clearInterval(timer);
    await running;
  });
}

/**
 * One sweep of a node's stores by hand, outside the running node (for an admin command): with
 * `dryRun`, the list of what the sweeper would do and nothing done. Runs even with
 * `sweeper.enabled: false`; marks no store (a store without this cluster's marker is skipped and
 * reported). With the embedded default, the node must be stopped (its Postgres is started here).
 */
export async function sweepOnce(config: Config, options: { dryRun: boolean; logger?: Logger }): Promise<SweepReport> {
  const logger = options.logger ?? createLogger({ level: config.log.level, format: config.log.format });
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const { store: metadata } = await openMetadata(config, logger, cleanups);
    const stores = namedStores(config, await openBlobStores(config, cleanups));
    return await sweeperFor(config, metadata, stores, null, logger).sweep({ dryRun: options.dryRun });
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
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

type FetchHandler = (request: Request, env: Record<string, unknown>) => Response | Promise<Response>;

/** Renews a self-signed certificate while the node runs: the successor is announced long before it is served. */
function renewCertificates(identity: SelfSignedIdentity, server: HttpsServer, membership: Membership, logger: Logger, cleanups: Array<() => Promise<void>>): void {
  const timer = setInterval(() => {
    const change = identity.tick();
    if (change === 'none') return;
    if (change === 'switched') server.setSecureContext(identity.serving());
    logger.info(change === 'switched' ? 'now serving the renewed self-signed certificate' : 'announced the successor of the self-signed certificate', { sha256: identity.serving().fingerprint256 });
    membership.announceCertificates(identity.announced()).catch((error: unknown) => logger.warn('announcing the renewed certificate failed', { error: String(error) }));
  }, TLS_RENEWAL_CHECK_MS);
  timer.unref();
  cleanups.push(async () => clearInterval(timer));
}

/** `selfSigned`: the key and certificate of `server.tls_self_signed`; otherwise https reads the configured files. */
function listen(config: Config, fetch: FetchHandler, hostname: string, port: number, selfSigned: { cert: string; key: string } | null): Promise<Server> {
  return new Promise((resolve, reject) => {
    const files = config.server.protocol === 'https' && config.server.certFile !== null && config.server.keyFile !== null;
    const serverOptions = selfSigned !== null ? { cert: selfSigned.cert, key: selfSigned.key } : files ? { cert: readFileSync(config.server.certFile ?? ''), key: readFileSync(config.server.keyFile ?? '') } : null;
    const server = serve({
      fetch,
      hostname,
      port,
      ...(serverOptions === null ? {} : { createServer: createHttpsServer, serverOptions }),
    }) as Server;
    // A client that goes away makes its request emit 'error'; whoever reads the body handles it,
    // and a body nobody reads must not turn that into an uncaught exception.
    server.on('request', (request: IncomingMessage) => request.on('error', ignore));
    // Stalled clients: headers must arrive within headers_timeout; after that a connection on which
    // nothing moves for body_idle_timeout is cut (an upload that stops sending fails, releasing
    // its path lock and temp file). No whole-transfer cap: large files work. WebSockets have
    // their own idle timeout (http/websocket.ts).
    server.headersTimeout = config.server.headersTimeoutMs;
    server.requestTimeout = 0;
    server.timeout = config.server.bodyIdleTimeoutMs;
    server.keepAliveTimeout = Math.min(120_000, config.server.bodyIdleTimeoutMs);
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

/** The host peers should use when nothing is configured: a wildcard listener offers the first external IPv4. */
function advertisedHost(listenHost: string): string {
  if (listenHost !== '' && listenHost !== '0.0.0.0' && listenHost !== '::') return hostForUrl(listenHost);
  for (const addresses of Object.values(networkInterfaces())) {
    const external = addresses?.find((a) => a.family === 'IPv4' && !a.internal);
    if (external !== undefined) return external.address;
  }
  return '127.0.0.1';
}

function hostForUrl(host: string): string {
  if (host === '' || host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
