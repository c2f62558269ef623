/**
 * @module The outermost middleware (CallFS reference §1.2): a fresh `X-Request-ID` (client
 * values are not echoed), the security headers on every response, HSTS on TLS only, and the
 * request's metrics (method, route template, status, duration), and `X-CallFS-Served-By`
 * naming this node and its region (a forwarded answer carries the holder's instead).
 */
import { randomBytes } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { HonoEnv } from '../env.js';
import { H, HSTS, SECURITY_HEADERS } from '../headers.js';
import type { AppServices } from '../services.js';

/** Request ids come from a pool of random bytes refilled 8 KiB at a time (one syscall per 1024 ids). */
let pool = Buffer.alloc(0);
let offset = 0;
function nextRequestId(): string {
  if (offset + 8 > pool.length) {
    pool = randomBytes(8192);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + 8);
  offset += 8;
  return id;
}

export function frame(services: AppServices, tls: boolean): MiddlewareHandler<HonoEnv> {
  const fixedHeaders = tls ? [...SECURITY_HEADERS, HSTS] : SECURITY_HEADERS;
  const servedBy = `${services.instanceId}; region=${services.region}`;
  // Region hops: 0 for an answer made here; a forwarded answer replaces it (peer-forward.ts).
  const allFixed: ReadonlyArray<readonly [string, string]> = [...fixedHeaders, [H.servedBy, servedBy], [H.regionHops, '0']];
  return async (c, next) => {
    const started = performance.now();
    const requestId = nextRequestId();
    c.set('services', services);
    c.set('requestId', requestId);
    const outgoing = c.env.outgoing;
    if (outgoing !== undefined) {
      // Straight onto the Node response: merged into whatever head is written later, and far
      // cheaper than building a Headers object for every request.
      outgoing.setHeader(H.requestId, requestId);
      for (const [name, value] of allFixed) outgoing.setHeader(name, value);
    } else {
      c.header(H.requestId, requestId);
      for (const [name, value] of allFixed) c.header(name, value);
    }
    await next();
    const status = c.get('sentStatus') ?? c.res.status;
    services.metrics.httpRequest(c.req.method, c.get('routeTemplate') ?? 'unmatched', status, (performance.now() - started) / 1000);
  };
}
