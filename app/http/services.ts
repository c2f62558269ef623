/** @module The services the HTTP layer calls, assembled by the composition root (compose.ts). */
import type { ClusterStatus } from '../ports/cluster-status.js';
import type { Authenticator } from '../services/authenticator.js';
import type { DirectoryService } from '../services/directories.js';
import type { FileService } from '../services/files.js';
import type { HealthService } from '../services/health.js';
import type { EpochView } from '../services/epoch-watch.js';
import type { LinkService } from '../services/links.js';
import type { MoveService } from '../services/moves.js';
import type { Placement } from '../services/placement.js';
import type { NodeMetrics } from '../observability/metrics.js';
import type { Logger } from '../observability/logger.js';
import type { SignedPeerClient } from '../services/signed-peer-client.js';
import type { ClusterReport } from '../services/membership.js';
import type { ReplicationService } from '../services/replication.js';
import type { ShardService } from '../services/shards.js';
import type { ReadConsistency } from '../services/read-consistency.js';

export interface AppServices {
  /** Where a request on a file is served: here, or forwarded to the node holding its bytes. */
  readonly placement: Placement;
  readonly files: FileService;
  readonly moves: MoveService;
  readonly directories: DirectoryService;
  readonly links: LinkService;
  readonly health: HealthService;
  /**
   * The node's view of the fencing epoch and lock home, and whether writes can commit now
   * (`writeBlocker`: `unreachable` during a home outage, `fenced` on a fenced primary); null when
   * not watched.
   */
  readonly fencing: { view(): EpochView; writeBlocker(): 'unreachable' | 'fenced' | null } | null;
  readonly authenticator: Authenticator;
  readonly metrics: NodeMetrics;
  readonly logger: Logger;
  /** Region of a node of the cluster (this node's region when unknown). */
  readonly peerRegionOf: (instanceId: string) => string;
  /** Base URL of a peer node by instance id (for CallFS's `update_url`), if known. */
  readonly peerEndpointOf: (instanceId: string) => string | undefined;
  /** This node's instance id and region (for `X-CallFS-Served-By`). */
  readonly instanceId: string;
  readonly region: string;
  /** Read-your-writes when metadata reads come from a regional replica; null without one. */
  readonly consistency: ReadConsistency | null;
  /** CallFS's internal erasure-shard store. */
  readonly shards: ShardService;
  /** Copies of local-disk files on other nodes. */
  readonly replication: ReplicationService;
  /** Members of the cluster and their health (`GET /v1/cluster`). */
  readonly cluster: { report(): Promise<ClusterReport> };
  /** Signs every call to another node and verifies every call from one (the only holder of the internal secret). */
  readonly peers: SignedPeerClient;
  /** The whole cluster's status from its database (`GET /v1/admin/status`); null when not wired. */
  readonly clusterStatus: { read(): Promise<ClusterStatus> } | null;
}

export interface AppOptions {
  readonly instanceId: string;
  readonly region: string;
  /** True when the listener is TLS (adds Strict-Transport-Security). */
  readonly tls: boolean;
  readonly maxFileBytes: number;
  /** One info line per request (method, route, status, bytes, duration, caller, request id). */
  readonly accessLog: boolean;
  readonly rateLimits: {
    readonly linkGeneratePerSec: number;
    readonly linkGenerateBurst: number;
    readonly downloadPerSec: number;
    readonly downloadBurst: number;
  };
}
