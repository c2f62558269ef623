/** @module GET /metrics: Prometheus text exposition (authenticated on the main listener). */
import type { Hono } from 'hono';
import type { HonoEnv } from '../env.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function registerMetrics(app: Hono<HonoEnv>): void {
  app.get('/metrics', (c) => {
    c.set('routeTemplate', '/metrics');
    return c.body(c.get('services').metrics.render(), 200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE });
  });
}
