/**
 * @module MemoryPeerClient: the PeerClient port for nodes running in one process. A
 * `MemoryPeerNetwork` maps base URLs (`http://node1.memory`) to the fetch handlers of in-process
 * apps (Hono's `app.fetch`); a client sends each peer request as a web Request to the handler
 * its endpoint names, streaming both bodies. A node taken off the network (`disconnect`) is
 * unreachable, as a crashed peer is: PEER_UNAVAILABLE. Contract: test/contract/peer-client.contract.ts.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as NodeWebStream } from 'node:stream/web';
import { AppError } from '../../errors/app-error.js';
import type { PeerClient, PeerRequest, PeerResponse } from '../../ports/peer-client.js';

export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** The in-process "network": which handler answers at which base URL. */
export class MemoryPeerNetwork {
  readonly #handlers = new Map<string, FetchHandler>();

  /** Serves `handler` at `baseUrl` (its origin); replaces what was there. */
  connect(baseUrl: string, handler: FetchHandler): void {
    this.#handlers.set(new URL(baseUrl).origin, handler);
  }

  disconnect(baseUrl: string): void {
    this.#handlers.delete(new URL(baseUrl).origin);
  }

  /** The handler serving `url`'s origin, or undefined when nothing listens there. */
  handlerFor(url: string): FetchHandler | undefined {
    return this.#handlers.get(new URL(url).origin);
  }

  /** Sends `request` to the handler of its origin; a TypeError (as fetch's) when nothing listens there. */
  async fetch(request: Request): Promise<Response> {
    const handler = this.handlerFor(request.url);
    if (handler === undefined) throw new TypeError(`fetch failed: nothing listens at ${new URL(request.url).origin}`);
    return handler(request);
  }
}

export interface MemoryPeerClientOptions {
  readonly network: MemoryPeerNetwork;
  /** Base URL of a peer, looked up on every call so members may come and go. */
  readonly endpointOf: (instanceId: string) => string | undefined;
}

export class MemoryPeerClient implements PeerClient {
  readonly #options: MemoryPeerClientOptions;

  constructor(options: MemoryPeerClientOptions) {
    this.#options = options;
  }

  endpointOf(instanceId: string): string | undefined {
    return this.#options.endpointOf(instanceId)?.replace(/\/+$/, '');
  }

  async request(instanceId: string, request: PeerRequest): Promise<PeerResponse> {
    const endpoint = this.endpointOf(instanceId);
    const unavailable = (cause?: unknown): AppError =>
      new AppError('PEER_UNAVAILABLE', `the node holding this file (${instanceId}) is unavailable`, { details: { instance_id: instanceId }, retryAfterSec: 5, cause });
    if (endpoint === undefined) {
      throw new AppError('PEER_UNAVAILABLE', `instance ${instanceId} is not a known peer of this node`, { details: { instance_id: instanceId }, retryAfterSec: 5 });
    }
    const handler = this.#options.network.handlerFor(endpoint);
    if (handler === undefined) throw unavailable();
    const body = request.body === null ? null : (Readable.toWeb(request.body) as ReadableStream<Uint8Array>);
    const init: RequestInit & { duplex?: 'half' } = { method: request.method, headers: request.headers, body, ...(body === null ? {} : { duplex: 'half' }) };
    if (request.signal !== undefined) init.signal = request.signal;
    const response = await handler(new Request(endpoint + request.target, init));
    const headers: Record<string, string | string[]> = {};
    response.headers.forEach((value, name) => {
      if (name !== 'set-cookie') headers[name] = value;
    });
    const cookies = response.headers.getSetCookie();
    if (cookies.length > 0) headers['set-cookie'] = cookies;
    return {
      status: response.status,
      headers,
      body: response.body === null ? Readable.from([]) : Readable.fromWeb(response.body as NodeWebStream),
    };
  }

  async close(): Promise<void> {}
}
