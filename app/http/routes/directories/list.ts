/**
 * @module GET /v1/directories/{path}?recursive=true&max_depth=N: a listing object
 * `{path,type,recursive,max_depth?,count,items}` (CallFS reference §2.4).
 */
import type { Context, Hono } from 'hono';
import { AppError } from '../../../errors/app-error.js';
import { parseMaxDepth } from '../../../services/directories.js';
import { listingItem } from '../../entry-headers.js';
import type { HonoEnv } from '../../env.js';
import { H } from '../../headers.js';
import { pathAfter } from '../../request-path.js';

const ROUTE = '/v1/directories/*';

export function registerDirectoriesList(app: Hono<HonoEnv>): void {
  const list = async (c: Context<HonoEnv>): Promise<Response> => {
    c.set('routeTemplate', ROUTE);
    const { path } = pathAfter(c, '/v1/directories');
    const services = c.get('services');
    const entry = await services.files.stat(path);
    if (entry.type !== 'directory') throw new AppError('NOT_A_DIRECTORY', `${path} is not a directory`);
    const recursive = c.req.query('recursive') === 'true';
    const maxDepth = parseMaxDepth(c.req.query('max_depth'));
    const items = await services.directories.list(entry, recursive, recursive ? maxDepth : 0);
    const body: Record<string, unknown> = { path, type: 'directory', recursive };
    if (recursive && maxDepth !== 0) body['max_depth'] = maxDepth;
    body['count'] = items.length;
    body['items'] = items.map(listingItem);
    c.header(H.type, 'directory');
    c.header(H.count, String(items.length));
    c.header(H.recursive, String(recursive));
    return c.json(body);
  };
  app.get('/v1/directories', list);
  app.get(ROUTE, list);
}
