/**
 * @module Read-your-writes on a node that reads from a regional replica (`metadata_store.read_dsn`).
 * Writes answer with `X-CallFS-Consistency-Token` (and the `callfs_ct` cookie, for browsers);
 * reads present it back (header or cookie) and are served from the replica once it has replayed
 * past the token, else from the primary. Every read says what happened:
 * `X-CallFS-Read-Source: replica|primary`, `X-CallFS-Replica-Lag-Ms`, `X-CallFS-Consistency-Wait-Ms`.
 * A token the replica has not reached while the primary is unreachable is answered 503
 * REPLICA_BEHIND with `Retry-After`, never from the stale replica.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { AppError } from '../../errors/app-error.js';
import type { HonoEnv } from '../env.js';
import { H } from '../headers.js';
import { setResponseHeader } from '../response-header.js';

export const TOKEN_COOKIE = 'callfs_ct';
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The token a request carries, from the header or the cookie. */
export function consistencyToken(c: Context<HonoEnv>): string | undefined {
  const header = c.req.header(H.consistencyToken);
  if (header !== undefined && header !== '') return header;
  const cookies = c.req.header('cookie');
  if (cookies === undefined) return undefined;
  for (const part of cookies.split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === TOKEN_COOKIE) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

export const readYourWrites: MiddlewareHandler<HonoEnv> = async (c, next) => {
  const consistency = c.get('services').consistency;
  if (consistency === null) return next();
  const method = c.req.method;
  if (WRITES.has(method)) {
    await next();
    const status = c.get('sentStatus') ?? c.res.status;
    // A forwarded write already carries the holder's token; a failed one needs none.
    if (status >= 400 || c.env.outgoing?.headersSent === true || c.res.headers.has(H.consistencyToken)) return;
    const token = c.get('writeToken') ?? (await consistency.tokenAfterWrite().catch(() => null));
    if (token === null) return;
    setResponseHeader(c, H.consistencyToken, token);
    setResponseHeader(c, 'Set-Cookie', `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Lax`);
    return;
  }
  const decision = await consistency.decide(consistencyToken(c));
  setResponseHeader(c, H.readSource, decision.source);
  setResponseHeader(c, H.replicaLag, String(decision.lagMs));
  setResponseHeader(c, H.consistencyWait, String(decision.waitedMs));
  // The token is newer than this region's replica and the primary is out of reach (a home
  // outage): the write exists somewhere this node cannot see. Answering from the replica would
  // be a stale 404 or old bytes; say so instead, and let the client retry.
  if (decision.replicaBehind === true && c.get('services').fencing?.writeBlocker() === 'unreachable') {
    throw new AppError('REPLICA_BEHIND', `this region's replica has not reached the consistency token yet (waited ${decision.waitedMs} ms) and the home region cannot be reached; retry shortly`, { retryAfterSec: 2 });
  }
  await consistency.run(decision.source, () => next());
};
