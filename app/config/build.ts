/**
 * @module buildConfig: the node's Config from a validated configuration tree: defaults filled in,
 * paths resolved against the working directory, and the checks that span keys (TLS settings,
 * API keys and secrets, backends, peers) reported as problems naming their key.
 */
import { resolve } from 'node:path';
import type { ApiUser, Config, LockConfig, MetadataStoreConfig, S3Config } from './config.js';
import { ConfigError, type Problems } from './problems.js';
import type { FileConfig } from './schema.js';
import { parseListenAddr } from './units.js';

const RESERVED_USERS = new Set(['root', 'internal-proxy']);

export function buildConfig(file: FileConfig, cwd: string, problems: Problems, mode: 'strict' | 'embedded'): Config {
  const server = file.server ?? {};
  const auth = file.auth ?? {};
  const backend = file.backend ?? {};
  const discovery = file.instance_discovery ?? {};

  const listen = parseListenAddr(server.listen_addr ?? ':8443');
  if (listen === null) problems.add('server.listen_addr', `"${server.listen_addr ?? ''}" is not host:port (e.g. :8443 or 127.0.0.1:8443)`);
  const certFile = server.cert_file ?? null;
  const keyFile = server.key_file ?? null;
  const tlsSelfSigned = server.tls_self_signed ?? false;
  const protocolSetting = server.protocol ?? 'https';
  const protocol = protocolSetting === 'auto' ? ((certFile && keyFile) || tlsSelfSigned ? 'https' : 'http') : protocolSetting;
  if (tlsSelfSigned) {
    if (protocol === 'http') problems.add('server.tls_self_signed', 'needs server.protocol https (or auto); with protocol http there is nothing to encrypt');
    if (certFile !== null || keyFile !== null) problems.add('server.tls_self_signed', 'use either server.cert_file/key_file or tls_self_signed, not both');
  } else if (protocol === 'https' && (certFile === null || keyFile === null)) {
    problems.add('server.protocol', 'https needs server.cert_file and server.key_file, or server.tls_self_signed: true (or set protocol: http)');
  }

  const users: ApiUser[] = [];
  (auth.api_keys ?? []).filter((k) => k !== '').forEach((key, index) => users.push({ id: `api-user-${index}`, key }));
  for (const [id, key] of Object.entries(auth.api_key_users ?? {})) users.push({ id, key });
  const internalProxySecret = auth.internal_proxy_secret ?? '';
  const singleUseLinkSecret = auth.single_use_link_secret ?? '';
  validateAuth(users, auth.api_keys ?? [], internalProxySecret, singleUseLinkSecret, problems, mode);
  const adminUserIds = adminUsers(users, auth.admin_api_keys ?? [], problems);

  const s3 = s3Config(backend);
  const localfsRootPath = backend.localfs_root_path === '' ? null : resolve(cwd, backend.localfs_root_path ?? '/var/lib/callfs');
  const defaultBackend = backend.default_backend === 's3' ? 's3' : 'localfs';
  if (defaultBackend === 's3' && s3 === null) problems.add('backend.s3_bucket_name', 'required when backend.default_backend is s3');
  if (defaultBackend === 'localfs' && localfsRootPath === null) problems.add('backend.localfs_root_path', 'required when backend.default_backend is localfs');

  const instanceId = discovery.instance_id ?? 'callfs-instance-1';
  if (instanceId === '' || instanceId.includes('.')) problems.add('instance_discovery.instance_id', 'must be non-empty and contain no "."');
  const peerEndpoints = discovery.peer_endpoints ?? {};
  for (const [peer, url] of Object.entries(peerEndpoints)) {
    if (peer === instanceId) problems.add(`instance_discovery.peer_endpoints.${peer}`, 'a node must not list itself as a peer');
    if (!/^https?:\/\/[^/\s]+/.test(url)) problems.add(`instance_discovery.peer_endpoints.${peer}`, `"${url}" is not an http(s) URL`);
  }
  const internalUrl = discovery.internal_url ?? null;
  if (internalUrl !== null && !/^https?:\/\/[^/\s]+/.test(internalUrl)) problems.add('instance_discovery.internal_url', `"${internalUrl}" is not an http(s) URL`);
  else if (internalUrl !== null && tlsSelfSigned && !internalUrl.startsWith('https://')) problems.add('instance_discovery.internal_url', 'must be an https:// URL with server.tls_self_signed (peers reach this node over TLS)');
  const heartbeatMs = discovery.heartbeat_interval ?? 5000;
  if (heartbeatMs < 100) problems.add('instance_discovery.heartbeat_interval', 'must be at least 100ms');

  for (const key of ['headers_timeout', 'body_idle_timeout', 'websocket_idle_timeout'] as const) {
    const value = server[key];
    if (value !== undefined && value < 100) problems.add(`server.${key}`, 'must be at least 100ms');
  }

  const metrics = file.metrics?.listen_addr ? parseListenAddr(file.metrics.listen_addr) : null;
  if (file.metrics?.listen_addr && metrics === null) problems.add('metrics.listen_addr', `"${file.metrics.listen_addr}" is not host:port`);

  const logLevel = file.log?.level;
  const config: Config = {
    server: {
      listenHost: listen?.host ?? '0.0.0.0',
      listenPort: listen?.port ?? 8443,
      protocol,
      certFile,
      keyFile,
      tlsSelfSigned,
      externalUrl: server.external_url ?? 'localhost:8443',
      metadataOpTimeoutMs: server.metadata_op_timeout ?? 5000,
      fileOpTimeoutMs: server.file_op_timeout ?? 60_000,
      lockWaitMs: server.lock_wait_timeout ?? 10_000,
      maxFileBytes: server.max_file_size ?? 10 * 1024 ** 3,
      shutdownGraceMs: server.shutdown_grace_period ?? 15_000,
      headersTimeoutMs: server.headers_timeout ?? 30_000,
      bodyIdleTimeoutMs: server.body_idle_timeout ?? 60_000,
      websocketIdleTimeoutMs: server.websocket_idle_timeout ?? 60_000,
    },
    auth: { users, internalProxySecret, singleUseLinkSecret, acceptInternalSecretAsBearer: auth.accept_internal_secret_as_bearer ?? false, adminUserIds },
    log: { level: logLevel === 'debug' || logLevel === 'warn' || logLevel === 'error' ? logLevel : 'info', format: (file.log?.format ?? 'json') === 'json' ? 'json' : 'console', accessLog: file.log?.access_log ?? true },
    metrics: metrics === null ? null : { listenHost: metrics.host, listenPort: metrics.port },
    backend: { defaultBackend, localfsRootPath, s3, s3RegionBuckets: regionBuckets(backend, s3), adoptExistingStorage: backend.adopt_existing_storage ?? false },
    metadataStore: metadataConfig(file, cwd, problems),
    dlm: lockConfig(file),
    instanceDiscovery: {
      instanceId,
      region: discovery.region ?? 'default',
      peerEndpoints,
      peerRegions: discovery.peer_regions ?? {},
      regionRttMs: discovery.region_rtt_ms ?? {},
      internalUrl,
      peerCaFile: discovery.peer_ca_file === undefined || discovery.peer_ca_file === '' ? null : resolve(cwd, discovery.peer_ca_file),
      heartbeatMs,
      probeIntervalMs: discovery.probe_interval ?? 2000,
      peerFailureThreshold: discovery.peer_failure_threshold ?? 3,
      peerOpenMs: discovery.peer_down_period ?? 5000,
    },
    replication: {
      factor: file.replication?.factor ?? 1,
      placement: file.replication?.placement ?? 'other-region',
      repairIntervalMs: file.replication?.repair_interval ?? 30_000,
      promoteAfterMs: file.replication?.promote_after ?? 0,
    },
    rateLimits: {
      linkGeneratePerSec: file.rate_limit?.link_generate_per_sec ?? 100,
      linkGenerateBurst: file.rate_limit?.link_generate_burst ?? 1,
      downloadPerSec: file.rate_limit?.download_per_sec ?? 10,
      downloadBurst: file.rate_limit?.download_burst ?? 5,
    },
    sweeper: sweeperConfig(file, problems),
    cache: { maxEntries: file.cache?.max_entries ?? 100_000, ttlMs: file.cache?.ttl ?? 30_000 },
    dataDir: resolve(cwd, file.data_dir ?? 'data'),
    isEmbeddedDefault: false,
  };
  if (problems.list.length > 0) throw new ConfigError(problems.list.join('\n'));
  return config;
}

function validateAuth(users: ApiUser[], positional: readonly string[], internal: string, link: string, problems: Problems, mode: 'strict' | 'embedded'): void {
  // The embedded default generates whatever is not configured (an empty value here).
  const generated = mode === 'embedded';
  if (users.length === 0 && !generated) problems.add('auth.api_keys', 'at least one API key is required (auth.api_keys or auth.api_key_users)');
  positional.forEach((key, i) => {
    if (key.length < 16) problems.add(`auth.api_keys[${i}]`, 'must be at least 16 characters');
    if (key === 'default-api-key') problems.add(`auth.api_keys[${i}]`, 'must not be the placeholder "default-api-key"');
  });
  const seen = new Set<string>();
  for (const user of users) {
    if (!user.id.startsWith('api-user-')) {
      const key = `auth.api_key_users.${user.id}`;
      if (user.id.trim() === '' || user.id.includes('.')) problems.add(key, 'user ids must be non-blank and contain no "."');
      if (RESERVED_USERS.has(user.id) || /^api-user-\d+$/.test(user.id)) problems.add(key, `"${user.id}" is a reserved user id`);
      if (user.key.length < 16) problems.add(key, 'must be at least 16 characters');
    }
    if (seen.has(user.key)) problems.add('auth', `the key of ${user.id} is configured twice`);
    seen.add(user.key);
  }
  if ((internal === '' && !generated) || internal === 'change-me-internal-secret') problems.add('auth.internal_proxy_secret', 'must be set to a secret shared by every node');
  else if (internal !== '' && seen.has(internal)) problems.add('auth.internal_proxy_secret', 'must differ from every API key');
  if ((link === '' && !generated) || link === 'change-me-link-secret') problems.add('auth.single_use_link_secret', 'must be set to a secret shared by every node');
}

/** The users named by `auth.admin_api_keys`; every listed key must be one of the configured API keys. */
function adminUsers(users: readonly ApiUser[], adminKeys: readonly string[], problems: Problems): string[] {
  const ids: string[] = [];
  adminKeys.forEach((key, i) => {
    const user = users.find((u) => u.key === key);
    if (user === undefined) problems.add(`auth.admin_api_keys[${i}]`, 'must be one of the keys in auth.api_keys or auth.api_key_users');
    else if (!ids.includes(user.id)) ids.push(user.id);
  });
  return ids;
}

function s3Config(backend: NonNullable<FileConfig['backend']>): S3Config | null {
  const bucket = backend.s3_bucket_name ?? '';
  if (bucket === '') return null;
  const orNull = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);
  return {
    bucket,
    region: backend.s3_region ?? 'us-east-1',
    endpoint: orNull(backend.s3_endpoint),
    accessKeyId: orNull(backend.s3_access_key),
    secretAccessKey: orNull(backend.s3_secret_key),
    serverSideEncryption: backend.s3_server_side_encryption === undefined ? 'AES256' : orNull(backend.s3_server_side_encryption),
    kmsKeyId: orNull(backend.s3_kms_key_id),
    acl: backend.s3_acl === undefined ? 'private' : orNull(backend.s3_acl),
  };
}

function regionBuckets(backend: NonNullable<FileConfig['backend']>, s3: S3Config | null): Config['backend']['s3RegionBuckets'] {
  return Object.fromEntries(
    Object.entries(backend.s3_region_buckets ?? {}).map(([region, b]) => [
      region,
      { bucket: b.bucket, region: b.region ?? s3?.region ?? 'us-east-1', endpoint: b.endpoint === undefined || b.endpoint === '' ? (s3?.endpoint ?? null) : b.endpoint },
    ]),
  );
}

function metadataConfig(file: FileConfig, cwd: string, problems: Problems): MetadataStoreConfig {
  const store = file.metadata_store ?? {};
  const type = store.type ?? 'postgres';
  if (type === 'embedded') return { type: 'embedded', dataDir: resolve(cwd, store.data_dir ?? 'data/postgres'), port: store.port ?? 54329 };
  if (type !== 'postgres') {
    problems.add('metadata_store.type', `"${type}" is not supported; use postgres (or embedded)`);
    return { type: 'postgres', dsn: '', readDsn: null, readYourWritesWaitMs: 0, replicaMaxLagMs: 0 };
  }
  const dsn = store.dsn ?? '';
  if (dsn === '') problems.add('metadata_store.dsn', 'required for the postgres metadata store');
  else if (!/^postgres(ql)?:\/\//.test(dsn)) problems.add('metadata_store.dsn', 'must be a postgres:// URL');
  const readDsn = store.read_dsn === undefined || store.read_dsn === '' ? null : store.read_dsn;
  if (readDsn !== null && !/^postgres(ql)?:\/\//.test(readDsn)) problems.add('metadata_store.read_dsn', 'must be a postgres:// URL');
  return { type: 'postgres', dsn, readDsn, readYourWritesWaitMs: store.read_your_writes_wait ?? 2000, replicaMaxLagMs: store.replica_max_lag ?? 30_000 };
}

function sweeperConfig(file: FileConfig, problems: Problems): Config['sweeper'] {
  const sweeper = file.sweeper ?? {};
  const intervalMs = sweeper.interval ?? 5 * 60_000;
  if (intervalMs < 1000) problems.add('sweeper.interval', 'must be at least 1s');
  const graceMs = sweeper.grace_period ?? 10 * 60_000;
  if (graceMs < 60_000) problems.add('sweeper.grace_period', 'must be at least 1m (a write in progress must never look orphaned)');
  return { enabled: sweeper.enabled ?? true, intervalMs, graceMs, quarantineRetentionMs: sweeper.quarantine_retention ?? 7 * 86_400_000 };
}

function lockConfig(file: FileConfig): LockConfig {
  const dlm = file.dlm ?? {};
  if (dlm.type === 'local') return { type: 'local' };
  return {
    type: 'redis',
    redisAddr: dlm.redis_addr ?? 'localhost:6379',
    redisPassword: dlm.redis_password === undefined || dlm.redis_password === '' ? null : dlm.redis_password,
    sentinels: dlm.redis_sentinels ?? [],
    masterName: dlm.redis_master_name ?? 'mymaster',
    tls: dlm.redis_tls ?? false,
  };
}
