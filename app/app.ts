/**
 * @module createApp: the node's HTTP surface, its middleware and route table, over
 * already-constructed services. Pure: no I/O here or at import time; the composition root
 * (compose.ts) calls it with the services it built.
 */
import { Hono, type Context } from 'hono';
import { AppError } from './errors/app-error.js';
import type { HonoEnv } from './http/env.js';
import { renderError } from './http/errors.js';
import { requireApiKey, requireInternal } from './http/middleware/auth.js';
import { readYourWrites } from './http/middleware/consistency.js';
import { frame } from './http/middleware/frame.js';
import { refuseWritesWithoutHome } from './http/middleware/home-writes.js';
import { rateLimit } from './http/middleware/rate-limit.js';
import { registerAdmin } from './http/routes/admin.js';
import { registerCluster } from './http/routes/cluster.js';
import { registerReplicas } from './http/routes/replicas.js';
import { registerInternalMoves } from './http/routes/internal-moves.js';
import { registerInternalShards } from './http/routes/internal-shards.js';
import { registerDirectoriesList } from './http/routes/directories/list.js';
import { registerFilesDelete } from './http/routes/files/delete.js';
import { registerFilesGet } from './http/routes/files/get.js';
import { registerFilesPatch } from './http/routes/files/patch.js';
import { registerFilesWrite } from './http/routes/files/write.js';
import { registerHealth } from './http/routes/health.js';
import { registerLinksDownload } from './http/routes/links/download.js';
import { registerLinksGenerate } from './http/routes/links/generate.js';
import { registerMetrics } from './http/routes/metrics.js';
import type { AppOptions, AppServices } from './http/services.js';

/** Methods each known route answers; anything else is a 405 with `Allow`. */
const ALLOWED: ReadonlyArray<readonly [string, string]> = [
  ['/v1/files', 'GET, HEAD, POST, PUT, PATCH, DELETE'],
  ['/v1/files/*', 'GET, HEAD, POST, PUT, PATCH, DELETE'],
  ['/v1/directories', 'GET, HEAD'],
  ['/v1/directories/*', 'GET, HEAD'],
  ['/v1/links/generate', 'POST'],
  ['/v1/cluster', 'GET, HEAD'],
  ['/v1/admin/status', 'GET, HEAD'],
  ['/v1/internal/replicas/*', 'PUT'],
  ['/v1/internal/moves', 'POST'],
  ['/v1/internal/shards/*', 'GET, HEAD, PUT, DELETE'],
  ['/download/:token', 'GET, HEAD'],
  ['/health', 'GET, HEAD'],
  ['/ready', 'GET, HEAD'],
  ['/ready/read', 'GET, HEAD'],
  ['/ready/write', 'GET, HEAD'],
  ['/metrics', 'GET, HEAD'],
];

export function createApp(services: AppServices, options: AppOptions): Hono<HonoEnv> {
  const app = new Hono<HonoEnv>();
  app.use('*', frame(services, { tls: options.tls, accessLog: options.accessLog }));
  app.use('/v1/internal/*', requireInternal);
  app.use('/v1/*', requireApiKey);
  app.use('/v1', requireApiKey);
  app.use('/v1/files', refuseWritesWithoutHome);
  app.use('/v1/files/*', refuseWritesWithoutHome);
  app.use('/v1/links/*', refuseWritesWithoutHome);
  app.use('/v1/*', readYourWrites);
  app.use('/metrics', requireApiKey);

  registerHealth(app);
  registerMetrics(app);
  registerFilesGet(app);
  registerFilesWrite(app, options.maxFileBytes);
  registerFilesPatch(app);
  registerFilesDelete(app);
  registerDirectoriesList(app);
  registerCluster(app);
  registerAdmin(app);
  registerReplicas(app);
  registerInternalMoves(app);
  registerInternalShards(app);
  const { rateLimits } = options;
  registerLinksGenerate(app, rateLimit(rateLimits.linkGeneratePerSec, rateLimits.linkGenerateBurst));
  registerLinksDownload(app, rateLimit(rateLimits.downloadPerSec, rateLimits.downloadBurst));

  for (const [path, allow] of ALLOWED) {
    app.all(path, (c: Context<HonoEnv>) => {
      c.header('Allow', allow);
      throw new AppError('METHOD_NOT_ALLOWED', `method ${c.req.method} is not allowed here`);
    });
  }
  app.notFound((c) => renderError(new AppError('ROUTE_NOT_FOUND', 'no such route'), c));
  app.onError(renderError);
  return app;
}
