/**
 * @module Takes the file path out of a request URL. The URL parser has already removed dot
 * segments; the still-encoded remainder after the route prefix goes to `parseUrlPath`, which
 * decodes each segment exactly once (CallFS reference §3.1, recommendation for Hono).
 */
import type { Context } from 'hono';
import { parseUrlPath, type ParsedPath } from '../domain/path.js';
import type { HonoEnv } from './env.js';

/** Raw (percent-encoded) pathname of the request, without query or fragment. */
export function rawPathname(c: Context<HonoEnv>): string {
  const url = c.req.url;
  const start = url.indexOf('/', url.indexOf('//') + 2);
  if (start < 0) return '/';
  let end = url.length;
  const query = url.indexOf('?', start);
  if (query >= 0) end = query;
  const hash = url.indexOf('#', start);
  if (hash >= 0 && hash < end) end = hash;
  return url.slice(start, end);
}

/** Paths parsed lately, by their encoded form: parsing is pure, and hot paths are asked for again and again. */
const parsed = new Map<string, ParsedPath>();
const MAX_PARSED = 1024;

/** Parses the path after `prefix` (e.g. `/v1/files`); `/v1/files` and `/v1/files/` are the root. */
export function pathAfter(c: Context<HonoEnv>, prefix: string): ParsedPath {
  const pathname = rawPathname(c);
  const rest = pathname.slice(prefix.length);
  const encoded = rest.startsWith('/') ? rest.slice(1) : rest;
  let path = parsed.get(encoded);
  if (path === undefined) {
    // A path that does not parse throws here and is never remembered.
    path = parseUrlPath(encoded);
    if (parsed.size >= MAX_PARSED) parsed.clear();
    parsed.set(encoded, path);
  }
  return path;
}
