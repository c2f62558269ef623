/**
 * @module POST /v1/links/generate `{"path","expiry_seconds"}` → 201
 * `{"url","token","expires"}` (CallFS reference §2.5). Rate-limited per client IP after auth.
 */
import type { Hono, MiddlewareHandler } from 'hono';
import { AppError } from '../../../errors/app-error.js';
import type { HonoEnv } from '../../env.js';
import { readJsonObject } from '../../json-body.js';

/** CallFS's limit for this body (an oversized body is a 400, as CallFS's test 21 expects). */
const MAX_BODY_BYTES = 4096;
const ROUTE = '/v1/links/generate';

export function registerLinksGenerate(app: Hono<HonoEnv>, limiter: MiddlewareHandler<HonoEnv>): void {
  app.post(ROUTE, limiter, async (c) => {
    c.set('routeTemplate', ROUTE);
    const body = await readJsonObject(c, MAX_BODY_BYTES);
    const path = body['path'];
    if (typeof path !== 'string') throw new AppError('BAD_REQUEST', '"path" is required and must be a string');
    const expiry = body['expiry_seconds'];
    if (typeof expiry !== 'number') throw new AppError('BAD_REQUEST', '"expiry_seconds" is required and must be a number');
    const link = await c.get('services').links.generate(c.get('userId'), path, expiry);
    const payload = { url: link.url, token: link.token, expires: link.expires.toISOString() };
    return c.body(JSON.stringify(payload) + '\n', 201, { 'Content-Type': 'application/json' });
  });
}
