/**
 * @module Carrying out a `forward` answer of services/placement.ts over HTTP. Every request goes
 * through the signed peer client (services/signed-peer-client.ts), which alone signs, counts hops
 * and refuses loops; this module only says what is sent and how the answer comes back:
 * - `forwardRequest`: the untouched client request (method, path and query, body stream, range
 *   and conditional headers, consistency token, request id and trace), carrying the caller's
 *   identity so the holder applies the caller's own permissions. The holder's answer streams
 *   back unchanged apart from hop-by-hop headers.
 * - `readFromHolder` / `writeToHolder`: calls built from scratch for transfers that are not an
 *   HTTP request of the same shape (link downloads, WebSocket transfers).
 */
import type { Readable } from 'node:stream';
import type { Context } from 'hono';
import { PEER_HEADERS } from '../domain/peer-signature.js';
import { AppError, heldElsewhere } from '../errors/app-error.js';
import type { PeerResponse } from '../ports/peer-client.js';
import type { Forward } from '../services/placement.js';
import { clientSignal, declaredLength, requestBody, sendStream } from './body.js';
import type { HonoEnv } from './env.js';
import type { AppServices } from './services.js';
import { rawPathname } from './request-path.js';
import { consistencyToken } from './middleware/consistency.js';
import { H } from './headers.js';

const FORWARDED_REQUEST_HEADERS = ['x-callfs-replication', 'content-type', 'range', 'if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'accept'];
const VOUCHED_ENTRY = H.vouchedEntry.toLowerCase();
// The holder's incarnation was for this node (the peer client learnt it); the client gets this node's answer.
const DROPPED_RESPONSE_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'x-request-id', 'date', PEER_HEADERS.incarnation]);

/**
 * Forwards the current request as it is to the holder and relays the answer. Only requests
 * with a body carry the client's abort signal: a client leaving mid-upload fails the peer call,
 * and the signal tells the peer health check that the client, not the peer, went away. Bodyless
 * requests skip it (an AbortController per request is a measurable share of a forwarded small
 * GET): their peer call cannot fail because of the client, and if the client left before the
 * answer arrives, `sendStream` drops the answer's body.
 */
export async function forwardRequest(c: Context<HonoEnv>, to: Forward): Promise<Response> {
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = c.req.header(name);
    if (value !== undefined) headers[name] = value;
  }
  // The holder reads its own replica: it must honour the caller's consistency token too.
  const token = consistencyToken(c);
  if (token !== undefined) headers['x-callfs-consistency-token'] = token;
  const length = declaredLength(c);
  if (length !== undefined) headers['content-length'] = String(length);
  // One request id and trace across the hop: the holder logs and answers with the same ones.
  headers['x-request-id'] = c.get('requestId');
  const traceparent = c.get('traceparent');
  if (traceparent !== undefined) headers['traceparent'] = traceparent;
  const vouched = c.get('vouchedEntry');
  if (vouched !== undefined) headers[VOUCHED_ENTRY] = vouched;
  const url = c.req.url;
  const query = url.indexOf('?');
  const method = c.req.method;
  const hasBody = method === 'PUT' || method === 'POST' || method === 'PATCH';
  const services = c.get('services');
  // The client's own path and query (not the canonical target): the holder sees what it sent.
  const response = await services.peers.call(to.instanceId, {
    method,
    target: rawPathname(c) + (query >= 0 ? url.slice(query) : ''),
    caller: c.get('userId'),
    hop: nextHop(c.get('peerHop')),
    headers,
    body: hasBody ? requestBody(c) : null,
    signal: hasBody ? clientSignal(c) : undefined,
  });
  // Hops between regions this answer made: the holder's own, plus this one if it crossed regions.
  const crossed = services.peerRegionOf(to.instanceId) === services.region ? 0 : 1;
  const hops = Number(response.headers[H.regionHops.toLowerCase()] ?? 0) + crossed;
  return relay(c, { ...response, headers: { ...response.headers, [H.regionHops.toLowerCase()]: String(Number.isSafeInteger(hops) ? hops : crossed) } }, method === 'HEAD');
}

/** Streams a holder's answer to the client. */
function relay(c: Context<HonoEnv>, response: PeerResponse, isHead: boolean): Response {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value === undefined || DROPPED_RESPONSE_HEADERS.has(name)) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const bodyless = isHead || response.status === 204 || response.status === 304;
  if (bodyless) response.body.resume();
  return sendStream(c, response.status, headers, bodyless ? null : response.body);
}

export interface HolderTransfer {
  /** Identity whose permissions the holder applies. */
  readonly caller: string;
  /** How often the current request was already forwarded (0 from a client). */
  readonly previousHops?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

/**
 * A file's bytes from its holder (a 200 answer, whose body the caller must consume or destroy).
 * A missing file is FILE_NOT_FOUND; any other answer is PEER_UNAVAILABLE naming the holder.
 */
export async function readFromHolder(services: AppServices, to: Forward, transfer: HolderTransfer): Promise<PeerResponse> {
  const response = await services.peers.call(to.instanceId, { method: 'GET', target: to.target, caller: transfer.caller, hop: nextHop(transfer.previousHops), signal: transfer.signal });
  if (response.status !== 200) {
    response.body.resume();
    throw response.status === 404 ? new AppError('FILE_NOT_FOUND', `file not found: ${to.path}`) : heldElsewhere(to.instanceId, to.path);
  }
  return response;
}

/** Stores `body` as the file's new content on its holder (a PUT); anything but 200/201 is PEER_UNAVAILABLE. */
export async function writeToHolder(services: AppServices, to: Forward, transfer: HolderTransfer, body: Readable): Promise<void> {
  const response = await services.peers.call(to.instanceId, { method: 'PUT', target: to.target, caller: transfer.caller, hop: nextHop(transfer.previousHops), body, signal: transfer.signal });
  response.body.resume();
  if (response.status !== 200 && response.status !== 201) throw new AppError('PEER_UNAVAILABLE', `holder answered ${response.status}`);
}

function nextHop(previousHops: number | undefined): number {
  return (previousHops ?? 0) + 1;
}
