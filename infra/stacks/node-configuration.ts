/**
 * @module The configuration a region's nodes start with: their `CALLFS_` environment written as
 * typed configuration keys (app/config/node-environment.ts derives the variable names from the
 * node's schema, so a renamed key fails the typecheck here), the secrets they read from Secrets
 * Manager, and the Postgres DSNs they write and read through.
 */
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { nodeEnvironment, nodeVariables } from '../../app/config/node-environment.js';
import type { Region } from '../../regions/schema.js';
import { DATABASE_NAME, DATABASE_PORT, DATABASE_USER, LOCK_CACHE_PORT, NODE_PORT, RDS_CA_BUNDLE_PATH } from '../config/names.js';
import type { SharedSecrets } from '../constructs/shared-secrets.js';

/** Addresses the nodes of a region reach, known at synth time or as deploy-time tokens. */
export interface NodeEndpoints {
  /** Whether the region is the home region (its database is the primary, its Redis the lock home). */
  readonly isHome: boolean;
  /** The metadata primary's address (this region's database in the home region). */
  readonly primary: string;
  /** This region's own database (the primary at home, a read replica elsewhere). */
  readonly local: string;
  /** The lock home Redis (the home region's lock cache). */
  readonly lockHome: string;
}

export interface NodeConfigurationProps {
  readonly region: Region;
  /** The other regions of the deployment, whose buckets the nodes read through. */
  readonly others: readonly Region[];
  readonly bucketOf: (region: Region) => string;
  readonly globalHostname: string;
  readonly endpoints: NodeEndpoints;
}

/**
 * The DSNs of the metadata store. The nodes write to the primary; elsewhere the DSN also lists the
 * local replica, which the node follows once it is promoted. Reads go to the region's own replica
 * where the node supports a read DSN (the key is ignored by nodes that do not); in the home region
 * the primary serves them. The password comes from PGPASSWORD, never from a DSN.
 */
export function nodeDsns(endpoints: NodeEndpoints): { readonly dsn: string; readonly readDsn: string | undefined } {
  const tls = `sslmode=verify-full&sslrootcert=${RDS_CA_BUNDLE_PATH}`;
  const database = `${DATABASE_PORT}/${DATABASE_NAME}`;
  if (endpoints.isHome) return { dsn: `postgres://${DATABASE_USER}@${endpoints.primary}:${database}?${tls}`, readDsn: undefined };
  return {
    dsn: `postgres://${DATABASE_USER}@${endpoints.primary}:${DATABASE_PORT},${endpoints.local}:${database}?target_session_attrs=read-write&${tls}`,
    readDsn: `postgres://${DATABASE_USER}@${endpoints.local}:${database}?${tls}`,
  };
}

/** The nodes' non-secret environment. */
export function nodeEnvironmentOf(props: NodeConfigurationProps): Record<string, string> {
  const { region, others, bucketOf, globalHostname, endpoints } = props;
  const { dsn, readDsn } = nodeDsns(endpoints);
  return {
    ...nodeEnvironment({
      // HTTPS with a self-signed certificate announced to peers: NodeCluster sets it (NODE_TLS_ENVIRONMENT).
      server: { listen_addr: `:${NODE_PORT}`, external_url: `https://${globalHostname}` },
      log: { format: 'json' },
      metadata_store: { type: 'postgres', dsn, read_dsn: readDsn },
      dlm: { type: 'redis', redis_addr: `${endpoints.lockHome}:${LOCK_CACHE_PORT}`, redis_tls: 'true' },
      backend: {
        default_backend: 's3',
        s3_bucket_name: bucketOf(region),
        s3_region: region.awsRegion,
        // Task disks are ephemeral: no file lives on a node's local disk.
        localfs_root_path: '',
      },
      instance_discovery: { region: region.name },
    }),
    // The other regions' buckets, for reads whose copy has not replicated here yet.
    ...nodeEnvironment({
      backend: { s3_region_buckets: Object.fromEntries(others.map((o) => [o.name, { bucket: bucketOf(o), region: o.awsRegion }])) },
    }),
  };
}

/** The nodes' secrets, each read by ECS from Secrets Manager into the environment at start. */
export function nodeSecretsOf(secrets: SharedSecrets): Record<string, ecs.Secret> {
  return {
    ...nodeVariables(
      {
        auth: {
          api_keys: ecs.Secret.fromSecretsManager(secrets.apiKeys),
          internal_proxy_secret: ecs.Secret.fromSecretsManager(secrets.internalProxySecret),
          single_use_link_secret: ecs.Secret.fromSecretsManager(secrets.singleUseLinkSecret),
        },
        dlm: { redis_password: ecs.Secret.fromSecretsManager(secrets.lockCacheAuthToken) },
      },
      isSecret,
    ),
    PGPASSWORD: ecs.Secret.fromSecretsManager(secrets.databaseCredentials, 'password'),
  };
}

function isSecret(value: unknown): value is ecs.Secret {
  return typeof value === 'object' && value !== null && 'arn' in value && 'grantRead' in value;
}
