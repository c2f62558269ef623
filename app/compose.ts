/**
 * @module The composition root: `composeNode` builds a node's whole object graph from its opened
 * adapters (no I/O of its own beyond the first read of the fencing epoch): metrics, the fencing
 * epoch watch, cluster membership, the guarded peer transport and the signed peer client (the
 * only holder of the internal secret), every service, and the Hono app. node.ts runs it on the
 * real adapters (open-adapters.ts) and then listens and starts; test/support/memory-node.ts runs
 * it on the memory adapters and serves the app in-process. Starting and stopping the pieces is
 * the caller's, in the order its process needs.
 */
import type { Hono } from 'hono';
import { createApp } from './app.js';
import type { ClusterStatusSource } from './ports/cluster-status.js';
import type { Config } from './config/config.js';
import type { HonoEnv } from './http/env.js';
import type { AppServices } from './http/services.js';
import type { Logger } from './observability/logger.js';
import { NodeMetrics } from './observability/metrics.js';
import type { BlobStore } from './ports/blob-store.js';
import type { EpochSource, LockHomeControl, PrimaryCandidates } from './ports/fencing.js';
import type { LockManager } from './ports/lock-manager.js';
import type { ClusterRegistry } from './ports/cluster-registry.js';
import type { MetadataStore } from './ports/metadata-store.js';
import type { PeerClient } from './ports/peer-client.js';
import { Membership } from './services/membership.js';
import { GuardedPeerClient } from './services/peer-health.js';
import type { ReplicaStore } from './ports/replica-store.js';
import type { StorageCatalog } from './ports/storage-catalog.js';
import { ReplicationService } from './services/replication.js';
import { PeerBytes } from './services/peer-bytes.js';
import { ShardService } from './services/shards.js';
import type { ReadConsistency } from './services/read-consistency.js';
import { Authenticator } from './services/authenticator.js';
import { DirectoryService } from './services/directories.js';
import { EntryCache } from './services/entry-cache.js';
import { FileService } from './services/files.js';
import { HealthService, type DependencyCheck } from './services/health.js';
import { AppError } from './errors/app-error.js';
import { EpochWatch } from './services/epoch-watch.js';
import { LinkService } from './services/links.js';
import { MoveService } from './services/moves.js';
import { Placement } from './services/placement.js';
import { SignedPeerClient } from './services/signed-peer-client.js';
import type { PeerNonceStore } from './ports/peer-nonces.js';
import type { NamedStore } from './services/storage-identity.js';

/** Where the possibly-stale reads of GET/HEAD and listings go, with read-your-writes deciding per request. */
export interface RegionalReads {
  readonly store: MetadataStore;
  readonly consistency: ReadConsistency;
  /** The replica's copy of the replica rows, read like `store` (replica unless the request needs the primary). */
  readonly replicas?: ReplicaStore;
  /** Read readiness fails while the replica's replay lag is above this. */
  readonly maxLagMs?: number;
  /** Where the epoch watch reads the epoch row when the primary cannot be used (epoch-watch.ts). */
  readonly epochFallback?: { readonly source: EpochSource; readonly candidates: PrimaryCandidates };
}

/** Who is where in the cluster, as the peer transport needs it (Membership answers it). */
export interface PeerDirectory {
  endpointOf(instanceId: string): string | undefined;
  certificatesOf(instanceId: string): string | undefined;
}

/** What a node runs on, already opened: the real adapters (open-adapters.ts) or memory ones. */
export interface NodeAdapters {
  readonly metadata: MetadataStore & ReplicaStore & ClusterRegistry & StorageCatalog & PeerNonceStore & EpochSource;
  readonly blobs: { readonly localfs: BlobStore | null; readonly s3: BlobStore | null };
  /** The node's own stores, named as an operator would name them (sweeper, storage identity). */
  readonly stores: readonly NamedStore[];
  readonly locks: LockManager;
  /** Moves the locks to the epoch row's `lock_home`; null when they cannot move (then `lockHomeIgnoredBecause` says why). */
  readonly lockHome: LockHomeControl | null;
  readonly lockHomeIgnoredBecause: string;
  /** The transport to the other nodes, finding them through `directory`. */
  readonly peerTransport: (directory: PeerDirectory) => PeerClient;
  /** The region's read replica; absent when every read goes to `metadata`. */
  readonly regionalReads?: RegionalReads;
  /** Other regions' S3 buckets by region name, for read-through. */
  readonly regionBuckets?: ReadonlyMap<string, BlobStore>;
  /** Reads the cluster's status for `GET /v1/admin/status` (admin keys only). */
  readonly clusterStatus?: ClusterStatusSource;
}

/** A node's object graph, built and not yet started (membership, peers and replication start once it is reachable). */
export interface ComposedNode {
  readonly app: Hono<HonoEnv>;
  readonly services: AppServices;
  /** The entry cache (already started); stop it when the node stops. */
  readonly cache: EntryCache;
  readonly metrics: NodeMetrics;
  /** The fencing epoch watch (already settled and started); stop it when the node stops. */
  readonly fencing: EpochWatch;
  readonly membership: Membership;
  /** The transport to the other nodes with its health checks (start it once the node is reachable). */
  readonly peers: GuardedPeerClient;
}

/** Builds a node's object graph on `adapters` (see the module comment). */
export async function composeNode(config: Config, adapters: NodeAdapters, logger: Logger): Promise<ComposedNode> {
  const { metadata, locks } = adapters;
  const discovery = config.instanceDiscovery;
  const fencing = new EpochWatch(
    metadata,
    {
      intervalMs: discovery.heartbeatMs,
      lockHome: adapters.lockHome,
      lockHomeIgnoredBecause: adapters.lockHomeIgnoredBecause,
      fallback: adapters.regionalReads?.epochFallback ?? null,
    },
    logger,
  );
  await fencing.settle();
  fencing.start();
  const metrics = new NodeMetrics(() => locks.activeCount());
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
  const peers = new GuardedPeerClient(adapters.peerTransport(membership), {
    failureThreshold: discovery.peerFailureThreshold,
    openMs: discovery.peerOpenMs,
    probeIntervalMs: discovery.probeIntervalMs,
    probeTimeoutMs: Math.min(2000, Math.max(200, discovery.probeIntervalMs)),
    peerIds: () => membership.peerIds(),
  });
  const { app: services, cache } = buildServices({
    config,
    metadata,
    blobs: adapters.blobs,
    locks,
    metrics,
    logger,
    peers,
    membership,
    fencing,
    peerNonces: metadata,
    ...(adapters.regionalReads === undefined ? {} : { regionalReads: adapters.regionalReads }),
    ...(adapters.regionBuckets === undefined ? {} : { regionBuckets: adapters.regionBuckets }),
    ...(adapters.clusterStatus === undefined ? {} : { clusterStatus: adapters.clusterStatus }),
  });
  const app = createApp(services, {
    instanceId: discovery.instanceId,
    region: discovery.region,
    tls: config.server.protocol === 'https',
    maxFileBytes: config.server.maxFileBytes,
    rateLimits: config.rateLimits,
    accessLog: config.log.accessLog,
  });
  return { app, services, cache, metrics, fencing, membership, peers };
}

interface ServiceParts {
  readonly config: Config;
  readonly metadata: MetadataStore & ReplicaStore;
  readonly blobs: { readonly localfs: BlobStore | null; readonly s3: BlobStore | null };
  readonly locks: LockManager;
  readonly metrics: NodeMetrics;
  readonly logger: Logger;
  readonly peers: GuardedPeerClient;
  readonly membership: Membership;
  readonly regionalReads?: RegionalReads;
  readonly regionBuckets?: ReadonlyMap<string, BlobStore>;
  readonly fencing: EpochWatch;
  /** Cluster-wide nonces of signed peer calls, so a call replayed to another node is refused too. */
  readonly peerNonces: PeerNonceStore;
  readonly clusterStatus?: ClusterStatusSource;
}

/** The services the HTTP layer calls, with the signed peer client as the only holder of the internal secret. */
function buildServices(parts: ServiceParts): { app: AppServices; cache: EntryCache } {
  const { config, metadata, blobs, locks, metrics, logger, fencing } = parts;
  const reads = parts.regionalReads;
  // Entries read from a replica lag behind the change feed, so they are not cached.
  const cache = new EntryCache(reads?.store ?? metadata, metrics, { maxEntries: reads === undefined ? config.cache.maxEntries : 0, ttlMs: config.cache.ttlMs });
  cache.start();
  const { membership, peers } = parts;
  const signedPeers = new SignedPeerClient({
    secret: config.auth.internalProxySecret,
    self: config.instanceDiscovery.instanceId,
    peers,
    nonces: parts.peerNonces,
    logger,
  });
  // Every probe's answer names the peer's incarnation: known before the first call to it.
  peers.onProbeAnswer((id, headers) => signedPeers.heard(id, headers));
  const isUp = (id: string): boolean => membership.endpointOf(id) !== undefined && peers.health(id).state === 'closed';
  const replicating = config.replication.factor > 1;
  const files = new FileService({
    metadata,
    cache,
    blobs,
    locks,
    telemetry: metrics,
    instanceId: config.instanceDiscovery.instanceId,
    defaultBackend: config.backend.defaultBackend,
    lockWaitMs: config.server.lockWaitMs,
    onFenced: () => fencing.fenced(),
    epoch: () => fencing.view().epoch,
    s3Origins:
      parts.regionBuckets !== undefined && parts.regionBuckets.size > 0
        ? { ownRegion: config.instanceDiscovery.region, regionOf: (id) => membership.regionOf(id), storeFor: (region) => parts.regionBuckets?.get(region) ?? null }
        : undefined,
    remoteBytes: new PeerBytes(signedPeers, isUp),
    replicaReads: replicating
      ? {
          // Read where the entry was read: during a home outage the primary cannot answer.
          currentReplicas: (path, version) => (reads?.replicas !== undefined && !reads.consistency.prefersPrimary() ? reads.replicas : metadata).currentReplicas(path, version),
          isUp,
          regionOf: (id) => membership.regionOf(id),
          distanceTo: (region) => regionDistance(config, region),
        }
      : undefined,
  });
  const replication = new ReplicationService(
    {
      context: files.context,
      replicas: metadata,
      peers: signedPeers,
      view: { peerIds: () => membership.peerIds(), regionOf: (id) => membership.regionOf(id), isUp, downSince: (id) => peers.health(id).downSince },
      logger,
    },
    config.replication,
  );
  files.onWritten((entry) => replication.afterWrite(entry));
  const bytes: DependencyCheck[] = [
    ...(blobs.localfs ? [{ name: 'localfs', check: () => blobs.localfs?.ping() ?? Promise.resolve() }] : []),
    ...(blobs.s3 ? [{ name: 's3', check: () => blobs.s3?.ping() ?? Promise.resolve() }] : []),
  ];
  const dependencies: DependencyCheck[] = [
    // Without a regional replica the primary serves the reads too.
    { name: 'metadata', check: () => metadata.ping(), roles: reads === undefined ? ['read', 'write'] : ['write'] },
    ...(reads === undefined ? [] : [{ name: 'replica', check: () => replicaWithinBound(reads.consistency, reads.maxLagMs ?? DEFAULT_REPLICA_MAX_LAG_MS), roles: ['read'] as const }]),
    { name: 'locks', check: () => locks.ping(), roles: ['write'] },
    { name: 'fencing', check: () => fencing.assertWritable(), roles: ['write'] },
    ...bytes,
  ];
  const app: AppServices = {
    placement: new Placement(files.context, signedPeers.canCall),
    files,
    moves: new MoveService(files.context),
    directories: new DirectoryService(reads?.store ?? metadata),
    consistency: reads?.consistency ?? null,
    links: new LinkService(files.context, metadata, metrics, config.auth.singleUseLinkSecret, linkBaseUrl(config.server.externalUrl)),
    health: new HealthService(dependencies),
    fencing,
    authenticator: new Authenticator({
      users: config.auth.users,
      internalSecretAsBearer: config.auth.acceptInternalSecretAsBearer ? (header) => signedPeers.isInternalSecret(header) : null,
      adminUserIds: config.auth.adminUserIds,
    }),
    metrics,
    logger,
    peerEndpointOf: (instanceId) => parts.membership.endpointOf(instanceId),
    peerRegionOf: (instanceId) => parts.membership.regionOf(instanceId),
    replication,
    shards: new ShardService(blobs.localfs ?? blobs.s3),
    cluster: { report: () => parts.membership.report((id) => parts.peers.health(id)) },
    clusterStatus: parts.clusterStatus === undefined ? null : { read: () => parts.clusterStatus?.read({ replicationFactor: config.replication.factor }) ?? Promise.reject(new Error('no status source')) },
    instanceId: config.instanceDiscovery.instanceId,
    region: config.instanceDiscovery.region,
    peers: signedPeers,
  };
  return { app, cache };
}

/** Read readiness's lag bound when the config gives none. */
export const DEFAULT_REPLICA_MAX_LAG_MS = 30_000;

/**
 * The regional replica answers and has replayed what it received to within `maxLagMs`. A replica
 * cut off from its primary (a home outage) has replayed everything it has and stays ready: its
 * reads are as fresh as the outage allows, and a read with a newer token is answered REPLICA_BEHIND.
 */
async function replicaWithinBound(consistency: ReadConsistency, maxLagMs: number): Promise<void> {
  const lagMs = await consistency.replicaLagMs();
  if (lagMs > maxLagMs) throw new AppError('REPLICA_BEHIND', `the region's replica replays ${lagMs} ms behind (bound ${maxLagMs} ms)`);
}

/** CallFS's link URL rule: `http://` keeps http, anything else is https; trailing `/` dropped. */
export function linkBaseUrl(externalUrl: string): string {
  const trimmed = externalUrl.replace(/\/+$/, '');
  if (trimmed.startsWith('http://') || trimmed.startsWith('https://')) return trimmed;
  return `https://${trimmed}`;
}

/** Round trip to `region` from this node's: 0 for its own, the configured table, else far (10 s). */
export function regionDistance(config: Config, region: string): number {
  if (region === config.instanceDiscovery.region) return 0;
  return config.instanceDiscovery.regionRttMs[region] ?? 10_000;
}
