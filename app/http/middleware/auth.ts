/**
 * @module Authentication for `/v1/*` and `/metrics`. Clients use API keys (CallFS reference
 * §5.2: `Bearer <key>` or the raw key); 401 `AUTHENTICATION_FAILED` comes before anything
 * else, even for routes that do not exist. Peers instead sign each forwarded request
 * (domain/peer-signature.ts) and name the original caller, whose permissions then apply.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { PEER_HEADERS } from '../../domain/peer-signature.js';
import { INTERNAL_PROXY_USER } from '../../domain/permissions.js';
import { AppError } from '../../errors/app-error.js';
import type { HonoEnv } from '../env.js';
import { rawPathname } from '../request-path.js';

/**
 * `/v1/internal/*`: signed peer requests, or CallFS's form (the internal secret as the bearer).
 * An ordinary API key is refused here (401), so the internal surface is closed to clients.
 */
export const requireInternal: MiddlewareHandler<HonoEnv> = async (c, next) => {
  const signature = c.req.header(PEER_HEADERS.signature);
  if (signature !== undefined) {
    acceptPeer(c, signature);
  } else if (c.get('services').authenticator.isInternalSecret(c.req.header('authorization'))) {
    c.set('userId', INTERNAL_PROXY_USER);
  } else {
    throw new AppError('AUTHENTICATION_FAILED', 'authentication failed');
  }
  c.set('internalAuth', true);
  await next();
};

/** Verifies a signed peer request and takes on its caller's identity (401 when it does not verify). */
function acceptPeer(c: Context<HonoEnv>, signature: string): void {
  const caller = c.req.header(PEER_HEADERS.caller) ?? '';
  const timeMs = Number(c.req.header(PEER_HEADERS.time));
  const hop = Number(c.req.header(PEER_HEADERS.hop));
  const nonce = c.req.header(PEER_HEADERS.nonce) ?? '';
  const from = c.req.header(PEER_HEADERS.from) ?? '';
  if (caller === '' || nonce === '' || !Number.isSafeInteger(timeMs) || !Number.isSafeInteger(hop)) {
    throw new AppError('AUTHENTICATION_FAILED', 'authentication failed');
  }
  const url = c.req.url;
  const query = url.indexOf('?');
  const target = rawPathname(c) + (query >= 0 ? url.slice(query) : '');
  const verdict = c.get('services').peerAuth.verify({ method: c.req.method, target, timeMs, nonce, caller, hop, from }, signature);
  if (!verdict.ok) throw new AppError('AUTHENTICATION_FAILED', 'authentication failed');
  c.set('userId', caller);
  c.set('peerHop', hop);
  c.set('peerFrom', from);
}

export const requireApiKey: MiddlewareHandler<HonoEnv> = async (c, next) => {
  if (c.get('internalAuth') === true) return next();
  const signature = c.req.header(PEER_HEADERS.signature);
  if (signature !== undefined) {
    acceptPeer(c, signature);
  } else {
    const userId = c.get('services').authenticator.authenticate(c.req.header('authorization'));
    if (userId === null) throw new AppError('AUTHENTICATION_FAILED', 'authentication failed');
    c.set('userId', userId);
  }
  await next();
};
