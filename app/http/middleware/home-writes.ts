/**
 * @module Writes during a home-region outage: when the node's last look at the metadata primary
 * failed (EpochWatch), a write cannot commit, and trying would hold the client for the
 * database's timeouts and may store bytes no row will ever name. Such writes are answered at
 * once with 503 WRITES_UNAVAILABLE and `Retry-After`, before anything is stored; the node keeps
 * looking at the primary in the background and lets writes through again as soon as it (or a
 * promoted successor) answers. Reads are not affected: they come from the region's replica.
 */
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../../errors/app-error.js';
import type { HonoEnv } from '../env.js';

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Seconds a refused writer is asked to wait: about two looks at the primary. */
const RETRY_AFTER_SEC = 2;

export const refuseWritesWithoutHome: MiddlewareHandler<HonoEnv> = async (c, next) => {
  if (!WRITES.has(c.req.method)) return next();
  if (c.get('services').fencing?.writeBlocker() === 'unreachable') {
    throw new AppError('WRITES_UNAVAILABLE', 'the home region (metadata primary) cannot be reached from this region; writes resume when it returns or another region is promoted; reads keep working', {
      retryAfterSec: RETRY_AFTER_SEC,
    });
  }
  return next();
};
