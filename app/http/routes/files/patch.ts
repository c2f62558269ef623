/**
 * @module PATCH /v1/files/{path}: rename (`name`) or move (`destination`), with `overwrite`
 * (body or `?overwrite=true`) and `create_parents` (CallFS reference §2.3.5).
 * Answers 200 `{"path": "<canonical destination>"}`. A source another node holds is moved
 * there (services/placement.ts decides).
 */
import type { Context, Hono } from 'hono';
import { clientSignal } from '../../body.js';
import type { HonoEnv } from '../../env.js';
import { optionalBoolean, optionalString, readJsonObject } from '../../json-body.js';
import { forwardRequest } from '../../peer-forward.js';
import { pathAfter } from '../../request-path.js';
import { FILES_ROUTE } from './get.js';

/** CallFS's limit for the PATCH body. */
const MAX_PATCH_BODY_BYTES = 1024 * 1024;

export function registerFilesPatch(app: Hono<HonoEnv>): void {
  const patch = async (c: Context<HonoEnv>): Promise<Response> => {
    c.set('routeTemplate', FILES_ROUTE);
    const { path } = pathAfter(c, '/v1/files');
    const services = c.get('services');
    // Decided before the body is read, so a forward carries it untouched.
    const placed = await services.placement.move(path);
    if (placed.serve === 'forward') return forwardRequest(c, placed);
    const body = await readJsonObject(c, MAX_PATCH_BODY_BYTES);
    const destination = await services.moves.move(
      c.get('userId'),
      path,
      {
        name: optionalString(body, 'name'),
        destination: optionalString(body, 'destination'),
        backend: optionalString(body, 'backend'),
        instance: optionalString(body, 'instance'),
        overwrite: optionalBoolean(body, 'overwrite') === true || c.req.query('overwrite') === 'true',
        createParents: optionalBoolean(body, 'create_parents') === true,
      },
      clientSignal(c),
    );
    return c.body(JSON.stringify({ path: destination }) + '\n', 200, { 'Content-Type': 'application/json' });
  };
  app.patch('/v1/files', patch);
  app.patch(FILES_ROUTE, patch);
}
