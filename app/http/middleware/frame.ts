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

export function frame(services: AppServices, tls: boolean): MiddlewareHandler<HonoEnv> {
  const fixedHeaders = tls ? [...SECURITY_HEADERS, HSTS] : SECURITY_HEADERS;
  const servedBy = `${services.instanceId}; region=${services.region}`;
  return async (c, next) => {
    const started = performance.now();
    const requestId = randomBytes(8).toString('hex');
    c.set('services', services);
    c.set('requestId', requestId);
    c.header(H.requestId, requestId);
    for (const [name, value] of fixedHeaders) c.header(name, value);
    c.header(H.servedBy, servedBy);
    await next();
    const status = c.get('sentStatus') ?? c.res.status;
    services.metrics.httpRequest(c.req.method, c.get('routeTemplate') ?? 'unmatched', status, (performance.now() - started) / 1000);
  };
}
