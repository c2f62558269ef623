/**
 * @module Authentication for `/v1/*` and `/metrics`. Clients use API keys (CallFS reference
 * §5.2: `Bearer <key>` or the raw key); 401 `AUTHENTICATION_FAILED` comes before anything
 * else, even for routes that do not exist. Peers instead sign each call (services/signed-peer-client.ts)
 * and name the original caller, whose permissions then apply.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { PEER_HEADERS } from '../../domain/peer-signature.js';
import { INTERNAL_PROXY_USER } from '../../domain/permissions.js';
import { AppError } from '../../errors/app-error.js';
import type { HonoEnv } from '../env.js';
import { requestHeaders } from '../request-headers.js';
import { rawPathname } from '../request-path.js';
import { setResponseHeader } from '../response-header.js';

/**
 * `/v1/internal/*`: signed peer requests, or CallFS's form (the internal secret as the bearer).
 * An ordinary API key is refused here (401), so the internal surface is closed to clients.
 */
export const requireInternal: MiddlewareHandler<HonoEnv> = async (c, next) => {
  if (c.req.header(PEER_HEADERS.signature) !== undefined) {
    await acceptPeer(c);
  } else if (c.get('services').peers.isInternalSecret(c.req.header('authorization'))) {
    c.set('userId', INTERNAL_PROXY_USER);
  } else {
    throw new AppError('AUTHENTICATION_FAILED', 'authentication failed');
  }
  c.set('internalAuth', true);
  await next();
};

/** Verifies a signed peer call and takes on its caller's identity (401 when it does not verify). */
async function acceptPeer(c: Context<HonoEnv>): Promise<void> {
  const url = c.req.url;
  const query = url.indexOf('?');
  const target = rawPathname(c) + (query >= 0 ? url.slice(query) : '');
  const headers = requestHeaders(c);
  const services = c.get('services');
  // Every answer to a signed call, a refusal included, tells the caller which process answered.
  setResponseHeader(c, PEER_HEADERS.incarnation, services.peers.incarnation);
  const verdict = await services.peers.verify({ method: c.req.method, target, headerNames: Object.keys(headers), header: (name) => headers[name] });
  if (!verdict.ok) {
    services.logger.debug('peer call refused', { reason: verdict.reason, from: headers[PEER_HEADERS.from] ?? '' });
    throw new AppError('AUTHENTICATION_FAILED', 'authentication failed');
  }
  c.set('userId', verdict.peer.caller);
  c.set('peerHop', verdict.peer.hop);
  c.set('peerFrom', verdict.peer.from);
  c.set('peer', verdict.peer);
}

export const requireApiKey: MiddlewareHandler<HonoEnv> = async (c, next) => {
  if (c.get('internalAuth') === true) return next();
  if (c.req.header(PEER_HEADERS.signature) !== undefined) {
    await acceptPeer(c);
  } else {
    const userId = c.get('services').authenticator.authenticate(c.req.header('authorization'));
    if (userId === null) throw new AppError('AUTHENTICATION_FAILED', 'authentication failed');
    c.set('userId', userId);
  }
  await next();
};
