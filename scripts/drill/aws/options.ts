/**
 * @module What the AWS drill provider is given: the deployment's DNS settings and regions, how a
 * region is withdrawn, the SQL, Redis and HTTP clients tests substitute, and its timings, with
 * the defaults every other part of the provider reads.
 */
import type { Region } from '../../../regions/schema.js';
import type { DnsSettings } from '../../../infra/config/settings.js';
import type { AwsCallsOptions } from './aws-calls.js';
import { DEFAULT_DATABASE_TIMINGS, type DatabaseTimings } from './databases.js';
import type { EpochSql } from './epoch-sql.js';
import type { SqlReach, SqlVia } from './sql-reach.js';
import type { EcsSqlTimings } from './sql-reach-ecs.js';
import type { LockHomeRedis } from './lock-home-redis.js';

/** Path a withdrawn region's health check probes in `resource-path` mode: no node answers it with 2xx/3xx. */
export const WITHDRAWN_PATH = '/geo-callfs-drill-withdrawn';

/** Regions that serve the MRAP routing-control API (S3 UG, "failover controls"). */
export const MRAP_CONTROL_REGIONS = ['us-east-1', 'us-west-2', 'ap-southeast-2', 'ap-northeast-1', 'eu-west-1'] as const;

/** Route 53 calls per second the provider allows itself (the account's documented rate is 10, shared by every caller). */
export const DEFAULT_ROUTE53_RATE = 5;

export interface ProviderTimings extends DatabaseTimings {
  /** From TestFailover until the replication group is available again. */
  readonly redisTimeoutMs: number;
  /** From StopTask until the service runs its desired count again. */
  readonly nodeReplaceTimeoutMs: number;
}

export const DEFAULT_TIMINGS: ProviderTimings = { ...DEFAULT_DATABASE_TIMINGS, redisTimeoutMs: 15 * 60_000, nodeReplaceTimeoutMs: 10 * 60_000 };

export interface AwsProviderOptions extends AwsCallsOptions {
  /** The hosted zone and the global hostname: infra's settings (`settingsFromContext(...).dns`). */
  readonly dns: Pick<DnsSettings, 'hostedZoneId' | 'globalHostname'>;
  /** @default REGIONS of regions/ */
  readonly regions?: readonly Region[];
  /**
   * How a region is taken out of the answers. `invert`: the health check of its latency record
   * is inverted. Sticky only while the region's `healthCheckPath` succeeds: a region whose
   * health path fails (nodes up, dependencies down) reads healthy once inverted and comes back
   * into the answers. `resource-path`: the check probes WITHDRAWN_PATH instead, which fails in
   * every state of the region.
   * @default 'invert'
   */
  readonly withdrawBy?: 'invert' | 'resource-path';
  /** Per region name, a client address (`ip` or `ip/mask`) in that region for TestDNSAnswer. */
  readonly clientSubnets?: Readonly<Record<string, string>>;
  /** ARN of an S3 Multi-Region Access Point over the regions' buckets (infra creates none). */
  readonly mrapArn?: string;
  /** Account of the MRAP; default: the one in `mrapArn`. */
  readonly accountId?: string;
  /** Where SubmitMultiRegionAccessPointRoutes is sent, tried in order. */
  readonly mrapControlRegions?: readonly string[];
  /** The epoch row SQL (default: batches through the SQL reach, `sqlVia`). */
  readonly sql?: EpochSql;
  /**
   * Where the drill's SQL runs (./sql-reach.ts): `ecs`, a one-shot task of the region's drill SQL
   * runner inside its VPC; `direct`, a connection from here (a bastion or VPN); `auto`, `ecs` in
   * the regions that publish the runner and `direct` elsewhere.
   * @default 'auto'
   */
  readonly sqlVia?: SqlVia;
  /** The SQL reach itself (replaces `sqlVia`). */
  readonly sqlReach?: SqlReach;
  /** Polling and timeouts of the ECS runner tasks. */
  readonly ecsSqlTimings?: Partial<EcsSqlTimings>;
  /** PEM of the CA bundle database certificates must chain to; default: read from `caBundlePath`. */
  readonly caBundle?: string;
  /** @default RDS_CA_BUNDLE_PATH (where the node image ships the RDS bundle) */
  readonly caBundlePath?: string;
  /** Secret with the administrative database credentials the drill's SQL uses. @default SECRET_NAMES.databaseCredentials */
  readonly adminSecret?: string;
  /** The nodes' database role, whose write path the fence revokes. @default DATABASE_USER */
  readonly appRole?: string;
  /** Port of the node containers (`/health?details`). @default NODE_PORT */
  readonly nodePort?: number;
  /**
   * Scheme of the node containers. The deployment's nodes serve HTTPS with a self-signed
   * certificate (`server.tls_self_signed`), which this unauthenticated health read does not
   * verify (it sends nothing secret and only decides whether a task counts as ready).
   * @default 'https'
   */
  readonly nodeScheme?: 'http' | 'https';
  /** @default DEFAULT_ROUTE53_RATE */
  readonly route53RequestsPerSecond?: number;
  readonly lockHome?: LockHomeRedis;
  /** @default DEFAULT_LOCK_KEY_PREFIX */
  readonly lockKeyPrefix?: string;
  /** Backup retention of a promoted replica that has none of its own (the stacks' primary keeps 14 days). */
  readonly backupRetentionDays?: number;
  readonly timings?: Partial<ProviderTimings>;
  /** HTTP client of probeWrite. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Warnings that do not fail an operation. @default stderr */
  readonly log?: (line: string) => void;
}
