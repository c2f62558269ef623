/**
 * @module GET /download/{token}: redeem a single-use link, no API key (CallFS reference
 * §2.6). The link is spent before the bytes are read, as in CallFS.
 */
import type { Hono, MiddlewareHandler } from 'hono';
import { baseName } from '../../../domain/path.js';
import { clientSignal, sendStream } from '../../body.js';
import type { HonoEnv } from '../../env.js';
import { clientIp } from '../../middleware/rate-limit.js';

const ROUTE = '/download/{token}';

export function registerLinksDownload(app: Hono<HonoEnv>, limiter: MiddlewareHandler<HonoEnv>): void {
  app.get('/download/:token', limiter, async (c) => {
    c.set('routeTemplate', ROUTE);
    const services = c.get('services');
    const entry = await services.links.redeem(c.req.param('token'), clientIp(c));
    const read = await services.files.open(entry, undefined, clientSignal(c));
    return sendStream(
      c,
      200,
      {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(read.size),
        'Content-Disposition': `attachment; filename*=UTF-8''${encodeRFC5987(baseName(entry.path))}`,
      },
      c.req.method === 'HEAD' ? null : read.stream,
    );
  });
}

/** Percent-encodes a file name for `filename*` (RFC 8187 attr-char). */
function encodeRFC5987(name: string): string {
  return encodeURIComponent(name).replace(/['()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}
