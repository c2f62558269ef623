/**
 * @module POST /v1/internal/moves?from=…&to=…: another node moved a directory whose subtree has
 * files held here, and asks this node to move its bytes along. Signed peer requests only.
 */
import type { Hono } from 'hono';
import { parsePath } from '../../domain/path.js';
import { AppError } from '../../errors/app-error.js';
import { MOVE_TARGET } from '../../services/peer-bytes.js';
import type { HonoEnv } from '../env.js';

export function registerInternalMoves(app: Hono<HonoEnv>): void {
  app.post(MOVE_TARGET, async (c) => {
    c.set('routeTemplate', MOVE_TARGET);
    if (c.get('peerFrom') === undefined) throw new AppError('PERMISSION_DENIED', 'only cluster peers may move held bytes');
    const from = parsePath(c.req.query('from') ?? '').path;
    const to = parsePath(c.req.query('to') ?? '').path;
    if (from === '/' || to === '/') throw new AppError('BAD_REQUEST', 'the root cannot be moved');
    await c.get('services').moves.moveHeldBytes(from, to);
    return c.body(null, 204);
  });
}
