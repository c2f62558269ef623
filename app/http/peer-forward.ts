/**
 * @module Forwarding a request to the node that holds a file. The untouched request (method,
 * path and query, body stream, range and conditional headers) goes to the holder through the
 * signed peer client (services/signed-peer-client.ts), carrying the caller's identity, so the
 * holder applies the caller's own permissions. The holder's answer streams back unchanged apart
 * from hop-by-hop headers. A hop counter refuses loops.
 */
import type { Readable } from 'node:stream';
import type { Context } from 'hono';
import { AppError, HeldElsewhere } from '../errors/app-error.js';
import type { PeerResponse } from '../ports/peer-client.js';
import { clientSignal, declaredLength, requestBody, sendStream } from './body.js';
import type { HonoEnv } from './env.js';
import type { AppServices } from './services.js';
import { rawPathname } from './request-path.js';
import { consistencyToken } from './middleware/consistency.js';
import { H } from './headers.js';

/** A request is forwarded at most this many times. */
export const MAX_PEER_HOPS = 2;

const FORWARDED_REQUEST_HEADERS = ['x-callfs-replication', 'content-type', 'range', 'if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'accept'];
const VOUCHED_ENTRY = H.vouchedEntry.toLowerCase();
const DROPPED_RESPONSE_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'x-request-id', 'date']);

export interface HolderCall {
  readonly method: string;
  readonly target: string;
  readonly caller: string;
  readonly headers?: Record<string, string>;
  readonly body?: Readable | null;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Sends a signed request to `instanceId`; `previousHops` is how often the current request was
 * already forwarded. Throws PEER_UNAVAILABLE / PEER_LOOP.
 */
export async function callHolder(services: AppServices, previousHops: number, instanceId: string, call: HolderCall): Promise<PeerResponse> {
  if (!services.peers.canCall) throw new HeldElsewhere(instanceId, call.target);
  const hop = previousHops + 1;
  if (hop > MAX_PEER_HOPS) throw new AppError('PEER_LOOP', `request forwarded ${hop - 1} times; nodes disagree about who holds it`);
  return services.peers.call(instanceId, { ...call, hop });
}

/** `/v1/files` URL target of a canonical path (each segment encoded once). */
export function filesTarget(path: string): string {
  return '/v1/files' + path.split('/').map(encodeURIComponent).join('/');
}

/**
 * Forwards the current request as it is to `instanceId` and relays the answer. Only requests
 * with a body carry the client's abort signal: a client leaving mid-upload fails the peer call,
 * and the signal tells the peer health check that the client, not the peer, went away. Bodyless
 * requests skip it (an AbortController per request is a measurable share of a forwarded small
 * GET): their peer call cannot fail because of the client, and if the client left before the
 * answer arrives, `sendStream` drops the answer's body.
 */
export async function forwardToHolder(c: Context<HonoEnv>, instanceId: string): Promise<Response> {
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
  const response = await callHolder(c.get('services'), c.get('peerHop') ?? 0, instanceId, {
    method,
    target: rawPathname(c) + (query >= 0 ? url.slice(query) : ''),
    caller: c.get('userId'),
    headers,
    body: hasBody ? requestBody(c) : null,
    signal: hasBody ? clientSignal(c) : undefined,
  });
  const services = c.get('services');
  // Hops between regions this answer made: the holder's own, plus this one if it crossed regions.
  const crossed = services.peerRegionOf(instanceId) === services.region ? 0 : 1;
  const hops = Number(response.headers[H.regionHops.toLowerCase()] ?? 0) + crossed;
  return relay(c, { ...response, headers: { ...response.headers, [H.regionHops.toLowerCase()]: String(Number.isSafeInteger(hops) ? hops : crossed) } }, method === 'HEAD');
}

/** Streams a holder's answer to the client. */
export function relay(c: Context<HonoEnv>, response: PeerResponse, isHead: boolean): Response {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value === undefined || DROPPED_RESPONSE_HEADERS.has(name)) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const bodyless = isHead || response.status === 204 || response.status === 304;
  if (bodyless) response.body.resume();
  return sendStream(c, response.status, headers, bodyless ? null : response.body);
}

/** Runs `handler`; if the file turns out to be held by another node, forwards the request there. */
export async function orForward(c: Context<HonoEnv>, handler: () => Promise<Response>): Promise<Response> {
  try {
    return await handler();
  } catch (error) {
    if (error instanceof HeldElsewhere && c.get('services').peers.canCall) return forwardToHolder(c, error.instanceId);
    throw error;
  }
}
