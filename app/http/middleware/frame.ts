/**
 * @module The outermost middleware (CallFS reference §1.2): the request id (a well-formed
 * incoming `X-Request-ID` is kept, otherwise a fresh one) and a well-formed W3C `traceparent`,
 * both returned and passed on to peers; the security headers on every response, HSTS on TLS
 * only; the request's metrics (method, route template, status, duration); the access log line;
 * and `X-CallFS-Served-By` naming this node and its region (a forwarded answer carries the
 * holder's instead).
 */
import type { MiddlewareHandler } from 'hono';
import { pooledRandomHex } from '../../domain/random-hex.js';
import type { HonoEnv } from '../env.js';
import { H, HSTS, SECURITY_HEADERS } from '../headers.js';
import type { AppServices } from '../services.js';

/** Request ids: 8 random bytes each, from a pool (one system call per 1024 ids). */
const nextRequestId = pooledRandomHex(8);

/** Request ids we accept from a client or a peer: short, printable, no spaces or quotes. */
const REQUEST_ID = /^[A-Za-z0-9._:/+=@-]{1,128}$/;
/** W3C trace context, version 00 (`00-<trace id>-<parent id>-<flags>`), all-zero ids refused. */
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * The route template of a request no route took (refused by auth, a rate limit or a method
 * check before its handler ran), so metrics and logs name what was asked for, not `unmatched`.
 */
export function routeTemplateOf(path: string): string {
  if (path.startsWith('/v1/files/ws/')) return '/v1/files/ws/*';
  if (path === '/v1/files' || path.startsWith('/v1/files/')) return '/v1/files/*';
  if (path === '/v1/directories' || path.startsWith('/v1/directories/')) return '/v1/directories/*';
  if (path.startsWith('/download/')) return '/download/:token';
  if (path.startsWith('/v1/internal/replicas/')) return '/v1/internal/replicas/*';
  if (path.startsWith('/v1/internal/shards/')) return '/v1/internal/shards/:prefix/:index';
  if (KNOWN_PATHS.has(path)) return path;
  return 'unmatched';
}
const KNOWN_PATHS = new Set(['/v1/links/generate', '/v1/cluster', '/v1/admin/status', '/v1/internal/moves', '/health', '/ready', '/ready/read', '/ready/write', '/metrics']);

export interface FrameOptions {
  readonly tls: boolean;
  readonly accessLog: boolean;
}

export function frame(services: AppServices, options: FrameOptions): MiddlewareHandler<HonoEnv> {
  const tls = options.tls;
  const fixedHeaders = tls ? [...SECURITY_HEADERS, HSTS] : SECURITY_HEADERS;
  const servedBy = `${services.instanceId}; region=${services.region}`;
  // Region hops: 0 for an answer made here; a forwarded answer replaces it (peer-forward.ts).
  const allFixed: ReadonlyArray<readonly [string, string]> = [...fixedHeaders, [H.servedBy, servedBy], [H.regionHops, '0']];
  // The log level is fixed for the process: when access lines would be dropped, none is built.
  const accessLog = options.accessLog && services.logger.enabled?.('info') !== false;
  return async (c, next) => {
    const started = performance.now();
    const incoming = c.env.incoming;
    const offeredId = incoming !== undefined ? incoming.headers['x-request-id'] : c.req.header('x-request-id');
    const requestId = typeof offeredId === 'string' && REQUEST_ID.test(offeredId) ? offeredId : nextRequestId();
    const offeredTrace = incoming !== undefined ? incoming.headers['traceparent'] : c.req.header('traceparent');
    const traceparent = typeof offeredTrace === 'string' && TRACEPARENT.test(offeredTrace) ? offeredTrace : undefined;
    c.set('services', services);
    c.set('requestId', requestId);
    if (traceparent !== undefined) c.set('traceparent', traceparent);
    const outgoing = c.env.outgoing;
    if (outgoing !== undefined) {
      // Straight onto the Node response: merged into whatever head is written later, and far
      // cheaper than building a Headers object for every request.
      outgoing.setHeader(H.requestId, requestId);
      if (traceparent !== undefined) outgoing.setHeader('traceparent', traceparent);
      for (const [name, value] of allFixed) outgoing.setHeader(name, value);
    } else {
      c.header(H.requestId, requestId);
      if (traceparent !== undefined) c.header('traceparent', traceparent);
      for (const [name, value] of allFixed) c.header(name, value);
    }
    const socket = outgoing?.socket ?? null;
    const bytesBefore = socket?.bytesWritten ?? 0;
    await next();
    const status = c.get('sentStatus') ?? c.res.status;
    const route = c.get('routeTemplate') ?? routeTemplateOf(c.req.path);
    services.metrics.httpRequest(c.req.method, route, status, (performance.now() - started) / 1000);
    if (!accessLog) return;
    const line = (finalStatus: number, bytes: number, complete: boolean): void => {
      const caller = c.get('userId') ?? (c.get('peerFrom') === undefined ? '-' : `peer:${c.get('peerFrom')}`);
      services.logger.info('request', {
        method: c.req.method,
        route,
        status: finalStatus,
        bytes,
        duration_ms: Math.round((performance.now() - started) * 10) / 10,
        caller,
        request_id: requestId,
        ...(traceparent === undefined ? {} : { trace_id: traceparent.slice(3, 35) }),
        ...(complete ? {} : { aborted: true }),
      });
    };
    if (outgoing === undefined) {
      line(status, Number(c.res.headers.get('content-length') ?? 0), true);
      return;
    }
    // A streamed body is still being written: the line is written when the response ends.
    const finish = (): void => {
      const declared = Number(outgoing.getHeader('content-length') ?? NaN);
      // Without a declared length (chunked), the bytes this response put on the connection.
      const bytes = Number.isFinite(declared) ? declared : Math.max(0, (socket?.bytesWritten ?? bytesBefore) - bytesBefore);
      line(outgoing.statusCode || status, bytes, outgoing.writableFinished);
    };
    if (outgoing.writableFinished) finish();
    else outgoing.once('close', finish);
  };
}
