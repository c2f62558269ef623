/**
 * @module The request's headers as one lower-case record, as cheaply as the server allows. Under
 * @hono/node-server that is Node's own `incoming.headers` object, already parsed, whenever no
 * header name occurs twice: then each value is exactly what `c.req.header(name)` returns. Node
 * keeps only the first of some repeated headers (Content-Type, If-Modified-Since, …) where the
 * Fetch API joins them, so a request with a repeated name (rare) and an in-process request take
 * Hono's record instead, and every reader sees the values handlers see.
 */
import type { Context } from 'hono';
import type { HonoEnv } from './env.js';

export type HeaderRecord = Readonly<Record<string, string | undefined>>;

const records = new WeakMap<object, HeaderRecord>();

export function requestHeaders(c: Context<HonoEnv>): HeaderRecord {
  const incoming = c.env.incoming;
  if (incoming === undefined) return c.req.header();
  let record = records.get(incoming);
  if (record === undefined) {
    const parsed = incoming.headers;
    // `set-cookie` is the only header Node presents as an array; requests do not carry it.
    record = Object.keys(parsed).length * 2 === incoming.rawHeaders.length && parsed['set-cookie'] === undefined ? (parsed as HeaderRecord) : c.req.header();
    records.set(incoming, record);
  }
  return record;
}
