/**
 * @module The zod schema of a CallFS-style configuration file after environment overrides:
 * CallFS's keys (reference §10.2) plus ours. Sections and keys CallFS has but we do not use
 * (raft, erasure, ha, quic, sqlite/redis metadata) are accepted and ignored, so a CallFS file
 * loads as it is. Environment values arrive as strings, so scalars are coerced here.
 */
import { z } from 'zod';
import { parseDurationMs, parseSizeBytes } from './units.js';

const text = z.union([z.string(), z.number()]).transform(String);
const flag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])]).transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');
const duration = z.unknown().transform((value, ctx) => {
  const ms = parseDurationMs(value);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `"${String(value)}" is not a duration (use 30s, 500ms, 1m30s or seconds)` });
    return z.NEVER;
  }
  return ms;
});
const size = z.unknown().transform((value, ctx) => {
  const bytes = parseSizeBytes(value);
  if (bytes === null) {
    ctx.addIssue({ code: 'custom', message: `"${String(value)}" is not a size (use bytes or 10GiB / 100MB)` });
    return z.NEVER;
  }
  return bytes;
});
const list = z.union([z.array(text), z.string()]).transform((v) => (Array.isArray(v) ? v : v.split(',').map((s) => s.trim()).filter((s) => s !== '')));
const map = z.record(z.string(), text);
const positive = z.coerce.number().int().positive();

export const FileConfigSchema = z.looseObject({
  server: z
    .looseObject({
      listen_addr: text.optional(),
      protocol: z.enum(['http', 'https', 'auto']).optional(),
      external_url: text.optional(),
      cert_file: text.optional(),
      key_file: text.optional(),
      tls_self_signed: flag.optional(),
      read_timeout: duration.optional(),
      write_timeout: duration.optional(),
      file_op_timeout: duration.optional(),
      metadata_op_timeout: duration.optional(),
      lock_wait_timeout: duration.optional(),
      max_file_size: size.optional(),
      shutdown_grace_period: duration.optional(),
      headers_timeout: duration.optional(),
      body_idle_timeout: duration.optional(),
      websocket_idle_timeout: duration.optional(),
    })
    .optional(),
  auth: z
    .looseObject({
      api_keys: list.optional(),
      api_key_users: map.optional(),
      admin_api_keys: list.optional(),
      internal_proxy_secret: text.optional(),
      single_use_link_secret: text.optional(),
      accept_internal_secret_as_bearer: flag.optional(),
    })
    .optional(),
  log: z.looseObject({ level: text.optional(), format: text.optional(), access_log: flag.optional() }).optional(),
  metrics: z.looseObject({ listen_addr: text.optional() }).optional(),
  backend: z
    .looseObject({
      default_backend: z.enum(['localfs', 's3', '']).optional(),
      localfs_root_path: text.optional(),
      s3_access_key: text.optional(),
      s3_secret_key: text.optional(),
      s3_region: text.optional(),
      s3_bucket_name: text.optional(),
      s3_region_buckets: z.record(z.string(), z.looseObject({ bucket: text, region: text.optional(), endpoint: text.optional() })).optional(),
      s3_endpoint: text.optional(),
      s3_server_side_encryption: text.optional(),
      s3_acl: text.optional(),
      s3_kms_key_id: text.optional(),
      internal_proxy_skip_tls_verify: flag.optional(),
      adopt_existing_storage: flag.optional(),
    })
    .optional(),
  metadata_store: z
    .looseObject({
      type: text.optional(),
      dsn: text.optional(),
      read_dsn: text.optional(),
      read_your_writes_wait: duration.optional(),
      replica_max_lag: duration.optional(),
      data_dir: text.optional(),
      port: positive.optional(),
    })
    .optional(),
  dlm: z
    .looseObject({
      type: z.enum(['redis', 'local']).optional(),
      redis_addr: text.optional(),
      redis_password: text.optional(),
      redis_sentinels: list.optional(),
      redis_master_name: text.optional(),
      redis_tls: flag.optional(),
    })
    .optional(),
  instance_discovery: z
    .looseObject({
      instance_id: text.optional(),
      region: text.optional(),
      peer_endpoints: map.optional(),
      peer_regions: map.optional(),
      region_rtt_ms: z.record(z.string(), z.coerce.number().nonnegative()).optional(),
      internal_url: text.optional(),
      peer_ca_file: text.optional(),
      heartbeat_interval: duration.optional(),
      probe_interval: duration.optional(),
      peer_failure_threshold: positive.optional(),
      peer_down_period: duration.optional(),
    })
    .optional(),
  replication: z
    .looseObject({
      factor: positive.optional(),
      placement: z.enum(['other-region', 'same-region', 'any']).optional(),
      repair_interval: duration.optional(),
      promote_after: duration.optional(),
    })
    .optional(),
  rate_limit: z
    .looseObject({
      link_generate_per_sec: z.coerce.number().positive().optional(),
      link_generate_burst: positive.optional(),
      download_per_sec: z.coerce.number().positive().optional(),
      download_burst: positive.optional(),
    })
    .optional(),
  sweeper: z
    .looseObject({
      enabled: flag.optional(),
      interval: duration.optional(),
      grace_period: duration.optional(),
      quarantine_retention: duration.optional(),
    })
    .optional(),
  cache: z.looseObject({ max_entries: z.coerce.number().int().min(0).optional(), ttl: duration.optional() }).optional(),
  data_dir: text.optional(),
});

export type FileConfig = z.infer<typeof FileConfigSchema>;
