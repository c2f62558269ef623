/**
 * @module How entries appear on the wire: the `X-CallFS-*` headers, HTTP validators, and the
 * listing item JSON `{name,path,type,size,mode,owner,mtime}` (CallFS reference §2.3.1).
 */
import { contentTypeFor } from '../domain/content-type.js';
import { etagOf, formatMtime, type Entry } from '../domain/entry.js';
import { H } from './headers.js';

/** Entries from the cache are shared objects: their headers are computed once. */
const computed = new WeakMap<Entry, Readonly<Record<string, string>>>();

/** The headers describing `entry` (a fresh object the caller may extend). */
export function entryHeaders(entry: Entry): Record<string, string> {
  let headers = computed.get(entry);
  if (headers === undefined) {
    headers = buildHeaders(entry);
    computed.set(entry, headers);
  }
  return { ...headers };
}

function buildHeaders(entry: Entry): Record<string, string> {
  const headers: Record<string, string> = {
    [H.type]: entry.type,
    [H.size]: String(entry.type === 'file' ? entry.size : 0),
    [H.mode]: entry.mode,
    [H.owner]: entry.owner,
    [H.mtime]: formatMtime(entry.mtime),
  };
  if (entry.instanceId !== null) headers[H.instanceId] = entry.instanceId;
  if (entry.type === 'file') {
    headers['Content-Type'] = contentTypeFor(entry.name);
    headers['ETag'] = etagOf(entry);
    headers['Last-Modified'] = entry.mtime.toUTCString();
    headers['Accept-Ranges'] = 'bytes';
  } else {
    headers['Content-Type'] = 'application/json';
  }
  return headers;
}

export interface ListingItem {
  readonly name: string;
  readonly path: string;
  readonly type: string;
  readonly size: number;
  readonly mode: string;
  readonly owner: string;
  readonly mtime: string;
}

export function listingItem(entry: Entry): ListingItem {
  return {
    name: entry.name,
    path: entry.path,
    type: entry.type,
    size: entry.type === 'file' ? entry.size : 0,
    mode: entry.mode,
    owner: entry.owner,
    mtime: formatMtime(entry.mtime),
  };
}
