/**
 * @module GET /v1/admin/status: the cluster's status as its metadata database tells it (members,
 * database servers and lag, fencing epoch, replication backlog) for `npm run admin`. Only keys
 * listed in `auth.admin_api_keys` may read it; others get 403 PERMISSION_DENIED.
 */
import type { Hono } from 'hono';
import { AppError } from '../../errors/app-error.js';
import type { HonoEnv } from '../env.js';

export function registerAdmin(app: Hono<HonoEnv>): void {
  app.get('/v1/admin/status', async (c) => {
    c.set('routeTemplate', '/v1/admin/status');
    const services = c.get('services');
    if (!services.authenticator.isAdmin(c.get('userId'))) throw new AppError('PERMISSION_DENIED', 'administering the cluster needs a key listed in auth.admin_api_keys');
    if (services.clusterStatus === null) throw new AppError('METADATA_UNAVAILABLE', 'this node has no cluster status source');
    c.header('Cache-Control', 'no-store');
    return c.json(await services.clusterStatus.read());
  });
}
