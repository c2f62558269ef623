/**
 * @module DELETE /v1/files/{path}: a file or an empty directory (CallFS reference §2.3.6); a file
 * another node holds is deleted there (services/placement.ts decides).
 */
import type { Context, Hono } from 'hono';
import { clientSignal } from '../../body.js';
import type { HonoEnv } from '../../env.js';
import { forwardRequest } from '../../peer-forward.js';
import { pathAfter } from '../../request-path.js';
import { FILES_ROUTE } from './get.js';

export function registerFilesDelete(app: Hono<HonoEnv>): void {
  const remove = async (c: Context<HonoEnv>): Promise<Response> => {
    c.set('routeTemplate', FILES_ROUTE);
    const { path } = pathAfter(c, '/v1/files');
    const services = c.get('services');
    const placed = await services.placement.remove(c.get('userId'), path);
    if (placed.serve === 'forward') return forwardRequest(c, placed);
    await services.files.delete(placed, clientSignal(c));
    return c.body(null, 204);
  };
  app.delete('/v1/files', remove);
  app.delete(FILES_ROUTE, remove);
}
