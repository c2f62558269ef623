/**
 * @module GET /v1/cluster (authenticated): the members this node knows of (static peers and
 * registered nodes), their region, version, heartbeat age and health as this node sees it.
 * Members' internal URLs (where nodes reach each other) are shown only to callers allowed to
 * administer the cluster (`auth.admin_api_keys`); other keys get the same report without them.
 */
import type { Hono } from 'hono';
import type { HonoEnv } from '../env.js';

export function registerCluster(app: Hono<HonoEnv>): void {
  app.get('/v1/cluster', async (c) => {
    c.set('routeTemplate', '/v1/cluster');
    c.header('Cache-Control', 'no-store');
    const services = c.get('services');
    const report = await services.cluster.report();
    if (services.authenticator.isAdmin(c.get('userId'))) return c.json(report);
    return c.json({ ...report, members: report.members.map(({ internal_url: _hidden, ...member }) => member) });
  });
}
