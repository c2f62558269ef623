/**
 * @module Per-client-IP token-bucket limiting for the two routes CallFS limits (reference
 * §5.6). The client is the TCP peer address; forwarding headers are ignored, as in CallFS.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { TokenBuckets } from '../../domain/token-bucket.js';
import { AppError } from '../../errors/app-error.js';
import type { HonoEnv } from '../env.js';

export function clientIp(c: Context<HonoEnv>): string | null {
  return c.env.incoming?.socket.remoteAddress ?? null;
}

export function rateLimit(ratePerSec: number, burst: number): MiddlewareHandler<HonoEnv> {
  const buckets = new TokenBuckets({ ratePerSec, burst });
  return async (c, next) => {
    if (!buckets.take(clientIp(c) ?? 'unknown', Date.now())) {
      throw new AppError('RATE_LIMIT_EXCEEDED', 'Rate limit exceeded', { retryAfterSec: Math.max(1, Math.ceil(1 / ratePerSec)) });
    }
    await next();
  };
}
