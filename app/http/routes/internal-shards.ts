/**
 * @module `/v1/internal/shards/<hash prefix>/<index>` (CallFS reference §2.9): PUT stores a shard
 * (201), GET returns it (200, 404 when missing), DELETE removes it (204, also when missing).
 * Internal callers only (signed peers or the internal secret as bearer).
 */
import type { Hono } from 'hono';
import { declaredLength, requestBody, sendStream, clientSignal } from '../body.js';
import type { HonoEnv } from '../env.js';

export const SHARDS_ROUTE = '/v1/internal/shards/:prefix/:index';

export function registerInternalShards(app: Hono<HonoEnv>): void {
  app.put(SHARDS_ROUTE, async (c) => {
    c.set('routeTemplate', SHARDS_ROUTE);
    await c.get('services').shards.put(c.req.param('prefix'), c.req.param('index'), requestBody(c), declaredLength(c), clientSignal(c));
    return c.body(null, 201);
  });
  app.get(SHARDS_ROUTE, async (c) => {
    c.set('routeTemplate', SHARDS_ROUTE);
    const shard = await c.get('services').shards.get(c.req.param('prefix'), c.req.param('index'));
    const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(shard.size) };
    if (c.req.method === 'HEAD') {
      shard.stream.destroy();
      return sendStream(c, 200, headers, null);
    }
    return sendStream(c, 200, headers, shard.stream);
  });
  app.delete(SHARDS_ROUTE, async (c) => {
    c.set('routeTemplate', SHARDS_ROUTE);
    await c.get('services').shards.delete(c.req.param('prefix'), c.req.param('index'));
    return c.body(null, 204);
  });
}
