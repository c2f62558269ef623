/**
 * @module Request and response bodies as Node streams. Under @hono/node-server the raw Node
 * request and response are used directly (Hono's web-stream bridge costs more than half the
 * throughput here, see docs/benchmarks.md, "The rig"); in-process `app.request()` calls fall back to
 * the web streams. Nothing is ever buffered whole.
 */
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeWebStream } from 'node:stream/web';
import type { Context } from 'hono';
import type { HonoEnv } from './env.js';
import { isRecyclingReadable, type RecyclingReadable } from '../ports/blob-store.js';

/** Node streams made from in-process requests' web bodies: one per request, as `incoming` is. */
const webBodies = new WeakMap<Request, Readable>();

/**
 * The request body as a Node stream (empty stream when there is none). The body of a signed
 * peer call comes without its trailing MAC and fails instead of ending when the MAC is wrong.
 * Every call for one request returns the same stream, so a handler that hands the request on (a
 * forward to the holder) gets the body it has not read, whichever server runs the app.
 */
export function requestBody(c: Context<HonoEnv>): Readable {
  const opened = c.get('openedBody');
  if (opened !== undefined) return opened;
  const raw = rawBody(c);
  const peer = c.get('peer');
  const body = peer === undefined ? raw : c.get('services').peers.verifiedBody(raw, peer);
  c.set('openedBody', body);
  return body;
}

function rawBody(c: Context<HonoEnv>): Readable {
  const incoming = c.env.incoming;
  if (incoming !== undefined) return incoming;
  const raw = c.req.raw;
  let stream = webBodies.get(raw);
  if (stream === undefined) {
    stream = raw.body === null ? Readable.from([]) : Readable.fromWeb(raw.body as NodeWebStream);
    webBodies.set(raw, stream);
  }
  return stream;
}

/** Declared Content-Length (a peer call's signed body length), or undefined when absent or chunked. */
export function declaredLength(c: Context<HonoEnv>): number | undefined {
  const peer = c.get('peer');
  if (peer !== undefined) return peer.bodyLength;
  const raw = c.req.header('content-length');
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}

/** Aborts when the client goes away before the response is complete. */
export function clientSignal(c: Context<HonoEnv>): AbortSignal | undefined {
  const outgoing = c.env.outgoing;
  if (outgoing === undefined) return c.req.raw.signal;
  const controller = new AbortController();
  outgoing.once('close', () => {
    if (!outgoing.writableFinished) controller.abort(Object.assign(new Error('client closed the connection'), { code: 'ECONNRESET' }));
  });
  return controller.signal;
}

/**
 * Sends `status`, the headers middleware put on the Node response plus `headers`, and `stream`
 * (or no body). Headers set with `c.header()` are NOT sent on this path: pass them in `headers`.
 * Returns the value the route handler must return.
 */
export function sendStream(c: Context<HonoEnv>, status: number, headers: Record<string, string>, stream: Readable | null): Response {
  const outgoing = c.env.outgoing;
  c.set('sentStatus', status);
  if (outgoing === undefined) {
    for (const [name, value] of Object.entries(headers)) c.header(name, value);
    if (stream === null) return c.body(null, status as 200);
    return c.body(Readable.toWeb(stream) as ReadableStream<Uint8Array>, status as 200);
  }
  // Headers set by middleware are already on `outgoing` (setHeader); writeHead merges them.
  if (outgoing.destroyed) {
    // The client is already gone (e.g. it left while a peer was answering): nobody reads this.
    // Destroying a peer's answer emits an abort error, which must not go unhandled.
    stream?.on('error', () => undefined).destroy();
    return alreadySent();
  }
  outgoing.writeHead(status, headers);
  if (stream === null) {
    outgoing.end();
  } else {
    stream.on('error', () => outgoing.destroy());
    outgoing.on('close', () => stream.destroy());
    if (isRecyclingReadable(stream)) sendRecycling(stream, outgoing);
    else stream.pipe(outgoing);
  }
  return alreadySent();
}

/**
 * `stream.pipe(outgoing)` for a stream that takes its chunks back: each chunk returns to it once
 * the socket has written it (the write's callback, without error), so a large file is sent
 * through a few reused buffers. Backpressure as pipe() applies it: pause on a full socket,
 * resume on 'drain'.
 */
function sendRecycling(stream: RecyclingReadable, outgoing: ServerResponse): void {
  let waiting = false;
  const resume = (): void => {
    waiting = false;
    stream.resume();
  };
  stream.on('data', (chunk: Buffer) => {
    const more = outgoing.write(chunk, (error) => {
      if (error === null || error === undefined) stream.recycle(chunk);
    });
    if (!more && !waiting) {
      waiting = true;
      stream.pause();
      outgoing.once('drain', resume);
    }
  });
  stream.once('end', () => outgoing.end());
}

/**
 * The marker telling @hono/node-server that the response was written directly. Reading `.body`
 * moves node-server's lightweight Response off its fast path, which (in 2.1.9) ignores the
 * marker and would write the head a second time. One immutable marker serves every request:
 * node-server only reads its headers, and Hono copies a finalized response before changing it.
 */
let sentMarker: Response | undefined;
function alreadySent(): Response {
  if (sentMarker === undefined) {
    sentMarker = new Response(null, { headers: { 'x-hono-already-sent': 'true' } });
    void sentMarker.body;
  }
  return sentMarker;
}
