/**
 * @module `/v1/internal/shards/<name>/<index>` (CallFS reference §2.9): PUT stores a shard
 * (201), GET returns it (200, 404 when missing), DELETE removes it (204, also when missing).
 * The name is any valid path (several segments, any case), the last segment the index.
 * Internal callers only (signed peers or the internal secret as bearer).
 */
import type { Context, Hono } from 'hono';
import { AppError } from '../../errors/app-error.js';
import { parseUrlPath } from '../../domain/path.js';
import { ShardService, type ShardAddress } from '../../services/shards.js';
import { declaredLength, requestBody, sendStream, clientSignal } from '../body.js';
import type { HonoEnv } from '../env.js';
import { rawPathname } from '../request-path.js';

const PREFIX = '/v1/internal/shards/';
export const SHARDS_ROUTE = '/v1/internal/shards/*';

/** The shard a request addresses: everything after the prefix but the last segment is the name. */
function shardOf(c: Context<HonoEnv>): ShardAddress {
  c.set('routeTemplate', SHARDS_ROUTE);
  const rest = rawPathname(c).slice(PREFIX.length);
  const slash = rest.lastIndexOf('/');
  if (slash <= 0) throw new AppError('INVALID_PATH', 'a shard is addressed as <name>/<index>');
  return ShardService.address(parseUrlPath(rest.slice(0, slash)).path, rest.slice(slash + 1));
}

export function registerInternalShards(app: Hono<HonoEnv>): void {
  app.put(SHARDS_ROUTE, async (c) => {
    await c.get('services').shards.put(shardOf(c), requestBody(c), declaredLength(c), clientSignal(c));
    return c.body(null, 201);
  });
  app.get(SHARDS_ROUTE, async (c) => {
    const shard = await c.get('services').shards.get(shardOf(c));
    const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(shard.size) };
    if (c.req.method === 'HEAD') {
      shard.stream.destroy();
      return sendStream(c, 200, headers, null);
    }
    return sendStream(c, 200, headers, shard.stream);
  });
  app.delete(SHARDS_ROUTE, async (c) => {
    await c.get('services').shards.delete(shardOf(c));
    return c.body(null, 204);
  });
}
