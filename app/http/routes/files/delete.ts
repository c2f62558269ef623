/** @module DELETE /v1/files/{path}: a file or an empty directory (CallFS reference §2.3.6). */
import type { Context, Hono } from 'hono';
import { clientSignal } from '../../body.js';
import type { HonoEnv } from '../../env.js';
import { orForward } from '../../peer-forward.js';
import { pathAfter } from '../../request-path.js';
import { FILES_ROUTE } from './get.js';

export function registerFilesDelete(app: Hono<HonoEnv>): void {
  const remove = async (c: Context<HonoEnv>): Promise<Response> => {
    c.set('routeTemplate', FILES_ROUTE);
    const { path } = pathAfter(c, '/v1/files');
    return orForward(c, async () => {
      await c.get('services').files.delete(c.get('userId'), path, clientSignal(c));
      return c.body(null, 204);
    });
  };
  app.delete('/v1/files', remove);
  app.delete(FILES_ROUTE, remove);
}
