/**
 * @module GET /health (static, as CallFS: no dependency checks) and GET /ready (each
 * dependency checked; 503 when one fails) — the latter is what load balancers and DNS health
 * checks should use to take a broken node out of rotation.
 */
import type { Hono } from 'hono';
import type { HonoEnv } from '../env.js';

export function registerHealth(app: Hono<HonoEnv>): void {
  app.get('/health', (c) => {
    c.set('routeTemplate', '/health');
    return c.body('{"status":"ok"}', 200, { 'Content-Type': 'application/json' });
  });
  app.get('/ready', async (c) => {
    c.set('routeTemplate', '/ready');
    const report = await c.get('services').health.readiness();
    return c.json({ status: report.ready ? 'ok' : 'unavailable', checks: report.checks }, report.ready ? 200 : 503);
  });
}
