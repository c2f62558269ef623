/**
 * @module GET and HEAD /v1/files/{path} (CallFS reference §2.3.1–2.3.2): a file's bytes
 * (with Range, ETag and conditional requests, which CallFS lacks) or a directory's children as
 * a JSON array. Hono answers HEAD through the GET route; the body is left out here. HEAD is
 * answered from the shared metadata; a GET of bytes another node holds is forwarded there
 * (services/placement.ts decides).
 * A GET pins one version: every header is computed from the entry whose bytes are streamed.
 */
import type { Context, Hono } from 'hono';
import type { Entry } from '../../../domain/entry.js';
import { entryFingerprint, etagOf } from '../../../domain/entry.js';
import { evaluatePreconditions, resolveRange } from '../../../domain/http-conditions.js';
import { AppError } from '../../../errors/app-error.js';
import { sendStream } from '../../body.js';
import { H } from '../../headers.js';
import { entryHeaders, listingItem } from '../../entry-headers.js';
import type { HonoEnv } from '../../env.js';
import { forwardRequest } from '../../peer-forward.js';
import { requestHeaders } from '../../request-headers.js';
import { pathAfter } from '../../request-path.js';

export const FILES_ROUTE = '/v1/files/*';
const VOUCHED_ENTRY = H.vouchedEntry.toLowerCase();

export function registerFilesGet(app: Hono<HonoEnv>): void {
  app.get('/v1/files', getFile);
  app.get(FILES_ROUTE, getFile);
}

async function getFile(c: Context<HonoEnv>): Promise<Response> {
  c.set('routeTemplate', FILES_ROUTE);
  const { path } = pathAfter(c, '/v1/files');
  const services = c.get('services');
  // A read forwarded by a peer names the entry the peer decided on (signed with the call).
  const vouched = c.get('peer') === undefined ? undefined : requestHeaders(c)[VOUCHED_ENTRY];
  const entry = await services.files.stat(path, vouched);
  const isHead = c.req.method === 'HEAD';
  if (entry.type === 'directory') {
    const headers = entryHeaders(entry);
    if (isHead) return sendStream(c, 200, headers, null);
    const children = await services.directories.list(entry, false, 0);
    for (const [name, value] of Object.entries(headers)) c.header(name, value);
    return c.json(children.map(listingItem));
  }
  return sendFile(c, entry, isHead);
}

async function sendFile(c: Context<HonoEnv>, entry: Entry, isHead: boolean): Promise<Response> {
  const headers = entryHeaders(entry);
  const asked = requestHeaders(c);
  const etag = headers['ETag'] ?? etagOf(entry);
  const outcome = evaluatePreconditions(
    {
      ifMatch: asked['if-match'],
      ifNoneMatch: asked['if-none-match'],
      ifModifiedSince: asked['if-modified-since'],
      ifUnmodifiedSince: asked['if-unmodified-since'],
    },
    { etag, lastModified: entry.mtime },
    true,
  );
  if (outcome === 'failed') throw new AppError('PRECONDITION_FAILED', 'precondition failed');
  if (outcome === 'not-modified') {
    delete headers['Content-Type'];
    return sendStream(c, 304, headers, null);
  }
  const ifRange = asked['if-range'];
  const rangeHeader = ifRange === undefined || ifRange === etag ? asked['range'] : undefined;
  const range = resolveRange(rangeHeader, entry.size);
  if (range.kind === 'unsatisfiable') {
    c.header('Content-Range', `bytes */${entry.size}`);
    throw new AppError('RANGE_NOT_SATISFIABLE', `range not satisfiable for a ${entry.size}-byte file`);
  }
  if (isHead) {
    headers['Content-Length'] = String(entry.size);
    return sendStream(c, 200, headers, null);
  }
  const services = c.get('services');
  const placed = await services.placement.read(entry);
  if (placed.serve === 'forward') {
    // The holder may serve its cached entry at once when it is the one decided on here.
    c.set('vouchedEntry', entryFingerprint(entry));
    return forwardRequest(c, placed);
  }
  // No abort signal needed: sendStream destroys the stream when the client goes away.
  const read = await services.files.open(entry, range.kind === 'partial' ? range.range : undefined, undefined, placed.location);
  if (read.entry !== entry) {
    // The version `entry` named was replaced and released before it could be opened: answer for
    // the version that was opened, so ETag, size, Range and bytes all describe one version.
    read.stream.destroy();
    return sendFile(c, read.entry, isHead);
  }
  if (read.readThroughRegion !== undefined) {
    headers[H.readThrough] = read.readThroughRegion;
    // The bytes crossed regions (from the origin bucket): one hop, like a forward to another region.
    headers[H.regionHops] = '1';
  }
  if (range.kind === 'partial') {
    const { start, end } = range.range;
    headers['Content-Range'] = `bytes ${start}-${end}/${read.size}`;
    headers['Content-Length'] = String(end - start + 1);
    return sendStream(c, 206, headers, read.stream);
  }
  headers['Content-Length'] = String(read.size);
  return sendStream(c, 200, headers, read.stream);
}
