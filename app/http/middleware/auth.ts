/**
 * @module Bearer API-key authentication for `/v1/*` and `/metrics` (CallFS reference §5.2):
 * 401 `AUTHENTICATION_FAILED` before anything else, even for routes that do not exist.
 */
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../../errors/app-error.js';
import type { HonoEnv } from '../env.js';

export const requireApiKey: MiddlewareHandler<HonoEnv> = async (c, next) => {
  const userId = c.get('services').authenticator.authenticate(c.req.header('authorization'));
  if (userId === null) throw new AppError('AUTHENTICATION_FAILED', 'authentication failed');
  c.set('userId', userId);
  await next();
};
