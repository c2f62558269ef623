/**
 * @module startNode: a node process around the composition root. Opens the real adapters
 * (open-adapters.ts), builds the object graph (compose.ts), listens (listener.ts), joins the
 * cluster and starts the background work, and returns a handle whose `close()` shuts everything
 * down in order. main.ts calls it for the process; tests call it to run real nodes in-process.
 */
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import type { Config } from './config/config.js';
import type { PostgresMetadataStore } from './adapters/metadata/postgres.js';
import { SELF_SIGNED_VALIDITY_MS, SelfSignedIdentity } from './adapters/tls/self-signed-identity.js';
import type { NodeMetrics } from './observability/metrics.js';
import { registerRuntimeMetrics } from './observability/runtime-metrics.js';
import { createLogger, withFields, type Logger } from './observability/logger.js';
import { PROMETHEUS_CONTENT_TYPE } from './http/routes/metrics.js';
import { composeNode } from './compose.js';
import { openAdapters, openBlobStores, openMetadata, namedStores } from './open-adapters.js';
import { advertisedHost, closeServer, hostForUrl, listen, renewCertificates } from './listener.js';
import { OrphanSweeper, type SweepReport } from './services/orphan-sweeper.js';
import type { NamedStore } from './services/storage-identity.js';
import { attachWebSocket } from './http/websocket.js';
import { naming } from './startup-failure.js';
import { packageVersion } from './cli/command-line.js';

export interface RunningNode {
  readonly url: string;
  readonly port: number;
  readonly metricsUrl: string | null;
  readonly logger: Logger;
  /** The certificate (PEM) the listener presents now when it serves self-signed https; else null. */
  tlsCertificate(): string | null;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), closes adapters. */
  close(): Promise<void>;
}

export async function startNode(config: Config, options: { logger?: Logger } = {}): Promise<RunningNode> {
  // Every line names the node and its region, whoever supplied the logger.
  const logger = withFields(options.logger ?? createLogger({ level: config.log.level, format: config.log.format }), {
    instance: config.instanceDiscovery.instanceId,
    region: config.instanceDiscovery.region,
  });
  // Shutdown runs these in reverse: what started last stops first.
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => logger.warn('shutdown step failed', { error: String(error) }));
  };
  try {
    const adapters = await openAdapters(config, logger, cleanups);
    const node = await composeNode(config, adapters, logger);
    const { membership, peers, metrics } = node;
    cleanups.push(() => node.fencing.stop());
    const discovery = config.instanceDiscovery;
    const stopRuntimeMetrics = registerRuntimeMetrics(metrics.registry, { version: packageVersion(), instance: discovery.instanceId, region: discovery.region });
    cleanups.push(async () => stopRuntimeMetrics());
    cleanups.push(() => peers.close());
    cleanups.push(async () => node.cache.stop());

    if (config.sweeper.enabled) startSweeper(config, adapters.metadata, adapters.stores, metrics, logger, cleanups);
    else logger.info('the orphan sweeper is off (sweeper.enabled: false)');

    // Self-signed https: the certificate names the host peers use (that of the internal URL).
    const identity = config.server.tlsSelfSigned
      ? new SelfSignedIdentity({ host: discovery.internalUrl === null ? advertisedHost(config.server.listenHost) : new URL(discovery.internalUrl).hostname, validityMs: SELF_SIGNED_VALIDITY_MS })
      : null;
    const server = await naming('the listener', `${config.server.listenHost}:${config.server.listenPort}`, 'server.listen_addr', () =>
      listen(config, node.app.fetch, config.server.listenHost, config.server.listenPort, identity?.serving() ?? null),
    );
    attachWebSocket(server, node.services, config.server);
    const port = (server.address() as AddressInfo).port;
    // Stop accepting and drain first, then leave the registry.
    cleanups.push(() => membership.stop());
    cleanups.push(() => closeServer(server, config.server.shutdownGraceMs));
    const scheme = config.server.protocol === 'https' ? 'https' : 'http';
    const url = `${scheme}://${hostForUrl(config.server.listenHost)}:${port}`;
    await membership.start({
      internalUrl: discovery.internalUrl ?? `${scheme}://${advertisedHost(config.server.listenHost)}:${port}`,
      version: packageVersion(),
      startedAt: new Date(),
      tlsCertificates: identity?.announced() ?? null,
    });
    if (identity !== null) {
      logger.info('serving https with a self-signed certificate announced to peers', { host: identity.host, sha256: identity.serving().fingerprint256 });
      renewCertificates(identity, server as HttpsServer, membership, logger, cleanups);
    }
    peers.start();
    node.services.replication.start();
    cleanups.push(() => node.services.replication.stop());

    let metricsUrl: string | null = null;
    if (config.metrics !== null) {
      const metricsApp = new Hono();
      metricsApp.get('/metrics', (c) => c.body(metrics.render(), 200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE }));
      const metricsServer = await listen({ ...config, server: { ...config.server, protocol: 'http' } }, metricsApp.fetch, config.metrics.listenHost, config.metrics.listenPort, null);
      metricsUrl = `http://${hostForUrl(config.metrics.listenHost)}:${(metricsServer.address() as AddressInfo).port}/metrics`;
      cleanups.push(() => closeServer(metricsServer, 1000));
    }
    // The file-system thread pool: every disk read, write and fsync waits for one of its threads.
    logger.info('node started', { url, version: packageVersion(), node: process.version, thread_pool: Number(process.env['UV_THREADPOOL_SIZE'] ?? 4) });
    let closing: Promise<void> | null = null;
    return { url, port, metricsUrl, logger, tlsCertificate: () => identity?.serving().cert ?? null, close: () => (closing ??= closeAll()) };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** The sweeper of a node's stores, with the configured grace and retention. */
function sweeperFor(config: Config, metadata: PostgresMetadataStore, stores: readonly NamedStore[], metrics: NodeMetrics | null, logger: Logger): OrphanSweeper {
  return new OrphanSweeper(
    metadata,
    metadata,
    stores,
    { graceMs: config.sweeper.graceMs, batchSize: 1000, usedLinkRetentionMs: 24 * 3600_000, quarantineRetentionMs: config.sweeper.quarantineRetentionMs },
    metrics,
    logger,
  );
}

/** Runs the orphan sweeper every `sweeper.interval`, one sweep at a time. */
function startSweeper(config: Config, metadata: PostgresMetadataStore, stores: readonly NamedStore[], metrics: NodeMetrics, logger: Logger, cleanups: Array<() => Promise<void>>): void {
  const sweeper = sweeperFor(config, metadata, stores, metrics, logger);
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    running ??= sweeper
      .sweep()
      .then(
        () => undefined,
        (error: unknown) => logger.warn('sweep failed', { error: String(error) }),
      )
      .finally(() => {
        running = null;
      });
  }, config.sweeper.intervalMs);
  timer.unref();
  cleanups.push(async () => {
    clearInterval(timer);
    await running;
  });
}

/**
 * One sweep of a node's stores by hand, outside the running node (for an admin command): with
 * `dryRun`, the list of what the sweeper would do and nothing done. Runs even with
 * `sweeper.enabled: false`; marks no store (a store without this cluster's marker is skipped and
 * reported). With the embedded default, the node must be stopped (its Postgres is started here).
 */
export async function sweepOnce(config: Config, options: { dryRun: boolean; logger?: Logger }): Promise<SweepReport> {
  const logger = options.logger ?? createLogger({ level: config.log.level, format: config.log.format });
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const { store: metadata } = await openMetadata(config, logger, cleanups);
    const stores = namedStores(config, await openBlobStores(config, cleanups));
    return await sweeperFor(config, metadata, stores, null, logger).sweep({ dryRun: options.dryRun });
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}
