/**
 * @module The node's HTTP(S) listeners: serving a fetch handler on the Node server with the
 * stalled-client timeouts, closing it gracefully, renewing a self-signed certificate while it
 * runs, and the host names a listener is reached by.
 */
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { IncomingMessage, Server } from 'node:http';
import { serve } from '@hono/node-server';
import type { Config } from './config/config.js';
import type { SelfSignedIdentity } from './adapters/tls/self-signed-identity.js';
import type { Logger } from './observability/logger.js';
import type { Membership } from './services/membership.js';

/** How often a self-signed identity checks whether its certificate is due for renewal. */
const TLS_RENEWAL_CHECK_MS = 10 * 60_000;

export type FetchHandler = (request: Request, env: Record<string, unknown>) => Response | Promise<Response>;

/** Renews a self-signed certificate while the node runs: the successor is announced long before it is served. */
export function renewCertificates(identity: SelfSignedIdentity, server: HttpsServer, membership: Membership, logger: Logger, cleanups: Array<() => Promise<void>>): void {
  const timer = setInterval(() => {
    const change = identity.tick();
    if (change === 'none') return;
    if (change === 'switched') server.setSecureContext(identity.serving());
    logger.info(change === 'switched' ? 'now serving the renewed self-signed certificate' : 'announced the successor of the self-signed certificate', { sha256: identity.serving().fingerprint256 });
    membership.announceCertificates(identity.announced()).catch((error: unknown) => logger.warn('announcing the renewed certificate failed', { error: String(error) }));
  }, TLS_RENEWAL_CHECK_MS);
  timer.unref();
  cleanups.push(async () => clearInterval(timer));
}

/** `selfSigned`: the key and certificate of `server.tls_self_signed`; otherwise https reads the configured files. */
export function listen(config: Config, fetch: FetchHandler, hostname: string, port: number, selfSigned: { cert: string; key: string } | null): Promise<Server> {
  return new Promise((resolve, reject) => {
    const files = config.server.protocol === 'https' && config.server.certFile !== null && config.server.keyFile !== null;
    const serverOptions = selfSigned !== null ? { cert: selfSigned.cert, key: selfSigned.key } : files ? { cert: readFileSync(config.server.certFile ?? ''), key: readFileSync(config.server.keyFile ?? '') } : null;
    const server = serve({
      fetch,
      hostname,
      port,
      ...(serverOptions === null ? {} : { createServer: createHttpsServer, serverOptions }),
    }) as Server;
    // A client that goes away makes its request emit 'error'; whoever reads the body handles it,
    // and a body nobody reads must not turn that into an uncaught exception.
    server.on('request', (request: IncomingMessage) => request.on('error', ignore));
    // Stalled clients: headers must arrive within headers_timeout; after that a connection on which
    // nothing moves for body_idle_timeout is cut (an upload that stops sending fails, releasing
    // its path lock and temp file). No whole-transfer cap: large files work. WebSockets have
    // their own idle timeout (http/websocket.ts).
    server.headersTimeout = config.server.headersTimeoutMs;
    server.requestTimeout = 0;
    server.timeout = config.server.bodyIdleTimeoutMs;
    server.keepAliveTimeout = Math.min(120_000, config.server.bodyIdleTimeoutMs);
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/**
 * Stops accepting, waits for in-flight requests up to `graceMs`, then cuts what is left.
 * Keep-alive connections are closed as soon as they fall idle (a finished transfer does not
 * hold the shutdown until the grace period ends).
 */
export function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.closeAllConnections();
    }, graceMs);
    timer.unref();
    const sweeper = setInterval(() => server.closeIdleConnections(), 50);
    sweeper.unref();
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweeper);
      resolve();
    });
    server.closeIdleConnections();
  });
}

function ignore(): void {}

/** The host peers should use when nothing is configured: a wildcard listener offers the first external IPv4. */
export function advertisedHost(listenHost: string): string {
  if (listenHost !== '' && listenHost !== '0.0.0.0' && listenHost !== '::') return hostForUrl(listenHost);
  for (const addresses of Object.values(networkInterfaces())) {
    const external = addresses?.find((a) => a.family === 'IPv4' && !a.internal);
    if (external !== undefined) return external.address;
  }
  return '127.0.0.1';
}

export function hostForUrl(host: string): string {
  if (host === '' || host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
