/**
 * @module GET /health (static, as CallFS: no dependency checks), GET /ready (every dependency
 * checked; 503 when one fails, as CallFS) and the readiness per role: GET /ready/read (can this
 * node serve reads: its bytes and its region's metadata replica) and GET /ready/write (can it
 * accept writes: a writable, unfenced primary and the lock home). DNS health checks use
 * `/ready/read`, so a home-region outage costs writes, not the other regions' place in DNS.
 *
 * CallFS's `/health` body is exactly `{"status":"ok"}`, so the node's view of the fencing epoch
 * is added only when asked for: `GET /health?details` → `{"status":"ok","epoch":N,"lock_home":…}`.
 * Every `/ready` answer carries both fields.
 */
import type { Context, Hono } from 'hono';
import type { HonoEnv } from '../env.js';
import type { AppServices } from '../services.js';
import type { ReadinessRole } from '../../services/health.js';
import { PEER_HEADERS } from '../../domain/peer-signature.js';

/** `epoch`: last read from the metadata primary (null before the first read); `lock_home`: the Redis the locks come from. */
function fencingFields(services: AppServices): { epoch: number | null; lock_home: string | null } {
  const view = services.fencing?.view();
  return { epoch: view?.epoch ?? null, lock_home: view?.lockHome ?? null };
}

async function answerReadiness(c: Context<HonoEnv>, role: ReadinessRole, template: string): Promise<Response> {
  c.set('routeTemplate', template);
  const services = c.get('services');
  const report = await services.health.readiness(role);
  const body = { status: report.ready ? 'ok' : 'unavailable', ...(role === 'all' ? {} : { role }), checks: report.checks, ...fencingFields(services) };
  return c.json(body, report.ready ? 200 : 503);
}

export function registerHealth(app: Hono<HonoEnv>): void {
  app.get('/health', (c) => {
    c.set('routeTemplate', '/health');
    // Peers' health probes learn this process's incarnation here (signed calls name it; not a secret).
    const incarnation = c.get('services').peers.incarnation;
    if (c.req.query('details') === undefined) return c.body('{"status":"ok"}', 200, { 'Content-Type': 'application/json', [PEER_HEADERS.incarnation]: incarnation });
    c.header(PEER_HEADERS.incarnation, incarnation);
    return c.json({ status: 'ok', ...fencingFields(c.get('services')) });
  });
  app.get('/ready', (c) => answerReadiness(c, 'all', '/ready'));
  app.get('/ready/read', (c) => answerReadiness(c, 'read', '/ready/read'));
  app.get('/ready/write', (c) => answerReadiness(c, 'write', '/ready/write'));
}
