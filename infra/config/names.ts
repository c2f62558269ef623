/**
 * @module Deterministic names: stack names, physical names other regions refer to (database
 * identifiers, secret names, SSM parameter paths) and hostnames. Regions find each other's
 * resources through these names, never through CDK cross-region references, so a stack can be
 * deployed, replaced or removed without another stack's template changing under it.
 */
import type { Region } from '../../regions/schema.js';

export const STACK_PREFIX = 'GeoCallfs';
export const GLOBAL_STACK_NAME = `${STACK_PREFIX}-Global`;
/**
 * The shared secrets (API keys, proxy and link secrets, Redis token, database credentials) live in
 * a stack of their own in the founding region's AWS region, so a home move never touches them and
 * a new region's replicas can be added before its stack is deployed.
 */
export const SECRETS_STACK_NAME = `${STACK_PREFIX}-Secrets`;
/** Route 53 is global, but its health-check metrics (and so alarms on them) live in us-east-1. */
export const GLOBAL_STACK_REGION = 'us-east-1';

/** `GeoCallfs-eu`: `npx cdk deploy GeoCallfs-eu` deploys exactly the region in `regions/eu.ts`. */
export function regionStackName(region: Pick<Region, 'name'>): string {
  return `${STACK_PREFIX}-${region.name}`;
}

/** The port every node listens on inside its VPC (load balancer → node, node ↔ node). */
export const NODE_PORT = 8080;
export const DATABASE_PORT = 5432;
export const LOCK_CACHE_PORT = 6379;
export const DATABASE_NAME = 'callfs';
export const DATABASE_USER = 'callfs';
/** Where the Dockerfile puts the RDS certificate bundle, so the node verifies the database's certificate. */
export const RDS_CA_BUNDLE_PATH = '/etc/ssl/certs/rds-global-bundle.pem';

/** RDS instance identifier of a region's Postgres; the replicas name their source by it. */
export function databaseIdentifier(region: Pick<Region, 'name'>): string {
  return `geo-callfs-metadata-${region.name}`;
}

/** ElastiCache replication group id of a region's Redis (at most 40 characters). */
export function lockCacheId(region: Pick<Region, 'name'>): string {
  return `geo-callfs-locks-${region.name}`;
}

/**
 * Secrets shared by every region: created in the home region and replicated by Secrets Manager
 * to every other region under the same name. No name ends in a dash and six characters, which
 * Secrets Manager would confuse with the random suffix of a full ARN.
 */
export const SECRET_NAMES = {
  databaseCredentials: 'geo-callfs/metadata-db',
  apiKeys: 'geo-callfs/api-keys',
  internalProxySecret: 'geo-callfs/internal-proxy',
  singleUseLinkSecret: 'geo-callfs/link-signing',
  lockCacheAuthToken: 'geo-callfs/lock-cache-token',
} as const;

/**
 * KMS alias of the key that encrypts a region's database storage; the primary's automated backups
 * replicated into that region are encrypted with it (found by this name, not by a reference).
 */
export function databaseKeyAlias(region: Pick<Region, 'name'>): string {
  return `alias/geo-callfs-metadata-${region.name}`;
}

/** The values each region publishes in SSM Parameter Store of its own AWS region. */
export type PublishedValue =
  | 'vpc-id'
  | 'route-table-ids'
  | 'metadata-endpoint'
  | 'lock-cache-endpoint'
  | 'bucket-name'
  | 'load-balancer-dns'
  /** ECS cluster and service of the region's nodes (generated names), read by the AWS drill provider. */
  | 'node-cluster-name'
  | 'node-service-name'
  /** The drill SQL runner (infra/constructs/drill-sql-runner.ts): task definition ARN, subnets (comma-separated), security group, log group. */
  | 'drill-sql-task-definition'
  | 'drill-sql-subnets'
  | 'drill-sql-security-group'
  | 'drill-sql-log-group';

/** `/geo-callfs/eu/metadata-endpoint`: readable by the other regions' stacks at deploy time. */
export function parameterName(region: Pick<Region, 'name'>, value: PublishedValue): string {
  return `/geo-callfs/${region.name}/${value}`;
}

/** `eu.files.example.com`: the region's own hostname, for drills and debugging. */
export function regionHostname(region: Pick<Region, 'name'>, globalHostname: string): string {
  return `${region.name}.${globalHostname}`;
}
