/**
 * @module GET /download/{token}: redeem a single-use link, no API key (CallFS reference
 * §2.6). HEAD answers the same headers without spending the link. The link is spent before the bytes are read, as in CallFS; unlike CallFS, it is given
 * back when the bytes could not be opened at all for a passing reason (holder down, storage
 * unavailable), so the user can retry.
 */
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { baseName } from '../../../domain/path.js';
import { INTERNAL_PROXY_USER } from '../../../domain/permissions.js';
import { isAppError } from '../../../errors/app-error.js';
import type { Entry } from '../../../domain/entry.js';
import { clientSignal, sendStream } from '../../body.js';
import { readFromHolder } from '../../peer-forward.js';
import type { HonoEnv } from '../../env.js';
import { clientIp } from '../../middleware/rate-limit.js';

const ROUTE = '/download/{token}';

export function registerLinksDownload(app: Hono<HonoEnv>, limiter: MiddlewareHandler<HonoEnv>): void {
  app.get('/download/:token', limiter, async (c) => {
    c.set('routeTemplate', ROUTE);
    const services = c.get('services');
    const token = c.req.param('token');
    if (c.req.method === 'HEAD') return describeLinkedFile(c, await services.links.inspect(token));
    const entry = await services.links.redeem(token, clientIp(c));
    try {
      return await sendLinkedFile(c, entry);
    } catch (error) {
      if (isAppError(error) && error.retryable) await services.links.release(token).catch(() => undefined);
      throw error;
    }
  });
}

/**
 * HEAD: the headers a GET would send, without spending the link (link scanners and previews send
 * HEAD before a user clicks). The size comes from the metadata.
 */
function describeLinkedFile(c: Context<HonoEnv>, entry: Entry): Response {
  return sendStream(c, 200, { ...linkHeaders(entry), 'Content-Length': String(entry.size) }, null);
}

function linkHeaders(entry: Entry): Record<string, string> {
  return {
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': `attachment; filename*=UTF-8''${encodeRFC5987(baseName(entry.path))}`,
  };
}

/** The bytes of a redeemed link's file, from this node or from the node that holds them. */
async function sendLinkedFile(c: Context<HonoEnv>, entry: Entry): Promise<Response> {
  const services = c.get('services');
  const headers = linkHeaders(entry);
  const placed = await services.placement.read(entry);
  if (placed.serve === 'forward') {
    // The holder is asked for the bytes on the link's authority.
    const response = await readFromHolder(services, placed, { caller: INTERNAL_PROXY_USER, previousHops: c.get('peerHop'), signal: clientSignal(c) });
    const length = response.headers['content-length'];
    return sendStream(c, 200, typeof length === 'string' ? { ...headers, 'Content-Length': length } : headers, response.body);
  }
  const read = await services.files.open(entry, undefined, clientSignal(c), placed.location);
  return sendStream(c, 200, { ...headers, 'Content-Length': String(read.size) }, c.req.method === 'HEAD' ? null : read.stream);
}

/** Percent-encodes a file name for `filename*` (RFC 8187 attr-char). */
function encodeRFC5987(name: string): string {
  return encodeURIComponent(name).replace(/['()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}
