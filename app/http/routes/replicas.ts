/**
 * @module PUT /v1/internal/replicas/{path}?version=N: a holder node pushes a copy of one of its
 * files. Only signed peer requests made by the replicator are accepted (an API key never is);
 * 204 when the copy is stored and recorded, 412 when the file has moved on meanwhile.
 */
import type { Hono } from 'hono';
import { AppError } from '../../errors/app-error.js';
import { REPLICA_TARGET_PREFIX, REPLICATOR_IDENTITY } from '../../services/replication.js';
import { clientSignal, declaredLength, requestBody } from '../body.js';
import type { HonoEnv } from '../env.js';
import { pathAfter } from '../request-path.js';

export function registerReplicas(app: Hono<HonoEnv>): void {
  app.put(`${REPLICA_TARGET_PREFIX}/*`, async (c) => {
    c.set('routeTemplate', `${REPLICA_TARGET_PREFIX}/*`);
    const from = c.get('peerFrom');
    if (from === undefined || c.get('userId') !== REPLICATOR_IDENTITY) throw new AppError('PERMISSION_DENIED', 'only cluster peers may store replicas');
    const version = Number(c.req.query('version'));
    if (!Number.isSafeInteger(version) || version < 1) throw new AppError('BAD_REQUEST', 'version must be a positive integer');
    const target = pathAfter(c, REPLICA_TARGET_PREFIX);
    await c.get('services').replication.receive(from, target.path, version, requestBody(c), declaredLength(c), clientSignal(c));
    return c.body(null, 204);
  });
}
