/**
 * @module The CallFS-style YAML of each rehearsal node. Every node writes metadata to the writable
 * primary among the regions' servers (`metadata_store.dsn` lists them all, home first) and reads from its own region's streaming replica
 * (`metadata_store.read_dsn`, with read-your-writes tokens); the home region has a replica of its
 * own for this. It takes locks at the lock home (the home region's Redis), lists every other node
 * as a static peer with its region, and keeps two copies of each local-disk file. New files go to
 * its region's S3 server (or, with `REHEARSAL_BACKEND=localfs`, to its disk); the other regions'
 * buckets are listed in `s3_region_buckets`, for reads through to the bucket a file was written in
 * while the replication has not brought it to this region yet.
 */
import { join } from 'node:path';
import type { Credentials } from '../local-credentials.js';
import { allNodes, rttBetween, type NodePlan, type RegionPlan, type RehearsalPlan } from './topology.js';

export type { Credentials } from '../local-credentials.js';

/** S3rver's fixed credentials. */
export const S3_ACCESS_KEY = 'S3RVER';
export const S3_SECRET_KEY = 'S3RVER';

function quote(value: string): string {
  return JSON.stringify(value);
}

export function nodeYaml(plan: RehearsalPlan, region: RegionPlan, node: NodePlan, creds: Credentials, nodeDir: string): string {
  const peers = allNodes(plan).filter((peer) => peer.id !== node.id);
  return [
    'server:',
    `  listen_addr: ${quote(`${node.ip}:${node.port}`)}`,
    '  protocol: http',
    `  external_url: ${quote(`http://${plan.globalHostname}:${node.port}`)}`,
    '  shutdown_grace_period: 5s',
    'auth:',
    `  api_keys: [${quote(creds.api_key)}]`,
    `  admin_api_keys: [${quote(creds.api_key)}]`,
    `  internal_proxy_secret: ${quote(creds.internal_proxy_secret)}`,
    `  single_use_link_secret: ${quote(creds.single_use_link_secret)}`,
    'log:',
    '  level: info',
    '  format: console',
    'metadata_store:',
    `  dsn: ${quote(plan.metadataDsn)}`,
    `  read_dsn: ${quote(region.replicaDsn)}`,
    'dlm:',
    `  redis_addr: ${quote(plan.lockRedisAddr)}`,
    'backend:',
    `  default_backend: ${plan.options.backend}`,
    `  localfs_root_path: ${quote(join(nodeDir, 'files'))}`,
    `  s3_endpoint: ${quote(region.s3Endpoint)}`,
    `  s3_bucket_name: ${quote(region.bucket)}`,
    '  s3_region: us-east-1',
    `  s3_access_key: ${quote(S3_ACCESS_KEY)}`,
    `  s3_secret_key: ${quote(S3_SECRET_KEY)}`,
    '  s3_server_side_encryption: ""',
    '  s3_region_buckets:',
    ...plan.regions
      .filter((other) => other.name !== region.name)
      .map((other) => `    ${other.name}: { bucket: ${quote(other.bucket)}, region: us-east-1, endpoint: ${quote(other.s3Endpoint)} }`),
    'instance_discovery:',
    `  instance_id: ${node.id}`,
    `  region: ${region.name}`,
    `  internal_url: ${quote(node.url)}`,
    '  heartbeat_interval: 1s',
    '  probe_interval: 1s',
    '  peer_down_period: 3s',
    '  peer_endpoints:',
    ...peers.map((peer) => `    ${peer.id}: ${quote(peer.url)}`),
    '  peer_regions:',
    ...peers.map((peer) => `    ${peer.id}: ${peer.region}`),
    // The WAN round trips the rehearsal imposes: reads of replicated files prefer the nearest copy.
    '  region_rtt_ms:',
    ...plan.regions.filter((other) => other.name !== region.name).map((other) => `    ${other.name}: ${rttBetween(plan, region.name, other.name)}`),
    'replication:',
    '  factor: 2',
    '  placement: other-region',
    '  promote_after: 5m',
    `data_dir: ${quote(nodeDir)}`,
    '',
  ].join('\n');
}
