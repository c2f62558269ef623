/**
 * Runs real nodes in-process for integration tests: `startTestNode()` builds a complete Config
 * (Postgres from the test run, local disk in a temp dir or S3, Redis or in-process locks) and
 * starts it on a free loopback port. `api()` is a small fetch wrapper with the test keys.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config, LockConfig } from '../../app/config/config.js';
import { createLogger, SILENT_LOGGER, type Logger } from '../../app/observability/logger.js';
import { startNode } from '../../app/node.js';
import { MEMORY_NETWORK } from './memory-network.js';

export const KEYS = { owner: 'owner-key-0123456789abcdef', alice: 'alice-key-0123456789abcdef' } as const;
export const SECRETS = { internal: 'internal-secret-for-tests-0123', link: 'link-secret-for-tests-0123' } as const;

export interface TestNodeOptions {
  /** Other regions' buckets for S3 read-through (region → bucket on the same server). */
  readonly s3RegionBuckets?: Record<string, { bucket: string; region: string; endpoint: string | null }>;
  readonly region?: string;
  readonly peerRegions?: Record<string, string>;
  /** A streaming replica for reads (read-your-writes tests). */
  readonly readDsn?: string;
  readonly readYourWritesWaitMs?: number;
  readonly dsn: string;
  readonly instanceId?: string;
  readonly redisUrl?: string;
  /** `host:port` of Redis Sentinels; takes precedence over `redisUrl`. */
  readonly redisSentinels?: readonly string[];
  readonly redisMasterName?: string;
  readonly s3?: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string; bucket: string };
  readonly localRoot?: string;
  readonly peers?: Record<string, string>;
  readonly port?: number;
  readonly realRateLimits?: boolean;
  readonly lockWaitMs?: number;
  readonly maxFileBytes?: number;
  readonly headersTimeoutMs?: number;
  readonly bodyIdleTimeoutMs?: number;
  readonly websocketIdleTimeoutMs?: number;
  /** PEM of the CA that signs the peers' https certificates. */
  readonly peerCaFile?: string;
  /** Serve https with this certificate and key (PEM files). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** server.tls_self_signed: https with a certificate made at start and announced to peers. */
  readonly tlsSelfSigned?: boolean;
  /** instance_discovery.internal_url: the URL announced to peers (default: derived from the listener). */
  readonly internalUrl?: string;
  /** Receives the node's log lines (silent by default; TEST_NODE_LOGS=1 prints them). */
  readonly logger?: Logger;
  /** Users allowed to administer the cluster (default: the owner key's user). */
  readonly adminUserIds?: readonly string[];
  /** backend.adopt_existing_storage */
  readonly adoptExistingStorage?: boolean;
}

export interface TestNode {
  readonly url: string;
  readonly port: number;
  readonly rootPath: string | null;
  readonly config: Config;
  /** The certificate the node presents now with `tlsSelfSigned` (PEM); null otherwise. */
  tlsCertificate(): string | null;
  close(): Promise<void>;
}

export function testConfig(options: TestNodeOptions): Config {
  const root = options.s3 !== undefined && options.localRoot === undefined ? null : (options.localRoot ?? mkdtempSync(join(tmpdir(), 'callfs-root-')));
  return {
    server: {
      listenHost: '127.0.0.1',
      listenPort: options.port ?? 0,
      protocol: options.tls === undefined && options.tlsSelfSigned !== true ? 'http' : 'https',
      certFile: options.tls?.certFile ?? null,
      keyFile: options.tls?.keyFile ?? null,
      tlsSelfSigned: options.tlsSelfSigned ?? false,
      externalUrl: 'http://files.test.example',
      metadataOpTimeoutMs: 3000,
      fileOpTimeoutMs: 30_000,
      lockWaitMs: options.lockWaitMs ?? 5000,
      maxFileBytes: options.maxFileBytes ?? 1024 ** 3,
      shutdownGraceMs: 2000,
      headersTimeoutMs: options.headersTimeoutMs ?? 30_000,
      bodyIdleTimeoutMs: options.bodyIdleTimeoutMs ?? 60_000,
      websocketIdleTimeoutMs: options.websocketIdleTimeoutMs ?? 60_000,
    },
    auth: {
      users: [
        { id: 'api-user-0', key: KEYS.owner },
        { id: 'alice', key: KEYS.alice },
      ],
      internalProxySecret: SECRETS.internal,
      singleUseLinkSecret: SECRETS.link,
      acceptInternalSecretAsBearer: false,
      adminUserIds: options.adminUserIds ?? ['api-user-0'],
    },
    log: { level: 'error', format: 'json', accessLog: true },
    metrics: null,
    backend: {
      defaultBackend: options.s3 !== undefined ? 's3' : 'localfs',
      localfsRootPath: root,
      s3RegionBuckets: options.s3RegionBuckets ?? {},
      adoptExistingStorage: options.adoptExistingStorage ?? false,
      s3:
        options.s3 === undefined
          ? null
          : {
              bucket: options.s3.bucket,
              region: options.s3.region,
              endpoint: options.s3.endpoint,
              accessKeyId: options.s3.accessKeyId,
              secretAccessKey: options.s3.secretAccessKey,
              serverSideEncryption: null,
              kmsKeyId: null,
              acl: null,
            },
    },
    metadataStore: { type: 'postgres', dsn: options.dsn, readDsn: options.readDsn ?? null, readYourWritesWaitMs: options.readYourWritesWaitMs ?? 2000, replicaMaxLagMs: 30_000 },
    dlm: testLockConfig(options),
    instanceDiscovery: {
      instanceId: options.instanceId ?? 'node1',
      region: options.region ?? 'test',
      peerEndpoints: options.peers ?? {},
      peerRegions: options.peerRegions ?? {},
      regionRttMs: {},
      internalUrl: options.internalUrl ?? null,
      peerCaFile: options.peerCaFile ?? null,
      heartbeatMs: 1000,
      probeIntervalMs: 500,
      peerFailureThreshold: 3,
      peerOpenMs: 2000,
    },
    replication: { factor: 1, placement: 'other-region', repairIntervalMs: 0, promoteAfterMs: 0 },
    rateLimits: options.realRateLimits
      ? { linkGeneratePerSec: 100, linkGenerateBurst: 1, downloadPerSec: 10, downloadBurst: 5 }
      : { linkGeneratePerSec: 100_000, linkGenerateBurst: 100_000, downloadPerSec: 100_000, downloadBurst: 100_000 },
    sweeper: { enabled: true, intervalMs: 300_000, graceMs: 600_000, quarantineRetentionMs: 7 * 86_400_000 },
    cache: { maxEntries: 10_000, ttlMs: 60_000 },
    dataDir: mkdtempSync(join(tmpdir(), 'callfs-data-')),
    isEmbeddedDefault: false,
  };
}

function testLockConfig(options: TestNodeOptions): LockConfig {
  const masterName = options.redisMasterName ?? 'mymaster';
  if (options.redisSentinels !== undefined) return { type: 'redis', redisAddr: 'localhost:6379', redisPassword: null, sentinels: options.redisSentinels, masterName, tls: false };
  if (options.redisUrl === undefined) return { type: 'local' };
  return { type: 'redis', redisAddr: options.redisUrl.replace('redis://', ''), redisPassword: null, sentinels: [], masterName, tls: false };
}

export async function startTestNode(options: TestNodeOptions): Promise<TestNode> {
  const config = testConfig(options);
  const node = await startNode(config, { logger: options.logger ?? (process.env['TEST_NODE_LOGS'] === '1' ? createLogger({ level: 'debug', format: 'console' }) : SILENT_LOGGER) });
  return {
    url: node.url,
    port: node.port,
    rootPath: config.backend.localfsRootPath,
    config,
    tlsCertificate: () => node.tlsCertificate(),
    close: async () => {
      await node.close();
      if (options.localRoot === undefined && config.backend.localfsRootPath !== null) rmSync(config.backend.localfsRootPath, { recursive: true, force: true });
      rmSync(config.dataDir, { recursive: true, force: true });
    },
  };
}

/** A fetch Response whose JSON body is typed loosely: tests check it with assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are verified by the assertions
export type TestResponse = Omit<Response, 'json'> & { json(): Promise<any> };
export type TestInit = Omit<RequestInit, 'headers'> & { headers?: Record<string, string>; duplex?: 'half' };

/**
 * fetch with a loosely typed JSON body. A URL of a memory node (memory-node.ts) is answered by
 * that node's app in-process (`app.request()`), any other one over the network.
 */
export function call(url: string, init: TestInit = {}): Promise<TestResponse> {
  if (MEMORY_NETWORK.handlerFor(url) !== undefined) return MEMORY_NETWORK.fetch(new Request(url, init as RequestInit));
  return fetch(url, init as RequestInit);
}

/** fetch against a node with one of the test keys (`key: null` sends no Authorization). */
export function api(base: string, key: string | null = KEYS.owner) {
  return (path: string, init: TestInit = {}): Promise<TestResponse> =>
    call(base + path, { ...init, headers: { ...(key === null ? {} : { Authorization: `Bearer ${key}` }), ...init.headers } });
}
