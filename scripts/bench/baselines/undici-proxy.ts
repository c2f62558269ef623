/**
 * Baseline: one proxy hop and nothing else. A minimal Hono app on @hono/node-server checks the
 * bearer token and forwards every /v1/files/* request to ORIGIN with undici over a keep-alive
 * Agent, bodies streamed both ways as Node streams (the raw `incoming`/`outgoing` of
 * @hono/node-server; Hono's web-stream bridge would cost more than the hop itself). It is what
 * `npm run bench` holds our peer hop (client → node A → node B) against.
 * Env: PORT and ORIGIN (required, e.g. http://127.0.0.1:18081), API_KEY (benchkey),
 *      HOST (127.0.0.1), PROXY_CONNECTIONS (sockets to the origin, 128).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { serve } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono } from 'hono';
import { Agent, request } from 'undici';

const port = Number(process.env['PORT']);
const host = process.env['HOST'] ?? '127.0.0.1';
const origin = process.env['ORIGIN'] ?? '';
const expected = `Bearer ${process.env['API_KEY'] ?? 'benchkey'}`;

if (!Number.isInteger(port) || port <= 0 || !/^http:\/\//.test(origin)) {
  console.error('undici-proxy baseline: PORT and ORIGIN (http://host:port) are required');
  process.exit(2);
}

const agent = new Agent({
  connections: Number(process.env['PROXY_CONNECTIONS'] ?? '128'),
  pipelining: 1,
  keepAliveTimeout: 60_000,
  keepAliveMaxTimeout: 600_000,
  headersTimeout: 60_000,
  bodyTimeout: 60_000,
});
/** Request headers handed on to the origin, and response headers handed back. */
const UP = ['authorization', 'content-type', 'content-length'] as const;
const DOWN = ['content-type', 'content-length', 'etag', 'last-modified'] as const;

const app = new Hono<{ Bindings: { incoming: IncomingMessage; outgoing: ServerResponse } }>();
app.all('/v1/files/*', async (c) => {
  if (c.req.header('authorization') !== expected) return c.text('unauthorized', 401);
  const incoming = c.env.incoming;
  const method = c.req.method;
  const headers: Record<string, string> = {};
  for (const name of UP) {
    const value = incoming.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  const withBody = method === 'PUT' || method === 'POST';
  let upstream;
  try {
    upstream = await request(origin + (incoming.url ?? '/'), { method: method as 'GET', headers, body: withBody ? incoming : null, dispatcher: agent });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return c.text(`bad gateway: ${typeof code === 'string' ? code : 'upstream failed'}`, 502);
  }
  const answer: Record<string, string> = {};
  for (const name of DOWN) {
    const value = upstream.headers[name];
    if (value !== undefined) answer[name] = String(value);
  }
  if (method === 'HEAD' || upstream.statusCode === 204 || upstream.statusCode === 304) {
    await upstream.body.dump();
    return c.body(null, upstream.statusCode as 204, answer);
  }
  const outgoing = c.env.outgoing;
  outgoing.writeHead(upstream.statusCode, answer);
  upstream.body.on('error', () => outgoing.destroy());
  // A client that leaves mid-body stops the read from the origin.
  outgoing.on('close', () => upstream.body.destroy());
  upstream.body.pipe(outgoing);
  return RESPONSE_ALREADY_SENT;
});

serve({ fetch: app.fetch, port, hostname: host }, (info) => console.log(`undici-proxy baseline on http://${host}:${info.port} → ${origin}`));
