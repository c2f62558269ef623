/**
 * @module GET /v1/cluster (authenticated): the members this node knows of (static peers and
 * registered nodes), their region, version, heartbeat age and health as this node sees it.
 */
import type { Hono } from 'hono';
import type { HonoEnv } from '../env.js';

export function registerCluster(app: Hono<HonoEnv>): void {
  app.get('/v1/cluster', async (c) => {
    c.set('routeTemplate', '/v1/cluster');
    c.header('Cache-Control', 'no-store');
    return c.json(await c.get('services').cluster.report());
  });
}
