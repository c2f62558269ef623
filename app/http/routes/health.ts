/**
 * @module GET /health (static, as CallFS: no dependency checks) and GET /ready (each
 * dependency checked; 503 when one fails) — the latter is what load balancers and DNS health
 * checks should use to take a broken node out of rotation.
 *
 * CallFS's `/health` body is exactly `{"status":"ok"}`, so the node's view of the fencing epoch
 * is added only when asked for: `GET /health?details` → `{"status":"ok","epoch":N,"lock_home":…}`.
 * `/ready` always carries both fields.
 */
import type { Hono } from 'hono';
import type { HonoEnv } from '../env.js';
import type { AppServices } from '../services.js';

/** `epoch`: last read from the metadata primary (null before the first read); `lock_home`: the Redis the locks come from. */
function fencingFields(services: AppServices): { epoch: number | null; lock_home: string | null } {
  const view = services.fencing?.view();
  return { epoch: view?.epoch ?? null, lock_home: view?.lockHome ?? null };
}

export function registerHealth(app: Hono<HonoEnv>): void {
  app.get('/health', (c) => {
    c.set('routeTemplate', '/health');
    if (c.req.query('details') === undefined) return c.body('{"status":"ok"}', 200, { 'Content-Type': 'application/json' });
    return c.json({ status: 'ok', ...fencingFields(c.get('services')) });
  });
  app.get('/ready', async (c) => {
    c.set('routeTemplate', '/ready');
    const services = c.get('services');
    const report = await services.health.readiness();
    return c.json({ status: report.ready ? 'ok' : 'unavailable', checks: report.checks, ...fencingFields(services) }, report.ready ? 200 : 503);
  });
}
